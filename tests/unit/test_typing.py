"""The package is typed (py.typed): mypy --strict must stay clean, the lab and the benchmarks included."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_mypy_strict_is_clean() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "dirkit", "lab/dirkit_lab", "bench"], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_typo_in_a_closed_vocabulary_fails_the_type_check(tmp_path: Path) -> None:
    # Issue 32, item 5: kinds, statuses, outcomes and Kerberos reasons are Literals, so a typo
    # such as one in revoked.py's DENIED set is a mypy error, not a verdict that silently differs.
    snippet = tmp_path / "typo.py"
    snippet.write_text(
        "from dirkit.errors import KerberosReason\n"
        "from dirkit._verify.checks import Check\n"
        "from dirkit._homes.plan import HomeAction\n"
        'DENIED: frozenset[KerberosReason] = frozenset({"revokd"})\n'
        'c = Check("hdfs", "passed", "")\n'
        'a = HomeAction("crate", "u", "/user/u")\n'
    )
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(snippet)], cwd=REPO, capture_output=True, text=True
    )
    assert r.returncode == 1 and r.stdout.count("error:") == 3, r.stdout
