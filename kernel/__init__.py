"""The shared kernel: what the router, the connectors and the command line all stand on.

Settings, errors with reason codes, logging, metrics, and the Kafka and PostgreSQL helpers.
It imports nothing from the services above it.
"""
