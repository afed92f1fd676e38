"""Dead letters: what the router refused or could not read, kept byte for byte, and their
replay once the cause is fixed (a directory or trust-store update).

A replay is broker.replay's: it marks the dead letter as asked for before it publishes, so
the router judges the replay at the time it first received these bytes, and the router
takes it from the submit topic like any record; replaying what was routed already is a
no-op there. Each replay is audited under the operator's own name.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from broker import replay
from console import review, store
from console.accounts import Role
from console.guard import Viewer, form_text, now, page
from console.templating import MenuItem, render
from kernel.database import Connection
from kernel.errors import LienthongError, Rejected
from kernel.reasons import ReasonCode
from kernel.settings import Settings
from kernel.topics import Topics

OPERATORS = frozenset({Role.PROVINCIAL_ADMIN})
MAX_LISTED = 200
MAX_WHY = 1000
MAX_ID = 2**63 - 1
_REASON = re.compile(r"^[a-z_]{1,60}$")
_SENDER = re.compile(r"^[0-9A-Za-z.]{1,40}$")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _filter(request: Request, name: str, pattern: re.Pattern[str]) -> str | None:
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    if not pattern.match(value):
        raise Rejected(ReasonCode.REQUEST_MALFORMED, f"the filter {name} is not well formed")
    return value


@page(*OPERATORS)
async def letters(request: Request, conn: Connection, viewer: Viewer) -> Response:
    since = request.query_params.get("since", "").strip()[:10]
    until = request.query_params.get("until", "").strip()[:10]
    reason = _filter(request, "reason", _REASON)
    sender = _filter(request, "sender", _SENDER)
    rows = await replay.list_dead_letters(
        conn, reason=reason, sender=sender, since=review.moment(since),
        until=review.moment(until, end=True), limit=MAX_LISTED,
    )  # fmt: skip
    filters = {"reason": reason or "", "sender": sender or "", "since": since, "until": until}
    reasons = await conn.fetch(
        "SELECT reason_code, count(*) AS n FROM dead_letters GROUP BY reason_code ORDER BY 1"
    )
    return render(
        request, viewer, "deadletters/list.html",
        {"rows": rows, "filters": filters, "reasons": reasons, "limit": MAX_LISTED},
    )  # fmt: skip


async def _page(
    request: Request,
    conn: Connection,
    viewer: Viewer,
    *,
    error: LienthongError | None = None,
    status: int = 200,
) -> Response:
    letter = _id(request)
    if not await conn.fetchval("SELECT 1 FROM dead_letters WHERE id = $1", letter):
        raise Rejected(ReasonCode.NOT_FOUND, f"there is no dead letter {letter}")
    found = await replay.show(conn, letter)
    outcome = await review.outcome(conn, found["message_id"])
    return render(
        request, viewer, "deadletters/letter.html",
        {"letter": found, "outcome": outcome, "error": error}, status=status,
    )  # fmt: skip


def _id(request: Request) -> int:
    letter: int = request.path_params["letter"]
    if letter > MAX_ID:
        raise Rejected(ReasonCode.NOT_FOUND, "there is no such dead letter")
    return letter


@page(*OPERATORS)
async def letter_page(request: Request, conn: Connection, viewer: Viewer) -> Response:
    return await _page(request, conn, viewer)


@page(*OPERATORS)
async def replay_letter(request: Request, conn: Connection, viewer: Viewer) -> Response:
    letter = _id(request)
    form = await request.form()
    why = form_text(form, "why", limit=MAX_WHY)
    if not why:
        error = Rejected(ReasonCode.REQUEST_MALFORMED, "a replay needs its reason")
        return await _page(request, conn, viewer, error=error, status=400)
    if not await conn.fetchval("SELECT 1 FROM dead_letters WHERE id = $1", letter):
        raise Rejected(ReasonCode.NOT_FOUND, f"there is no dead letter {letter}")
    settings = _settings(request)
    async with review.producer(settings) as producer:
        done = await replay.run(
            conn, producer, Topics(settings.topic_prefix), [letter],
            actor=viewer.account.username, why=why,
        )  # fmt: skip
    await store.record_act(
        conn, viewer.account, "replay", now=now(request), reason=why,
        detail={"dead_letter": letter, "message_id": done[0].get("message_id")},
    )  # fmt: skip
    return RedirectResponse(f"/dead-letters/{letter}", status_code=303)


routes = [
    Route("/dead-letters", letters, methods=["GET"]),
    Route("/dead-letters/{letter:int}", letter_page, methods=["GET"]),
    Route("/dead-letters/{letter:int}/replay", replay_letter, methods=["POST"]),
]
menu = [MenuItem("/dead-letters", "Dead letters", OPERATORS, order=61)]
