"""Lint and format are part of the suite: ruff's own verdict, configured in pyproject.toml."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ruff_lint_is_clean() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "dirkit", "lab", "tests", "bench"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format_is_clean() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "dirkit", "lab", "tests", "bench"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_formatter_is_not_switched_off() -> None:
    marked = [
        str(f)
        for d in ("dirkit", "lab", "tests", "bench")
        for f in (REPO / d).rglob("*.py")
        if "fmt: " + "skip" in f.read_text()
    ]
    assert marked == [], "ruff format owns the layout; remove the markers"
