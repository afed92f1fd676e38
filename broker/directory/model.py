"""Units and successor resolution, as pure values (the router caches a `Directory`).

OrganIds follow Decision 20/2020/QĐ-TTg: `V1V2V3.Z1Z2.Y1Y2.MX1X2`, 13 characters. A unit
is open from `valid_from` through `valid_to` (inclusive); a closed unit's mail goes to its
`successor`, following chains of mergers, and each hop is recorded.

A unit with a `gateway` is remote: another exchange hosts it (the national axis, an LGSP,
another province's lienthong) and it is reached through the named gateway. The router
routes to its unit topic as to any other; the gateway's process (`lienthong vxp bridge`,
`lienthong peer`) consumes that topic as the gateway's principal and carries what it
finds across, and what comes back it submits signed as a unit behind that gateway.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable
from typing import Literal, get_args

from kernel.errors import DirectoryError
from kernel.reasons import ReasonCode

Level = Literal["central", "province", "district", "commune"]
LEVELS: tuple[Level, ...] = get_args(Level)
ORGAN_ID = re.compile(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9A-Z]{2}")
"""Matched whole (fullmatch): `$` would let a final newline through, `\\d` other scripts' digits."""
GATEWAY = re.compile(r"[a-z][a-z0-9_]{0,39}")
"""A gateway's name: it names a Kafka principal and a database role, so plain and short."""


def check_gateway(value: str) -> str:
    if not GATEWAY.fullmatch(value):
        raise DirectoryError(
            ReasonCode.DIRECTORY_INVALID,
            f"{value!r} is not a gateway name (a-z first, then a-z, 0-9 or '_'; at most 40)",
        )
    return value


def check_organ_id(value: str) -> str:
    if not ORGAN_ID.fullmatch(value):
        raise DirectoryError(
            ReasonCode.ORGANID_INVALID,
            f"{value!r} is not a unit code of the form 000.00.00.H07 (QĐ 20/2020/QĐ-TTg)",
        )
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class Unit:
    organ_id: str
    name: str
    level: Level
    parent: str | None = None
    valid_from: datetime.date | None = None
    valid_to: datetime.date | None = None
    successor: str | None = None
    gateway: str | None = None
    """None: a unit of this exchange; else the gateway through which it is reached."""

    @property
    def remote(self) -> bool:
        return self.gateway is not None

    def open_on(self, day: datetime.date) -> bool:
        started = self.valid_from is None or self.valid_from <= day
        return started and (self.valid_to is None or day <= self.valid_to)


@dataclasses.dataclass(frozen=True, slots=True)
class Resolution:
    requested: str
    unit: Unit
    hops: tuple[str, ...] = ()
    """The closed units passed through, in order; empty when the unit itself is open."""

    @property
    def redirected(self) -> bool:
        return bool(self.hops)


class Directory:
    def __init__(self, units: Iterable[Unit]) -> None:
        self.units: dict[str, Unit] = {}
        for unit in units:
            if unit.organ_id in self.units:
                raise DirectoryError(
                    ReasonCode.DIRECTORY_INVALID, f"{unit.organ_id} is listed twice"
                )
            self.units[unit.organ_id] = unit
        self._check()

    def _check(self) -> None:
        for unit in self.units.values():
            check_organ_id(unit.organ_id)
            if unit.level not in LEVELS:
                raise DirectoryError(
                    ReasonCode.DIRECTORY_INVALID,
                    f"{unit.organ_id}: level {unit.level!r} is not one of {', '.join(LEVELS)}",
                )
            for role, other in (("parent", unit.parent), ("successor", unit.successor)):
                if other is not None and other not in self.units:
                    raise DirectoryError(
                        ReasonCode.DIRECTORY_INVALID,
                        f"{unit.organ_id}: its {role} {other} is not in the directory",
                    )
            if unit.gateway is not None:
                check_gateway(unit.gateway)
            if unit.valid_from and unit.valid_to and unit.valid_to < unit.valid_from:
                raise DirectoryError(
                    ReasonCode.DIRECTORY_INVALID, f"{unit.organ_id}: valid_to is before valid_from"
                )
            if unit.successor is not None and unit.valid_to is None:
                raise DirectoryError(
                    ReasonCode.DIRECTORY_INVALID,
                    f"{unit.organ_id}: has a successor but no valid_to (when did it close?)",
                )
        for unit in self.units.values():
            seen = {unit.organ_id}
            current = unit
            while current.successor is not None:
                if current.successor in seen:
                    raise DirectoryError(
                        ReasonCode.DIRECTORY_INVALID,
                        f"successors loop: {' -> '.join([*seen, current.successor])}",
                    )
                seen.add(current.successor)
                current = self.units[current.successor]

    @property
    def gateways(self) -> frozenset[str]:
        """The gateways the directory names."""
        return frozenset(u.gateway for u in self.units.values() if u.gateway is not None)

    def behind(self, gateway: str) -> list[str]:
        """The units reached through `gateway`, in code order."""
        return sorted(o for o, u in self.units.items() if u.gateway == gateway)

    def get(self, organ_id: str) -> Unit:
        unit = self.units.get(check_organ_id(organ_id))
        if unit is None:
            raise DirectoryError(ReasonCode.UNIT_UNKNOWN, f"{organ_id} is not in the directory")
        return unit

    def resolve(self, organ_id: str, at: datetime.date) -> Resolution:
        """The unit that receives mail for `organ_id` on day `at`."""
        unit = self.get(organ_id)
        hops: list[str] = []
        while not unit.open_on(at):
            if unit.valid_from is not None and at < unit.valid_from:
                raise DirectoryError(
                    ReasonCode.UNIT_UNKNOWN,
                    f"{unit.organ_id} opens on {unit.valid_from}, after {at}",
                )
            if unit.successor is None:
                raise DirectoryError(
                    ReasonCode.UNIT_CLOSED,
                    f"{unit.organ_id} ({unit.name}) closed on {unit.valid_to} with no successor",
                )
            hops.append(unit.organ_id)
            unit = self.units[unit.successor]
        return Resolution(requested=organ_id, unit=unit, hops=tuple(hops))
