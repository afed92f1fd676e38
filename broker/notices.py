"""What the router itself tells a unit: a refusal (status 02) or a redirect, signed with
the router's own certificate and sent straight to the unit's topic.

Notice ids are derived from what they are about, so a router that handles the same
envelope twice (after a crash, or a replay) sends the same notice, which the connector
records once.
"""

from __future__ import annotations

import datetime

from broker.producing import Record
from kernel.reasons import ReasonCode
from kernel.topics import Topics
from schemas import codec
from schemas.envelope import StatusBody, notice_id
from signing.endorsement import endorse
from signing.identity import Identity

MAX_DESCRIPTION = 2000
"""A notice's text is partly the sender's (ids it wrote): bounded, so it always fits."""
REDIRECT_CODE = "00"
"""Not a QCVN status: the router's notice that a recipient was redirected (see reason_code)."""


def notice(
    topics: Topics,
    registry: codec.Registry,
    router: Identity,
    *,
    to_unit: str,
    about: str,
    about_recipient: str,
    code: str,
    reason: ReasonCode,
    detail: str,
    document_id: str | None = None,
) -> Record:
    status = StatusBody(
        message_id=notice_id(about, about_recipient, code),
        responds_to=about,
        sender=router.unit,
        recipient=to_unit,
        status_code=code,
        created_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
        document_id=document_id,
        reason_code=reason.value,
        description=f"{about_recipient}: {reason.explain(detail)}"[:MAX_DESCRIPTION],
    )
    headers, value = router.seal(registry, status)
    headers.append(
        endorse(
            router,
            registry,
            value,
            message_id=status.message_id,
            delivered_to=to_unit,
            requested=to_unit,
        )
    )
    return Record(topics.unit(to_unit), value, status.message_id.encode(), tuple(headers))
