"""Render every configured document into an output directory, as part of `dirkit sync`.

Only files whose content changed are rewritten (atomically: ``safe_files.write_atomic``), so a re-run
with no change leaves every file byte-identical and untouched. Secrets are never rendered:
the Kerberos attributes (which carry passwords) are not among these files.
"""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import _faults as faults
from .._config import Config
from .._directory.model import Directory
from .._safe_files import read_nofollow, remove_stale_temps, write_atomic
from ..errors import OutputError
from .documents import Document, configured


@dataclass(frozen=True)
class FileChange:
    """A document in output.directory and what the run did to it: new, changed or unchanged."""

    name: str
    status: Literal["new", "changed", "unchanged"]

    def to_json(self) -> dict[str, str]:
        """This file change as docs/json.md's `sync --json` documents it."""
        return {"name": self.name, "status": self.status}


def render_all(cfg: Config, directory: Directory | None) -> dict[str, Document]:
    """File name -> document (text and warnings) for each document the config has a section for."""
    return {doc.file: doc.render(cfg, directory) for doc in configured(cfg)}


def compare(out_dir: Path, docs: dict[str, str]) -> list[FileChange]:
    changes = []
    for name, content in sorted(docs.items()):
        f = out_dir / name
        try:
            old = read_nofollow(f)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, None):
                raise OutputError(f"output.directory: cannot read {f} ({exc.strerror})") from exc
            old = b""  # a symlink or a non-regular file: never read through, replaced
        if old is None:
            changes.append(FileChange(name, "new"))
            continue
        # Bytes, not text: a file someone saved in another encoding is simply "changed".
        changes.append(FileChange(name, "unchanged" if old == content.encode("utf-8") else "changed"))
    return changes


def as_written(out_dir: Path, written: Mapping[str, str]) -> bool:
    """Each file (name -> SHA-256) is in ``out_dir`` as it was written (no symlink followed)."""
    for name, sha in written.items():
        try:
            data = read_nofollow(out_dir / name)
        except OSError:
            return False
        if data is None or hashlib.sha256(data).hexdigest() != sha:
            return False
    return True


def write(out_dir: Path, docs: dict[str, str], changes: list[FileChange]) -> None:
    """Write the documents that are new or changed; leave unchanged ones untouched. Temp files
    a killed run left behind (``.<name>.XXXX``) are removed first."""
    for name in docs:
        remove_stale_temps(out_dir / name)
    for n, c in enumerate([c for c in changes if c.status != "unchanged"]):
        if n:
            faults.point("documents")
        write_atomic(out_dir / c.name, docs[c.name].encode("utf-8"), 0o644, key="output.directory")
