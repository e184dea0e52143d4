"""`dirkit report` on the lab after a sync (issue 24, first part): every seed user with the role
the seed scenario expects per bucket, from the same decisions as `dirkit emr explain`."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from dirkit_lab.config import LAB_ACCOUNT

pytestmark = pytest.mark.lab
ARN = f"arn:aws:iam::{LAB_ACCOUNT}:role"


def test_the_report_shows_the_seed_scenarios_roles(make_config_file: Any, tmp_path: Any) -> None:
    cfg = make_config_file()
    cli = [sys.executable, "-m", "dirkit._cli"]
    assert subprocess.run([*cli, "-q", "sync", "-c", str(cfg)], capture_output=True, timeout=300).returncode == 0
    out = tmp_path / "access.json"
    r = subprocess.run([*cli, "report", "-c", str(cfg), "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["prefixes"] == ["s3://dirkit-data-engineering/", "s3://dirkit-default-bucket/"]
    role = {(u["name"], a["prefix"]): a["role"] for u in data["users"] for a in u["access"]}
    for bucket in data["prefixes"]:
        assert role[("admin1", bucket)] == f"{ARN}/dirkit-admin1"  # the user mapping comes first
        assert role[("dataeng1", bucket)] == f"{ARN}/dirkit-data-engineering"  # through grp_data_engineering
    assert role[("datascientist1", "s3://dirkit-default-bucket/")] == f"{ARN}/dirkit-default-bucket"
    assert role[("datascientist1", "s3://dirkit-data-engineering/")].endswith("EMR_EC2_DefaultRole")
    assert data["evidence"]["dc"].startswith("ldaps://") and data["evidence"]["usn"] > 0
    users = {u["name"]: u for u in data["users"]}
    assert users["admin1"]["cluster"]["unresolved_groups"] == ["grp_mixed"]  # the nodes' view, as in #23
