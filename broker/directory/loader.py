"""Reads a unit directory from YAML (`units:` list) or CSV (one unit a row, with a header).

Both take the fields of `Unit`; dates as YYYY-MM-DD; empty cells are absent values. A
`gateway` names the gateway a remote unit is reached through (`lienthong vxp bridge
--gateway NAME`, a federated peer); units without one are this exchange's own.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from broker.directory.model import LEVELS, Directory, Unit
from kernel.errors import DirectoryError
from kernel.reasons import ReasonCode

FIELDS = (
    "organ_id", "name", "level", "parent", "valid_from", "valid_to", "successor", "gateway",
)  # fmt: skip


def load(path: Path) -> Directory:
    text = _read(path)
    if path.suffix.lower() == ".csv":
        rows: list[Mapping[Any, Any]] = _csv_rows(text, path)
    elif path.suffix.lower() in (".yaml", ".yml"):
        try:
            document = yaml.safe_load(text)
        except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date such as 2024-02-30
            raise DirectoryError(ReasonCode.DIRECTORY_INVALID, f"{path}: {exc}") from None
        except RecursionError:
            # PyYAML's composer recurses per level. Not a worker's budget to report: the
            # operator's file, read when a service starts, is simply invalid.
            raise DirectoryError(
                ReasonCode.DIRECTORY_INVALID, f"{path}: nested deeper than YAML can be read"
            ) from None
        if not isinstance(document, dict) or not isinstance(document.get("units"), list):
            raise DirectoryError(ReasonCode.DIRECTORY_INVALID, f"{path}: expected a `units:` list")
        rows = document["units"]
    else:
        raise DirectoryError(
            ReasonCode.DIRECTORY_INVALID, f"{path}: a directory is a .yaml, .yml or .csv file"
        )
    return Directory(_unit(row, f"{path} entry {index + 1}") for index, row in enumerate(rows))


def _csv_rows(text: str, path: Path) -> list[Mapping[Any, Any]]:
    """Rows by the header's names; a row with more cells than the header has is refused
    (csv puts the surplus under the key None), as is a field past csv's 128 KiB limit."""
    rows: list[Mapping[Any, Any]] = []
    try:
        for row in csv.DictReader(io.StringIO(text)):
            if None in row:
                raise DirectoryError(
                    ReasonCode.DIRECTORY_INVALID,
                    f"{path} entry {len(rows) + 1}: more cells than the header names",
                )
            rows.append(row)
    except csv.Error as exc:
        raise DirectoryError(ReasonCode.DIRECTORY_INVALID, f"{path}: {exc}") from None
    return rows


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DirectoryError(ReasonCode.DIRECTORY_INVALID, f"cannot read {path}: {exc}") from None


def _unit(row: Mapping[Any, Any], where: str) -> Unit:
    if not isinstance(row, Mapping):
        raise DirectoryError(ReasonCode.DIRECTORY_INVALID, f"{where}: not a mapping")
    # YAML keys may be numbers, dates or null: named as written, never sorted as strings.
    unknown = sorted(repr(key) for key in row if key not in FIELDS)
    if unknown:
        raise DirectoryError(
            ReasonCode.DIRECTORY_INVALID, f"{where}: unknown fields {', '.join(unknown)}"
        )
    values = {key: _blank_to_none(row.get(key)) for key in FIELDS}
    for required in ("organ_id", "name", "level"):
        if values[required] is None:
            raise DirectoryError(ReasonCode.DIRECTORY_INVALID, f"{where}: {required} is missing")
    if values["level"] not in LEVELS:
        raise DirectoryError(
            ReasonCode.DIRECTORY_INVALID,
            f"{where}: level {values['level']!r} is not one of {', '.join(LEVELS)}",
        )
    return Unit(
        organ_id=str(values["organ_id"]),
        name=str(values["name"]),
        level=values["level"],
        parent=_optional_str(values["parent"]),
        valid_from=_date(values["valid_from"], where),
        valid_to=_date(values["valid_to"], where),
        successor=_optional_str(values["successor"]),
        gateway=_optional_str(values["gateway"]),
    )


def _blank_to_none(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value).strip()


def _date(value: Any, where: str) -> datetime.date | None:
    if value is None or isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        raise DirectoryError(
            ReasonCode.DIRECTORY_INVALID, f"{where}: {value!r} is not a YYYY-MM-DD date"
        ) from None
