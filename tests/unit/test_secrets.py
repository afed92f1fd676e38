"""Secret files are 0600 from the moment they exist, in 0700 directories, whatever the umask."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel.secrets import private_dir, write_private
from signing.testpki import write_pki


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """umask 0: a file created without an explicit mode would come out 0666."""
    before = os.umask(0)
    yield
    os.umask(before)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_secret_is_created_0600_with_o_excl_and_never_chmod_ed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        opened.append((os.fspath(path), flags, mode))
        return real_open(path, flags, mode, **kwargs)

    def no_chmod(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"chmod{args}: a window where the file had another mode")

    target = tmp_path / "keys" / "key.pem"
    private_dir(target.parent)
    monkeypatch.setattr(os, "open", spy)
    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    write_private(target, b"-----BEGIN PRIVATE KEY-----\n")

    [(path, flags, mode)] = opened
    assert Path(path).parent == target.parent
    assert flags & os.O_CREAT
    assert flags & os.O_EXCL, "a file that already existed would keep its mode"
    assert mode == 0o600
    assert target.read_bytes() == b"-----BEGIN PRIVATE KEY-----\n"
    assert _mode(target) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["key.pem"]


def test_a_looser_file_already_there_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "password"
    target.write_text("old\n")
    target.chmod(0o644)
    write_private(target, "new\n")
    assert _mode(target) == 0o600
    assert target.read_text() == "new\n"


def test_directories_are_made_or_tightened_to_0700(tmp_path: Path) -> None:
    write_private(tmp_path / "a" / "b" / "secret", "x")
    assert _mode(tmp_path / "a") == 0o700
    assert _mode(tmp_path / "a" / "b") == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    write_private(loose / "secret", "x")
    assert _mode(loose) == 0o700


def test_a_folder_a_person_chose_is_left_as_it_is(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    write_private(shared / "unit.properties", "x", own_dir=False)
    assert shared.stat().st_mode & 0o7777 == 0o1777
    assert _mode(shared / "unit.properties") == 0o600


def test_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_private(tmp_path / "secret", "x")
    assert list(tmp_path.iterdir()) == []


def test_test_pki_keys_are_private(tmp_path: Path) -> None:
    write_pki(tmp_path, [("000.00.00.H62", "Văn phòng Chính phủ")], router_id="lienthong-router")
    keys = sorted(tmp_path.rglob("key.pem"))
    assert len(keys) == 3  # the unit, its head, the router
    for key in keys:
        assert _mode(key) == 0o600, key
        assert _mode(key.parent) == 0o700, key.parent
