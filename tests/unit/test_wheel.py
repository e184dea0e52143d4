"""What `pip install dirkit` puts on a cluster node: the product, and no lab (issue 22)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _build(tmp_path: Path) -> zipfile.ZipFile:
    # From a copy of what a clean checkout holds (a stale build/ directory here could leak old files).
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "dirkit", src / "dirkit", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, src],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("dirkit-*.whl")
    return zipfile.ZipFile(wheel)


def test_the_wheel_holds_the_product_and_no_lab(tmp_path: Path) -> None:
    wheel = _build(tmp_path)
    names = wheel.namelist()
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"dirkit"}, packages
    assert "dirkit/py.typed" in names and "dirkit/_cli.py" in names
    assert not [n for n in names if "lab" in Path(n).parts or n.startswith("dirkit_lab")]
    for name in names:
        if name.endswith(".py"):
            text = wheel.read(name).decode()
            # No import of the lab, no lab directory or lab command: the product knows no lab.
            assert not re.search(r"dirkit_lab|DIRKIT_LAB|dirkit-lab|from \.lab|\blab\.Lab\b", text), name
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert wheel.read(entry_points).decode().split() == ["[console_scripts]", "dirkit", "=", "dirkit._cli:main"]
