"""Every error lienthong raises on purpose, in one tree.

    LienthongError                   reason: ReasonCode, retriable: bool
     ├── ConfigurationError          a setting is missing or malformed
     ├── EnvironmentProblem          the machine lacks what a local service needs
     │    ├── JavaMissing
     │    ├── MavenUnreachable
     │    ├── PostgresMissing
     │    ├── ClamavMissing
 │    ├── ChromiumMissing        the browser the console's browser tests drive
     │    ├── PortInUse
     │    └── StaleDataDir
     ├── ServiceError                a service we started or reached misbehaved
     │    ├── ServiceFailed          a local process died or would not stop
     │    ├── KafkaUnavailable       (retriable) aiokafka errors are mapped here
     │    ├── DatabaseUnavailable    (retriable) asyncpg/OS errors are mapped here
     │    ├── ScannerUnavailable     (retriable) clamd did not answer
     │    ├── WorkersUnavailable     (retriable) the pool of kernel.budget broke
     │    ├── JobFailed              a job in that pool raised: the record's failure
     │    ├── ClaimStoreUnavailable  (retriable) the claim-check store; OSError mapped here
     │    │                          (kernel.claims)
     │    ├── EndpointUnavailable    (retriable) a remote axis endpoint; aiohttp client errors
     │    │                          are mapped here (connectors.vxp.client)
     │    └── MigrationFailed
     ├── AccessDenied                a party is not authenticated, or not allowed that
     └── Rejected                    bad input; the reason code says which rule it broke
          ├── EdxmlError             an edXML packet (lxml errors are mapped here)
          ├── EnvelopeError          an Avro envelope (fastavro errors are mapped here)
          ├── TrustError             a signature or certificate (cryptography errors mapped)
          ├── DirectoryError         a unit code or the unit directory
          ├── Undeliverable          a sender or recipient the directory cannot deliver
          │                          for, found before a number is taken (connectors)
          ├── BindingError           an edXML that contradicts its envelope; a status its
          │                          sender may not send
          ├── OverBudget             content that costs more to check than a worker's budget
          └── PolicyError            a policy file

Third-party exceptions are mapped to this tree at the module that talks to the library
(kernel.kafka, kernel.database, kernel.claims, connectors.vxp.client), so callers catch
ours and read `reason` and `retriable`.

The decoders of what senders write map theirs the same way: schemas.edxml.parser (lxml),
signing.certificates (cryptography, every lazily parsed part read at once), signing.pdf and
broker.policy.attachments (pyhanko), broker.directory.loader (csv, PyYAML). tests/fuzz holds
each to it: a result or one of these, nothing else.
"""

from __future__ import annotations

from kernel.reasons import ReasonCode


class LienthongError(Exception):
    reason: ReasonCode = ReasonCode.SERVICE_FAILED
    retriable: bool = False

    def __init__(
        self, message: str, *, hint: str | None = None, reason: ReasonCode | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if reason is not None:
            self.reason = reason

    def __str__(self) -> str:
        text = f"[{self.reason}] {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class ConfigurationError(LienthongError):
    reason = ReasonCode.CONFIG_INVALID


class EnvironmentProblem(LienthongError):
    """The machine is missing something; fixing it is the operator's job, not a retry's."""


class JavaMissing(EnvironmentProblem):
    reason = ReasonCode.JAVA_MISSING


class MavenUnreachable(EnvironmentProblem):
    reason = ReasonCode.MAVEN_UNREACHABLE


class PostgresMissing(EnvironmentProblem):
    reason = ReasonCode.POSTGRES_MISSING


class ClamavMissing(EnvironmentProblem):
    reason = ReasonCode.CLAMAV_MISSING


class ChromiumMissing(EnvironmentProblem):
    reason = ReasonCode.CHROMIUM_MISSING


class PortInUse(EnvironmentProblem):
    reason = ReasonCode.PORT_IN_USE


class StaleDataDir(EnvironmentProblem):
    reason = ReasonCode.STALE_DATA_DIR


class ServiceError(LienthongError):
    pass


class ServiceFailed(ServiceError):
    reason = ReasonCode.SERVICE_FAILED


class KafkaUnavailable(ServiceError):
    reason = ReasonCode.KAFKA_UNAVAILABLE
    retriable = True


class DatabaseUnavailable(ServiceError):
    reason = ReasonCode.DATABASE_UNAVAILABLE
    retriable = True


class ScannerUnavailable(ServiceError):
    reason = ReasonCode.SCANNER_UNAVAILABLE
    retriable = True


class WorkersUnavailable(ServiceError):
    reason = ReasonCode.SERVICE_FAILED
    retriable = True


class JobFailed(ServiceError):
    """Whatever a job raised in a worker, by type and message (exceptions do not all
    survive a pickle): a defect the record provoked, its internal error."""

    reason = ReasonCode.INTERNAL_ERROR


class ClaimStoreUnavailable(ServiceError):
    """The store of large attachments cannot be read or written: wait, nothing is lost."""

    reason = ReasonCode.CLAIM_STORE_UNAVAILABLE
    retriable = True


class EndpointUnavailable(ServiceError):
    """A remote axis endpoint (VDXP, an LGSP, a peer's /vxp) did not answer, or answered
    that it could not serve: the bridge waits and tries again."""

    reason = ReasonCode.ENDPOINT_UNAVAILABLE
    retriable = True


class MigrationFailed(ServiceError):
    reason = ReasonCode.MIGRATION_FAILED


class AccessDenied(LienthongError):
    """Who is asking was not proven, or may not do this: never retried, always named."""

    reason = ReasonCode.CREDENTIALS_INVALID

    def __init__(self, reason: ReasonCode, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, reason=reason)


class Rejected(LienthongError):
    """Input that breaks a rule: never retried, always answered with its reason code."""

    def __init__(self, reason: ReasonCode, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, reason=reason)


class EdxmlError(Rejected):
    pass


class EnvelopeError(Rejected):
    pass


class TrustError(Rejected):
    pass


class DirectoryError(Rejected):
    pass


class Undeliverable(Rejected):
    """A recipient the directory cannot deliver to: a fault of the request's content, not
    of its address (the connector API answers 422, not the 404 of a unit it does not host)."""


class BindingError(Rejected):
    pass


class OverBudget(Rejected):
    """A job of kernel.budget ran past its wall time or memory, or nested too deep."""

    def __init__(self, message: str) -> None:
        super().__init__(ReasonCode.ATTACHMENT_TOO_COMPLEX, message)


class PolicyError(Rejected):
    pass
