"""Schemathesis against the OpenAPI the connector serves, with credentials: whatever the
document allows, and whatever it forbids, is answered with a status and body it describes,
and never with a 5xx.

Schemathesis calls with `requests`, which blocks, so it runs in a thread while the event
loop serves the API. A few dozen examples per operation and mode keep it quick.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import hypothesis
import pytest
import schemathesis
from hypothesis.strategies import SearchStrategy
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from connectors import api
from tests.e2e.apiclient import bearer
from tests.e2e.conftest import PROVINCE, Exchange

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
EXAMPLES = 25
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _examples(
    strategy: SearchStrategy[schemathesis.Case[Any]],
    base: str,
    headers: dict[str, str],
    checks: list[CheckFunction],
) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(base_url=base, headers=headers, checks=checks)

    run()


def _fuzz(spec: dict[str, Any], base: str, headers: dict[str, str]) -> list[str]:
    """Every operation in both modes; the first failing case raises with its reproduction."""
    schema = schemathesis.openapi.from_dict(spec)
    tried = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        units = {"unit": PROVINCE} if "{unit}" in operation.path else None
        modes = [(GenerationMode.POSITIVE, CHECKS)]
        # Negative data needs something left to break once the unit is fixed.
        if operation.body or any(p.name != "unit" for p in operation.path_parameters):
            modes.append((GenerationMode.NEGATIVE, [*CHECKS, negative_data_rejection]))
        for mode, checks in modes:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=units)
            _examples(strategy, base, headers, checks)
            tried.append(f"{operation.label} {mode.value}")
    return tried


# Hypothesis notices the global `random` state move while it draws a case; here that is the
# connector's Kafka clients on the event loop thread, running beside the draw, not the strategy.
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)
async def test_the_openapi_holds_and_nothing_it_generates_gets_a_5xx(exchange: Exchange) -> None:
    headers = await bearer(exchange, [PROVINCE])
    async with (
        api.serving(exchange.connector, "127.0.0.1", 0) as port,
        aiohttp.ClientSession() as session,
    ):
        base = f"http://127.0.0.1:{port}"
        async with session.get(f"{base}/openapi.json") as response:
            spec = await response.json()
        tried = await asyncio.to_thread(_fuzz, spec, base, headers)
    assert len(tried) == 11 + 8, tried  # all eleven positive, the eight with something to break
