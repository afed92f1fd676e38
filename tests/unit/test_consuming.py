"""Whose fault a failure is decides what the consume loop does: the infrastructure's rewinds
the batch, the operator's stops the service, anything else is that one record's."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import errors as kafka_errors

from kernel import consuming, kafka
from kernel.errors import (
    AccessDenied,
    ConfigurationError,
    DatabaseUnavailable,
    EnvelopeError,
    KafkaUnavailable,
)
from kernel.reasons import ReasonCode
from schemas import codec


@pytest.mark.parametrize(
    ("error", "transient", "fatal"),
    [
        (DatabaseUnavailable("gone"), True, False),
        (KafkaUnavailable("gone"), True, False),
        (asyncpg.exceptions.AdminShutdownError(), True, False),
        (asyncpg.exceptions.DeadlockDetectedError(), True, False),
        (asyncpg.exceptions.TooManyConnectionsError(), True, False),
        (asyncpg.exceptions.ReadOnlySQLTransactionError(), True, False),
        (ConnectionResetError(), True, False),
        (asyncpg.exceptions.CharacterNotInRepertoireError(), False, False),
        (asyncpg.exceptions.UniqueViolationError(), False, False),
        (EnvelopeError(ReasonCode.ENVELOPE_MALFORMED, "bad"), False, False),
        (AttributeError("crafted"), False, False),
        (AccessDenied(ReasonCode.KAFKA_NOT_AUTHORIZED, "no ACL"), False, True),
        (ConfigurationError("bad setting"), False, True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_whose_fault(error: BaseException, transient: bool, fatal: bool) -> None:
    assert consuming.transient(error) is transient
    assert consuming.fatal(error) is fatal


def test_stored_headers_keep_null_values() -> None:
    assert codec.stored_headers('[["a", "6869"], ["b", null]]') == [("a", b"hi"), ("b", None)]


def _mapped(error: BaseException) -> BaseException:
    with pytest.raises(KafkaUnavailable) as caught, kafka.mapped_errors("committing"):
        raise error
    return caught.value


@pytest.mark.parametrize(
    "error",
    [
        kafka_errors.CommitFailedError("the group rebalanced"),
        kafka_errors.RebalanceInProgressError(),
        kafka_errors.IllegalGenerationError(),
        kafka_errors.UnknownMemberIdError(),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_rebalance_under_a_batch_is_retried_not_fatal(error: BaseException) -> None:
    """A router joining or leaving made the others' commits fail and the routers stop (the
    fault harness found it): the batch is rewound and retried, whoever owns it now."""
    assert consuming.transient(_mapped(error))


def test_a_request_kafka_refuses_for_good_is_not_retried() -> None:
    assert not consuming.transient(_mapped(kafka_errors.InvalidTopicError()))
