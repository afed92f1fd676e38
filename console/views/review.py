"""The province's operators review what the policy held (Articles 4.2 to 4.4): the list,
one document with what is judged in it, its attachments, and the decision.

A release puts the document back on its way (broker.review.release), a rejection sends its
sender a 02 (broker.review.refuse) and needs its reason; both are audited under the
reviewer's own name. Attachments are downloaded, never rendered: only a PDF may be shown,
in a sandbox that runs nothing of it.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from broker import review as decisions
from console import review, store
from console.accounts import Role
from console.guard import Viewer, form_text, now, page
from console.templating import MenuItem, render
from kernel.database import Connection
from kernel.errors import LienthongError, Rejected
from kernel.reasons import ReasonCode
from kernel.settings import INLINE_ATTACHMENT_BYTES, Settings
from kernel.topics import Topics

REVIEWERS = frozenset({Role.PROVINCIAL_ADMIN})
MAX_WHY = 1000
MAX_SHOWN_PDF = INLINE_ATTACHMENT_BYTES
RELEASED_WITHOUT_REASON = "released on review at the console"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _page(
    request: Request,
    conn: Connection,
    viewer: Viewer,
    message_id: str,
    *,
    error: LienthongError | None = None,
    status: int = 200,
) -> Response:
    document = await review.document(conn, _settings(request), message_id)
    outcome = await review.outcome(conn, document.held["message_id"])
    return render(
        request, viewer, "review/document.html",
        {"document": document, "outcome": outcome, "error": error},
        status=status,
    )  # fmt: skip


@page(*REVIEWERS)
async def held_list(request: Request, conn: Connection, viewer: Viewer) -> Response:
    state = request.query_params.get("state", "held")
    rows = await review.held_documents(conn, state)
    return render(
        request, viewer, "review/list.html",
        {"rows": rows, "state": state, "states": review.STATES, "limit": review.MAX_LISTED},
    )  # fmt: skip


@page(*REVIEWERS)
async def held_document(request: Request, conn: Connection, viewer: Viewer) -> Response:
    return await _page(request, conn, viewer, request.path_params["message_id"])


async def _undecided(request: Request, conn: Connection, viewer: Viewer) -> Response | None:
    """The document page again (409) when another reviewer decided first."""
    held = await review.held_row(conn, request.path_params["message_id"])
    if held["state"] == "held":
        return None
    error = Rejected(ReasonCode.STATUS_BACKWARDS, f"this document was {held['state']} already")
    return await _page(request, conn, viewer, held["message_id"], error=error, status=409)


@page(*REVIEWERS)
async def release(request: Request, conn: Connection, viewer: Viewer) -> Response:
    message_id = review.message_id_of(request.path_params["message_id"])
    decided = await _undecided(request, conn, viewer)
    if decided is not None:
        return decided
    form = await request.form()
    why = form_text(form, "why", limit=MAX_WHY) or RELEASED_WITHOUT_REASON
    settings = _settings(request)
    async with review.producer(settings) as producer:
        await decisions.release(
            conn, producer, Topics(settings.topic_prefix), message_id,
            actor=viewer.account.username, why=why,
        )  # fmt: skip
    await store.record_act(conn, viewer.account, "release", now=now(request), reason=why,
                           detail={"message_id": message_id})  # fmt: skip
    return RedirectResponse(f"/review/{message_id}", status_code=303)


@page(*REVIEWERS)
async def reject(request: Request, conn: Connection, viewer: Viewer) -> Response:
    message_id = review.message_id_of(request.path_params["message_id"])
    decided = await _undecided(request, conn, viewer)
    if decided is not None:
        return decided
    form = await request.form()
    why = form_text(form, "why", limit=MAX_WHY)
    if not why:
        error = Rejected(ReasonCode.REQUEST_MALFORMED, "a rejection needs its reason")
        return await _page(request, conn, viewer, message_id, error=error, status=400)
    settings = _settings(request)
    router = review.router_identity(settings)
    async with review.producer(settings) as producer:
        await decisions.refuse(
            conn, producer, Topics(settings.topic_prefix), review.registry(), router, message_id,
            actor=viewer.account.username, why=why,
        )  # fmt: skip
    await store.record_act(conn, viewer.account, "reject", now=now(request), reason=why,
                           detail={"message_id": message_id})  # fmt: skip
    return RedirectResponse(f"/review/{message_id}", status_code=303)


def _disposition(kind: str, name: str) -> str:
    """A file name the header can carry whatever the sender wrote: an ASCII stand-in and
    the UTF-8 name percent-encoded (RFC 6266)."""
    plain = _UNSAFE_NAME.sub("_", name)[:100].strip("._") or "attachment"
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{quote(name[:200], safe='')}"


@page(*REVIEWERS)
async def download(request: Request, conn: Connection, viewer: Viewer) -> Response:
    """Always as a download of unknown type: nothing a sender wrote is rendered here."""
    found = await review.attachment(
        conn, _settings(request), request.path_params["message_id"], request.path_params["index"]
    )
    return StreamingResponse(
        found.chunks,
        media_type="application/octet-stream",
        headers={"content-disposition": _disposition("attachment", found.name)},
    )


@page(*REVIEWERS)
async def pdf(request: Request, conn: Connection, viewer: Viewer) -> Response:
    """A PDF shown in the browser, in a sandbox (no script, no plugin, no same-origin)."""
    found = await review.attachment(
        conn, _settings(request), request.path_params["message_id"], request.path_params["index"]
    )
    if found.media_type != "application/pdf":
        raise Rejected(ReasonCode.MEDIA_TYPE_UNSUPPORTED, "only a PDF is shown; download it")
    parts: list[bytes] = []
    async for chunk in found.chunks:
        parts.append(chunk)
        if sum(map(len, parts)) > MAX_SHOWN_PDF:
            raise Rejected(ReasonCode.ATTACHMENT_TOO_LARGE, "a PDF this large is downloaded")
    content = b"".join(parts)
    if content.lstrip()[:5] != b"%PDF-":
        raise Rejected(ReasonCode.PDF_MALFORMED, "this is not a PDF; download it")
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "content-disposition": _disposition("inline", found.name),
            "content-security-policy": "sandbox",
        },
    )


routes = [
    Route("/review", held_list, methods=["GET"]),
    Route("/review/{message_id}", held_document, methods=["GET"]),
    Route("/review/{message_id}/release", release, methods=["POST"]),
    Route("/review/{message_id}/reject", reject, methods=["POST"]),
    Route("/review/{message_id}/attachments/{index:int}", download, methods=["GET"]),
    Route("/review/{message_id}/attachments/{index:int}/pdf", pdf, methods=["GET"]),
]
menu = [MenuItem("/review", "Review", REVIEWERS, order=60)]
