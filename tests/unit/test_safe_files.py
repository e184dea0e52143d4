"""Files dirkit writes as root in directories others may write (issue 19, item 2): a local user
who swaps the temp file for a symlink must not make root chmod or write another file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dirkit import _metrics as metrics
from dirkit._outputs import files
from dirkit._safe_files import read_nofollow, write_atomic
from dirkit.errors import OutputError

# The attacker: another process that, as fast as it can, replaces every temp file it sees in
# the directory by a symlink to the secret (what a user with write access there can do).
ATTACKER = """
import os, sys
d, secret = sys.argv[1], sys.argv[2]
while True:
    for name in os.listdir(d):
        if name.startswith(".") and not os.path.islink(os.path.join(d, name)):
            p = os.path.join(d, name)
            try:
                os.unlink(p)
                os.symlink(secret, p)
            except OSError:
                pass
"""


def _race(tmp_path: Path, write: Callable[[], None], seconds: float = 4.0) -> Path:
    """Run ``write()`` again and again for ``seconds`` against the attacker; return the secret."""
    secret = tmp_path / "secret"
    secret.write_text("precious\n")
    secret.chmod(0o600)
    d = tmp_path / "shared"
    d.mkdir(exist_ok=True)
    d.chmod(0o1777)
    attacker = subprocess.Popen([sys.executable, "-c", ATTACKER, str(d), str(secret)])
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                write()
            except OutputError:
                pass  # the attacker removed our temp file: the write failed, nothing else happened
            if stat.S_IMODE(secret.stat().st_mode) != 0o600:
                break
    finally:
        attacker.kill()
        attacker.wait()
    return secret


def test_the_metrics_file_cannot_be_used_to_chmod_another_file(tmp_path: Path) -> None:
    prom = tmp_path / "shared" / "dirkit.prom"
    secret = _race(tmp_path, lambda: metrics.write(prom, "dirkit_up 1\n"))
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert secret.read_text() == "precious\n"


def test_an_output_document_cannot_be_used_to_chmod_another_file(tmp_path: Path) -> None:
    out = tmp_path / "shared"
    docs = {"hue.ini": "[desktop]\n"}

    def write() -> None:
        (out / "hue.ini").unlink(missing_ok=True)
        files.write(out, docs, files.compare(out, docs))

    secret = _race(tmp_path, write)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert secret.read_text() == "precious\n"


def test_modes_are_set_on_the_descriptor_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "a", b"x", 0o644)
    finally:
        os.umask(old)
    old = os.umask(0)
    try:
        write_atomic(tmp_path / "b", b"x", 0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temp file left


def test_a_target_that_is_a_symlink_is_replaced_not_written_through(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "core-site.xml").symlink_to(secret)
    with pytest.raises(OSError):
        read_nofollow(out / "core-site.xml")
    docs = {"core-site.xml": "<configuration/>\n"}
    changes = files.compare(out, docs)
    assert [c.status for c in changes] == ["changed"]
    files.write(out, docs, changes)
    assert secret.read_text() == "precious\n"
    assert not (out / "core-site.xml").is_symlink()
    assert (out / "core-site.xml").read_text() == "<configuration/>\n"


def test_a_temp_file_a_killed_run_left_is_removed_by_the_next_write(tmp_path: Path) -> None:
    (tmp_path / ".dirkit.prom.0a1b2c3d.tmp").write_text("half")
    metrics.write(tmp_path / "dirkit.prom", "dirkit_up 1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dirkit.prom"]
