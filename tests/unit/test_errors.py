"""The error tree: every error names its reason code; retriable ones say so."""

from __future__ import annotations

import pytest

from kernel import errors
from kernel.reasons import ReasonCode


def _all_subclasses(cls: type[errors.LienthongError]) -> list[type[errors.LienthongError]]:
    found: list[type[errors.LienthongError]] = []
    sub: type[errors.LienthongError]
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def test_every_error_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for cls in _all_subclasses(errors.LienthongError):
        assert cls.__name__ in doc, f"{cls.__name__} is missing from the tree in kernel.errors"


def test_every_reason_code_has_both_sentences() -> None:
    for code in ReasonCode:
        assert code.sentence_en
        assert code.sentence_vi


def test_message_shows_reason_and_hint() -> None:
    error = errors.PortInUse("port 19092 is taken", hint="set LIENTHONG_KAFKA_PORT")
    assert str(error) == "[port_in_use] port 19092 is taken\n  hint: set LIENTHONG_KAFKA_PORT"
    assert not error.retriable


@pytest.mark.parametrize(
    ("cls", "retriable"),
    [
        (errors.KafkaUnavailable, True),
        (errors.DatabaseUnavailable, True),
        (errors.JavaMissing, False),
    ],
)
def test_retriable_flags(cls: type[errors.LienthongError], retriable: bool) -> None:
    assert cls("x").retriable is retriable
