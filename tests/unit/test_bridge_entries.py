"""The bridge's inbound side on entries a remote endpoint crafted: whatever one entry
provokes is that entry's refusal (recorded, acknowledged; left for a later poll when that poll
may not repeat it), never the bridge stopping."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from connectors.vxp import bridge
from connectors.vxp.bridge import Bridge
from kernel.errors import EndpointUnavailable, Rejected
from kernel.reasons import ReasonCode


class _Client:
    endpoint = "http://remote/vxp"

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def get_edoc(self, doc_id: str) -> bytes:
        raise self.error


def _bridge(error: Exception) -> Bridge:
    """A bridge reduced to what `_take` uses (no Kafka, no database)."""
    made = Bridge.__new__(Bridge)
    made.gateway = "vdxp"
    made.client = _Client(error)  # type: ignore[assignment]
    made.log = structlog.get_logger()
    made.defer_seconds = 3600.0
    made._deferred = {}
    return made


async def test_an_unexpected_error_on_one_entry_is_its_internal_error() -> None:
    entries: list[dict[str, Any]] = [{"docId": "R1", "from": "000.00.00.G22\x00", "to": "x"}]
    taken = await _bridge(RuntimeError("lxml said no"))._take("edoc", "R1", entries)
    assert taken.refused_reason == ReasonCode.INTERNAL_ERROR.value
    assert taken.sender == "000.00.00.G22"
    assert "RuntimeError" in (taken.refused_detail or "")


async def test_the_endpoint_away_is_still_raised_to_be_waited_out() -> None:
    error = EndpointUnavailable("getEdoc: timeout")
    with pytest.raises(EndpointUnavailable) as caught:
        await _bridge(error)._take("edoc", "R1", [{"docId": "R1"}])
    assert caught.value is error


async def test_the_endpoints_refusal_of_get_edoc_is_left_for_a_later_poll() -> None:
    """A server busy or restarting may answer FAIL: the entry is neither recorded nor
    acknowledged at once, only once it has been refused for `defer_seconds`."""
    made = _bridge(Rejected(ReasonCode.NOT_FOUND, "getEdoc at remote: HTTP 404"))
    taken = await made._take("edoc", "R1", [{"docId": "R1", "to": "x"}])
    assert taken.refused_reason == ReasonCode.ENDPOINT_REFUSED.value
    assert "not_found" in (taken.refused_detail or "")
    assert made._defer(taken)
    assert made._defer(taken)  # the next poll too
    made.defer_seconds = 0.0
    assert not made._defer(taken)


async def test_a_rule_the_entry_breaks_is_refused_at_once() -> None:
    made = _bridge(RuntimeError("lxml said no"))
    taken = await made._take("edoc", "R1", [{"docId": "R1", "to": "x"}])
    assert not made._defer(taken)


def test_what_the_endpoint_lists_is_made_printable() -> None:
    assert bridge._printable("R1\x00\r\n\ud800x") == "R1x"
    assert bridge._printable("Sở Nội vụ 01") == "Sở Nội vụ 01"
