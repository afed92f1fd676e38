"""Kafka's security administration (SCRAM credentials, ACLs) through confluent-kafka, the
one place its errors become ours.

aiokafka, which carries the exchange's records, has no admin calls for credentials or ACLs;
confluent-kafka (librdkafka) has them all, maintained by the Kafka vendor. Its calls block,
so each runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from kernel.errors import AccessDenied, KafkaUnavailable
from kernel.kafka import ClientConfig
from kernel.reasons import ReasonCode
from kernel.settings import Secret

T = TypeVar("T")
Resource = Literal["topic", "group"]
Pattern = Literal["literal", "prefixed"]
Operation = Literal["read", "write"]
MECHANISM = "SCRAM-SHA-512"
ITERATIONS = 8192
TIMEOUT = 15.0
_RESOURCES: dict[Resource, ResourceType] = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
}
_PATTERNS: dict[Pattern, ResourcePatternType] = {
    "literal": ResourcePatternType.LITERAL,
    "prefixed": ResourcePatternType.PREFIXED,
}
_OPERATIONS: dict[Operation, AclOperation] = {
    "read": AclOperation.READ,
    "write": AclOperation.WRITE,
}
_DENIED = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}
_UNAUTHENTICATED = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
_NO_SUCH_USER = KafkaError.RESOURCE_NOT_FOUND


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Grant:
    """One ALLOW ACL: `principal` may `operation` on the resource `name`, from any host."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation

    def exactly(self) -> AclBindingFilter:
        """A filter that matches this ACL and no other."""
        return AclBindingFilter(
            _RESOURCES[self.resource], self.name, _PATTERNS[self.pattern], self.principal, "*",
            _OPERATIONS[self.operation], AclPermissionType.ALLOW,
        )  # fmt: skip

    def binding(self) -> AclBinding:
        return AclBinding(
            _RESOURCES[self.resource], self.name, _PATTERNS[self.pattern], self.principal, "*",
            _OPERATIONS[self.operation], AclPermissionType.ALLOW,
        )  # fmt: skip


def new_password() -> Secret:
    return Secret(secrets.token_urlsafe(32))


def _error(what: str, exc: BaseException) -> Exception:
    error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    if isinstance(error, KafkaError):
        if error.code() in _DENIED:
            return AccessDenied(ReasonCode.KAFKA_NOT_AUTHORIZED, f"{what}: {error.str()}")
        if error.code() in _UNAUTHENTICATED:
            return AccessDenied(ReasonCode.KAFKA_AUTHENTICATION_FAILED, f"{what}: {error.str()}")
        mapped = KafkaUnavailable(f"{what}: {error.name()}: {error.str()}")
        mapped.retriable = bool(error.retriable())
        return mapped
    return KafkaUnavailable(f"{what}: {type(exc).__name__}: {exc}")


class SecurityAdmin:
    """The admin principal's client for credentials and ACLs; use as a context manager."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._client: AdminClient | None = None

    def __enter__(self) -> SecurityAdmin:
        settings: dict[str, Any] = dict(self.config.librdkafka())
        settings.update({"socket.timeout.ms": int(TIMEOUT * 1000), "log_level": 3})
        try:
            self._client = AdminClient(settings)
        except KafkaException as exc:
            raise _error("cannot configure the Kafka admin client", exc) from exc
        return self

    def __exit__(self, *_: object) -> None:
        self._client = None

    @property
    def client(self) -> AdminClient:
        if self._client is None:
            raise RuntimeError("SecurityAdmin used outside its `with` block")
        return self._client

    async def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(call)
        except (KafkaException, concurrent.futures.TimeoutError) as exc:
            raise _error(what, exc) from exc

    async def upsert_users(self, users: Mapping[str, Secret]) -> None:
        """Create or reset SCRAM credentials (a fresh salt each time; the password holds)."""
        if not users:
            return
        alterations: list[UserScramCredentialAlteration] = [
            UserScramCredentialUpsertion(
                user,
                ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, ITERATIONS),
                password.reveal().encode(),
            )
            for user, password in users.items()
        ]
        futures = self.client.alter_user_scram_credentials(alterations, request_timeout=TIMEOUT)
        await self._call("storing Kafka credentials failed", lambda: _wait_all(futures))

    async def delete_users(self, users: Iterable[str]) -> None:
        alterations: list[UserScramCredentialAlteration] = [
            UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512) for user in users
        ]
        if not alterations:
            return
        futures = self.client.alter_user_scram_credentials(alterations, request_timeout=TIMEOUT)
        await self._call("deleting Kafka credentials failed", lambda: _wait_all(futures))

    async def users(self) -> set[str]:
        """Every user that has SCRAM credentials on the cluster."""
        future = self.client.describe_user_scram_credentials(request_timeout=TIMEOUT)
        assert isinstance(future, concurrent.futures.Future)
        found: dict[str, Any] = await self._call(
            "listing Kafka credentials failed", lambda: future.result(TIMEOUT)
        )
        return set(found)

    async def grants(self) -> set[Grant]:
        """Every ALLOW ACL on topics and groups whose form lienthong writes."""
        # None is librdkafka's "any" for names, principals and hosts; the stubs say str.
        query = AclBindingFilter(
            ResourceType.ANY, None, ResourcePatternType.ANY, None, None,  # type: ignore[arg-type]
            AclOperation.ANY, AclPermissionType.ANY,
        )  # fmt: skip
        future = self.client.describe_acls(query, request_timeout=TIMEOUT)
        bindings: list[AclBinding] = await self._call(
            "listing Kafka ACLs failed", lambda: future.result(TIMEOUT)
        )
        resources = {v: k for k, v in _RESOURCES.items()}
        patterns = {v: k for k, v in _PATTERNS.items()}
        operations = {v: k for k, v in _OPERATIONS.items()}
        found: set[Grant] = set()
        for b in bindings:
            if (
                b.permission_type == AclPermissionType.ALLOW
                and b.host == "*"
                and b.restype in resources
                and b.resource_pattern_type in patterns
                and b.operation in operations
            ):
                found.add(
                    Grant(
                        b.principal,
                        resources[b.restype],
                        b.name,
                        patterns[b.resource_pattern_type],
                        operations[b.operation],
                    )
                )
        return found

    async def create(self, grants: Iterable[Grant]) -> None:
        bindings = [g.binding() for g in sorted(grants)]
        if not bindings:
            return
        futures = self.client.create_acls(bindings, request_timeout=TIMEOUT)
        await self._call("creating Kafka ACLs failed", lambda: _wait_all(futures))

    async def delete(self, grants: Iterable[Grant]) -> None:
        filters = [g.exactly() for g in sorted(grants)]
        if not filters:
            return
        futures = self.client.delete_acls(filters, request_timeout=TIMEOUT)
        await self._call("deleting Kafka ACLs failed", lambda: _wait_all(futures))


def _wait_all(futures: Mapping[Any, concurrent.futures.Future[Any]]) -> None:
    for future in futures.values():
        try:
            future.result(TIMEOUT)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            # Deleting what is already gone is the state we wanted.
            if isinstance(error, KafkaError) and error.code() == _NO_SUCH_USER:
                continue
            raise
