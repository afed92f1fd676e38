"""Directory files that made the loader raise TypeError, RecursionError, ValueError or
csv.Error: each is now `directory_invalid` naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.directory import loader
from kernel.errors import DirectoryError
from kernel.reasons import ReasonCode

HEADER = "organ_id,name,level\n"
FILES = {
    # TypeError: csv puts the surplus cell under the key None.
    "row longer than its header.csv": HEADER + "000.00.00.H01,A,province,extra\n",
    # TypeError: sorting an int key with the field names.
    "non-string key.yaml": "units:\n  - {1: x, organ_id: 000.00.00.H01, name: A, level: x}\n",
    # RecursionError in PyYAML's composer.
    "nested 5000 deep.yaml": "units: " + "[" * 5000 + "]" * 5000 + "\n",
    # ValueError from PyYAML's own date constructor.
    "impossible date.yaml": "units:\n  - {organ_id: 000.00.00.H01, name: A, level: province, "
    "valid_from: 2024-02-30}\n",
    # csv.Error: a field past csv's 128 KiB limit.
    "field over 128 KiB.csv": HEADER + '000.00.00.H01,"' + "a" * 131_073 + '",province\n',
}


@pytest.mark.parametrize("name", FILES)
def test_the_loader_refuses_with_directory_invalid(tmp_path: Path, name: str) -> None:
    path = tmp_path / name.replace(" ", "-")
    path.write_text(FILES[name], encoding="utf-8")
    with pytest.raises(DirectoryError) as refused:
        loader.load(path)
    assert refused.value.reason == ReasonCode.DIRECTORY_INVALID
    assert str(path) in refused.value.message


def test_an_impossible_date_in_csv_was_already_refused(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("organ_id,name,level,valid_from\n000.00.00.H01,A,province,2024-02-30\n")
    with pytest.raises(DirectoryError, match="2024-02-30"):
        loader.load(path)
