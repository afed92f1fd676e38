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
import enum
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

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
MECHANISM = "SCRAM-SHA-512"
ITERATIONS = 8192
TIMEOUT = 15.0
_DENIED = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}
_UNAUTHENTICATED = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
_NO_SUCH_USER = KafkaError.RESOURCE_NOT_FOUND


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Grant:
    """One ACL: `principal` may (or, DENY, may not) `operation` on the resource `name`.

    lienthong writes ALLOW from any host on topics and groups only; any other shape found
    on the cluster is still a Grant, so that `topics sync` can see it and delete it.
    """

    principal: str
    resource: str
    """A ResourceType's name in lower case: topic, group, broker (the cluster), transactional_id"""
    name: str
    pattern: str
    """literal or prefixed"""
    operation: str
    """An AclOperation's name in lower case: read, write, describe, all…"""
    host: str = "*"
    permission: str = "allow"

    def _fields(self) -> tuple[Any, ...]:
        return (
            ResourceType[self.resource.upper()], self.name,
            ResourcePatternType[self.pattern.upper()], self.principal, self.host,
            AclOperation[self.operation.upper()], AclPermissionType[self.permission.upper()],
        )  # fmt: skip

    def exactly(self) -> AclBindingFilter:
        """A filter that matches this ACL and no other."""
        return AclBindingFilter(*self._fields())

    def binding(self) -> AclBinding:
        return AclBinding(*self._fields())

    @classmethod
    def of(cls, binding: AclBinding) -> Grant:
        return cls(
            binding.principal, _named(binding.restype), binding.name,
            _named(binding.resource_pattern_type), _named(binding.operation), binding.host,
            _named(binding.permission_type),
        )  # fmt: skip


def _named(value: enum.Enum | str | int) -> str:
    return value.name.lower() if isinstance(value, enum.Enum) else str(value).lower()


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
        """Every ACL on the cluster, whatever its shape."""
        # None is librdkafka's "any" for names, principals and hosts; the stubs say str.
        query = AclBindingFilter(
            ResourceType.ANY, None, ResourcePatternType.ANY, None, None,  # type: ignore[arg-type]
            AclOperation.ANY, AclPermissionType.ANY,
        )  # fmt: skip
        future = self.client.describe_acls(query, request_timeout=TIMEOUT)
        bindings: list[AclBinding] = await self._call(
            "listing Kafka ACLs failed", lambda: future.result(TIMEOUT)
        )
        return {Grant.of(b) for b in bindings}

    async def create(self, grants: Iterable[Grant]) -> None:
        """Create ACLs, returning once the broker answers with them: the controller takes
        them first, and a client refused in between would not be retried."""
        wanted = set(grants)
        bindings = [g.binding() for g in sorted(wanted)]
        if not bindings:
            return
        futures = self.client.create_acls(bindings, request_timeout=TIMEOUT)
        await self._call("creating Kafka ACLs failed", lambda: _wait_all(futures))
        deadline = time.monotonic() + TIMEOUT
        while not wanted <= await self.grants():
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"{len(wanted)} new ACLs are not in force after {TIMEOUT}s")
            await asyncio.sleep(0.1)

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
