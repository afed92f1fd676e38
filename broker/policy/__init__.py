"""The content policy of Article 4: declarative rules over a document's fields and text."""
