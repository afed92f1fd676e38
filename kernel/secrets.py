"""Files that hold secrets (private keys, passwords, DSNs, credentials): 0600 from birth.

A file written and chmod-ed afterwards is readable by anyone for a moment, and a file that
already existed with a looser mode keeps it when reopened with O_TRUNC. So a secret is
written to a new file created 0600 with O_EXCL next to its target, then renamed over it:
the target path only ever names a complete 0600 file. Its directory is 0700.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(directory: Path) -> Path:
    """Create `directory` (missing parents too) 0700, or tighten it to 0700 if it exists."""
    missing: list[Path] = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            path.mkdir(mode=DIR_MODE)
    if directory.stat().st_mode & 0o777 != DIR_MODE:
        directory.chmod(DIR_MODE)
    return directory


def write_private(path: Path, data: bytes | str, *, own_dir: bool = True) -> Path:
    """Write `data` to `path` as a 0600 file in a 0700 directory, with no moment in between.

    `own_dir=False` is for a path a person chose (`-o FILE`): its folder is theirs, and is
    left as it is (made 0700 over /tmp, it would break the machine).
    """
    if own_dir:
        private_dir(path.parent)
    content = data.encode("utf-8") if isinstance(data, str) else data
    staging = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return path
