"""The fault harness: a seeded schedule of SIGKILLs while documents flow (issue 12, item 3)."""
