"""What the API tests share: a credential made in the exchange's own database."""

from __future__ import annotations

from collections.abc import Sequence

from connectors import credentials
from kernel import database
from tests.e2e.conftest import HOSTED, Exchange


async def token(exchange: Exchange, units: Sequence[str] = HOSTED, name: str = "test") -> str:
    """A fresh token acting for `units` (all the hosted units unless told), made as the
    operator's `credentials create` makes it: on its own connection, not the connector's."""
    conn = await database.connect(exchange.dsn, schema=exchange.settings.database_schema)
    try:
        _, issued = await credentials.create(conn, units, name=name, actor="pytest")
    finally:
        await conn.close()
    return str(issued)


async def bearer(exchange: Exchange, units: Sequence[str] = HOSTED) -> dict[str, str]:
    """The headers of an agency system holding a credential for `units`."""
    return {"Authorization": f"Bearer {await token(exchange, units)}"}
