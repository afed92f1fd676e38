"""The local stack for development, the demo and the tests: real Kafka and real PostgreSQL.

Both run as child processes of nobody (their own session), with pid files and logs under
the state directory, so `lienthong dev up` is idempotent and `lienthong dev down` stops
whatever an earlier command or test run started.
"""
