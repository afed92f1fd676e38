"""The unit directory loader on damaged YAML and CSV files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.directory import loader
from tests.fuzz.contract import examples, holds, mutants

SAMPLES = sorted(Path(loader.__file__).with_name("samples").glob("*.yaml"))
YAML_SEEDS = [p.read_bytes() for p in SAMPLES]
CSV_SEEDS = [
    b"organ_id,name,level,parent,valid_from,valid_to,successor,gateway\n"
    b"000.00.00.H62,UBND tinh,province,,2020-01-01,,,\n"
    b"000.02.00.H62,UBND xa,commune,000.00.00.H62,,2025-06-30,000.00.00.H62,\n"
    b'000.00.00.G01,"Bo, ""Noi vu""",central,,,,,axis\n'
]
YAML_TOKENS = (
    b"[", b"]", b"{", b"}", b": ", b"- ", b"&a ", b"*a", b"!!binary ", b"!!python/none",
    b"2024-02-30", b"1: x", b"? ", b"~", b"null", b".inf", b"units:", b"level: [province]",
    b"valid_from: 9999-12-31", b"'", b'"\\x00"', b"\t",
)  # fmt: skip
CSV_TOKENS = (b",", b'"', b'""', b"\r\n", b",x,y", b"\x00", b"2024-02-30", b"\xef\xbb\xbf")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("directories")


def _load(folder: Path, suffix: str, content: bytes) -> None:
    path = folder / f"units{suffix}"
    path.write_bytes(content)
    holds(lambda: loader.load(path))


@examples(ci=200, fuzz=20_000)
@given(st.data())
def test_damaged_yaml(folder: Path, data: st.DataObject) -> None:
    _load(folder, ".yaml", data.draw(mutants(YAML_SEEDS, YAML_TOKENS)))


@examples(ci=200, fuzz=20_000)
@given(st.data())
def test_damaged_csv(folder: Path, data: st.DataObject) -> None:
    _load(folder, ".csv", data.draw(mutants(CSV_SEEDS, CSV_TOKENS)))


@examples(ci=100, fuzz=10_000)
@given(st.sampled_from([".yaml", ".csv"]), st.text(max_size=300).map(str.encode))
def test_arbitrary_text(folder: Path, suffix: str, content: bytes) -> None:
    _load(folder, suffix, content)
