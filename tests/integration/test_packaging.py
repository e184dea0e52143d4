"""`pip install .` with the pip a fresh Debian 12 venv has (23.x) gives a working dirkit,
HiveServer2 client included (that pip ignored PyHive's extra under its normalised name)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_install_with_a_stock_pip(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([venv / "bin" / "pip", "--version"], capture_output=True, text=True, check=True).stdout
    assert pip.startswith("pip 23."), pip  # Debian 12's own pip, not upgraded
    r = subprocess.run(
        [venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", str(REPO)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    probe = "import thrift, thrift_sasl, puresasl, pyhive.hive, dirkit._cli; print('ok')"
    r = subprocess.run([venv / "bin" / "python", "-c", probe], capture_output=True, text=True)
    assert r.stdout.strip() == "ok", r.stderr
    r = subprocess.run([venv / "bin" / "dirkit", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "dirkit" in r.stdout
