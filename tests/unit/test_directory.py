"""The unit directory: codes, loading, and who receives on which day."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from broker.directory import Directory, Unit, check_organ_id, loader
from kernel.errors import DirectoryError
from kernel.reasons import ReasonCode
from lienthong.commands.pki import SAMPLE_DIRECTORY

AFTER_MERGER = datetime.date(2026, 1, 1)
BEFORE_MERGER = datetime.date(2024, 6, 1)


@pytest.fixture(scope="module")
def sample() -> Directory:
    return loader.load(SAMPLE_DIRECTORY)


@pytest.mark.parametrize(
    "code", ["000.00.00.H07", "000.02.31.H07", "001.00.20.JB2", "000.00.00.G22"]
)
def test_valid_codes(code: str) -> None:
    assert check_organ_id(code) == code


@pytest.mark.parametrize(
    "code",
    [
        "28.22.H17", "01.02.G22", "000.00.00.h07", "000.00.00.H7", "", "000-00-00-H07", "null",
        "000.00.00.H07\n",  # `$` alone lets a final newline through
        "\u0660\u0660\u0660.00.00.H07",  # `\\d` alone takes Arabic-Indic digits
    ],
)  # fmt: skip
def test_invalid_codes(code: str) -> None:
    with pytest.raises(DirectoryError) as caught:
        check_organ_id(code)
    assert caught.value.reason == ReasonCode.ORGANID_INVALID


def test_sample_spans_four_levels_and_the_merger(sample: Directory) -> None:
    assert {u.level for u in sample.units.values()} == {
        "central",
        "province",
        "district",
        "commune",
    }
    districts = [u for u in sample.units.values() if u.level == "district"]
    assert districts
    assert all(u.valid_to == datetime.date(2025, 6, 30) for u in districts)
    assert all(u.successor for u in districts)


@pytest.mark.parametrize(
    ("requested", "at", "receiver", "hops"),
    [
        ("000.02.31.H07", BEFORE_MERGER, "000.02.31.H07", ()),
        ("000.02.31.H07", AFTER_MERGER, "000.02.00.H62", ("000.02.31.H07",)),
        ("000.00.31.H07", AFTER_MERGER, "000.02.00.H62", ("000.00.31.H07",)),
        ("000.00.00.H07", datetime.date(2025, 6, 30), "000.00.00.H07", ()),
        ("000.00.00.H07", datetime.date(2025, 7, 1), "000.00.00.H62", ("000.00.00.H07",)),
        ("000.00.11.H07", datetime.date(2025, 3, 1), "000.00.12.H62", ("000.00.11.H07",)),
        ("000.00.00.G22", AFTER_MERGER, "000.00.00.G22", ()),
    ],
)
def test_resolution_follows_successors_by_date(
    sample: Directory, requested: str, at: datetime.date, receiver: str, hops: tuple[str, ...]
) -> None:
    found = sample.resolve(requested, at)
    assert (found.unit.organ_id, found.hops, found.redirected) == (receiver, hops, bool(hops))


def test_chains_of_mergers_are_followed_and_dead_ends_refused() -> None:
    directory = Directory(
        [
            Unit(
                "000.00.01.H01",
                "A",
                "commune",
                valid_to=datetime.date(2020, 1, 1),
                successor="000.00.02.H01",
            ),
            Unit(
                "000.00.02.H01",
                "B",
                "commune",
                valid_to=datetime.date(2022, 1, 1),
                successor="000.00.03.H01",
            ),
            Unit("000.00.03.H01", "C", "commune"),
            Unit("000.00.04.H01", "D", "commune", valid_to=datetime.date(2022, 1, 1)),
            Unit("000.00.05.H01", "E", "commune", valid_from=datetime.date(2030, 1, 1)),
        ]
    )
    found = directory.resolve("000.00.01.H01", AFTER_MERGER)
    assert found.unit.organ_id == "000.00.03.H01"
    assert found.hops == ("000.00.01.H01", "000.00.02.H01")
    for code, reason in (
        ("000.00.04.H01", ReasonCode.UNIT_CLOSED),
        ("000.00.05.H01", ReasonCode.UNIT_UNKNOWN),
        ("000.00.09.H01", ReasonCode.UNIT_UNKNOWN),
    ):
        with pytest.raises(DirectoryError) as caught:
            directory.resolve(code, AFTER_MERGER)
        assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("units: [{organ_id: 000.00.01.H01, name: A, level: town}]", "level 'town'"),
        ("units: [{organ_id: 1.2.3, name: A, level: commune}]", "not a unit code"),
        ("units: [{organ_id: 000.00.01.H01, level: commune}]", "name is missing"),
        (
            "units: [{organ_id: 000.00.01.H01, name: A, level: commune, parent: 000.00.09.H01}]",
            "parent",
        ),
        (
            "units: [{organ_id: 000.00.01.H01, name: A, level: commune, valid_to: 31/12/2025}]",
            "YYYY-MM-DD",
        ),
        (
            "units: [{organ_id: 000.00.01.H01, name: A, level: commune, colour: red}]",
            "unknown fields",
        ),
        (
            "units: [{organ_id: 000.00.01.H01, name: A, level: commune},"
            " {organ_id: 000.00.01.H01, name: B, level: commune}]",
            "listed twice",
        ),
        (
            "units: [{organ_id: 000.00.01.H01, name: A, level: commune, valid_to: 2025-01-01,"
            " successor: 000.00.02.H01}, {organ_id: 000.00.02.H01, name: B, level: commune,"
            " valid_to: 2025-01-01, successor: 000.00.01.H01}]",
            "loop",
        ),
        ("units: {}", "`units:` list"),
        ("units: [unclosed", "while parsing"),
    ],
)
def test_bad_directory_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "units.yaml"
    path.write_text(content)
    with pytest.raises(DirectoryError, match=message) as caught:
        loader.load(path)
    assert caught.value.reason in (ReasonCode.DIRECTORY_INVALID, ReasonCode.ORGANID_INVALID)


def test_csv_loads_the_same_as_yaml(tmp_path: Path, sample: Directory) -> None:
    path = tmp_path / "units.csv"
    lines = [",".join(loader.FIELDS)]
    for unit in sample.units.values():
        values = [getattr(unit, f) for f in loader.FIELDS]
        lines.append(",".join("" if v is None else str(v) for v in values))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert loader.load(path).units == sample.units


def test_remote_units_name_their_gateway(tmp_path: Path) -> None:
    """A unit another exchange hosts is reached through a named gateway; the file says so."""
    path = tmp_path / "units.yaml"
    path.write_text(
        "units:\n"
        "  - {organ_id: 000.00.00.H62, name: UBND tỉnh Vĩnh Long, level: province}\n"
        "  - {organ_id: 000.00.00.G22, name: Văn phòng Chính phủ, level: central,"
        " gateway: vdxp}\n"
        "  - {organ_id: 000.00.00.G12, name: Bộ Nội vụ, level: central, gateway: vdxp}\n",
        encoding="utf-8",
    )
    directory = loader.load(path)
    assert directory.gateways == frozenset({"vdxp"})
    assert directory.behind("vdxp") == ["000.00.00.G12", "000.00.00.G22"]
    assert directory.units["000.00.00.G22"].remote
    assert not directory.units["000.00.00.H62"].remote
    csv = tmp_path / "units.csv"
    csv.write_text(
        "organ_id,name,level,gateway\n000.00.00.G22,Văn phòng Chính phủ,central,vdxp\n"
        "000.00.00.H62,UBND tỉnh Vĩnh Long,province,\n",
        encoding="utf-8",
    )
    assert loader.load(csv).behind("vdxp") == ["000.00.00.G22"]


@pytest.mark.parametrize("name", ["VDXP", "1axis", "a-b", "", "x" * 41, "a b"])
def test_a_gateway_name_is_a_plain_word(name: str) -> None:
    """It names a Kafka principal and a database role."""
    with pytest.raises(DirectoryError) as caught:
        Directory([Unit("000.00.00.G22", "Văn phòng Chính phủ", "central", gateway=name)])
    assert caught.value.reason == ReasonCode.DIRECTORY_INVALID
