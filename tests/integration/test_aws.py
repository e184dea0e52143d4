"""`dirkit emr cloudformation | apply | diff` through the real CLI.

AWS itself cannot be reached from these machines. The stand-in is moto's server: a real HTTP
server speaking the EMR and IAM APIs, started here as its own process on a local port, reached
the way any endpoint is (AWS_ENDPOINT_URL). The template is checked by cfn-lint, AWS's own
CloudFormation linter with the resource schemas.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import tomllib

from dirkit.errors import EXIT_CHANGES, EXIT_OK

DIRKIT = [sys.executable, "-m", "dirkit._cli"]
ACCOUNT = "111122223333"  # the lab config's account
EC2_ROLE = "EMR_EC2_DefaultRole"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = _free_port()
    log = (tmp_path / "moto.log").open("wb")
    env = {**os.environ, "MOTO_ACCOUNT_ID": ACCOUNT}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto's server did not start: {(tmp_path / 'moto.log').read_text()[-500:]}")
            time.sleep(0.2)
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
    }.items():
        monkeypatch.setenv(k, v)
    yield url
    proc.terminate()
    proc.wait(10)


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIRKIT_CONFIG": str(config)}
    return subprocess.run([*DIRKIT, *args], env=env, capture_output=True, text=True, timeout=120)


def _ec2_role(config: Path) -> None:
    """The cluster's existing EC2 role, trusting EC2 and the mapping roles as `dirkit emr iam` says."""
    iam_docs = json.loads(_cli(config, "emr", "iam").stdout)
    boto3.client("iam").create_role(
        RoleName=EC2_ROLE, AssumeRolePolicyDocument=json.dumps(iam_docs["base_role"]["trust_policy"])
    )


def test_apply_twice_then_a_changed_mapping_gets_a_new_security_configuration(
    make_config_file: Any, moto: str, lab_status: dict[str, Any]
) -> None:
    cfg = make_config_file()
    _ec2_role(cfg)
    dry = _cli(cfg, "emr", "apply", "--dry-run", "--json")
    assert dry.returncode == EXIT_CHANGES, dry.stderr
    kinds = sorted(c["kind"] for c in json.loads(dry.stdout)["changes"])
    assert kinds == ["create_role"] * 3 + ["create_security_configuration", "put_policy"]
    first = _cli(cfg, "emr", "apply", "--json")
    assert first.returncode == EXIT_OK, first.stderr
    name = json.loads(first.stdout)["security_configuration"]
    assert len(json.loads(first.stdout)["applied"]) == 5
    again = _cli(cfg, "emr", "apply", "--json")  # nothing left to do
    assert again.returncode == EXIT_OK and json.loads(again.stdout)["applied"] == []
    assert _cli(cfg, "emr", "apply", "--dry-run").returncode == EXIT_OK
    iam = boto3.client("iam")
    tags = iam.list_role_tags(RoleName="dirkit-admin1")["Tags"]
    assert {"Key": "managed-by", "Value": "dirkit"} in tags

    # A changed role mapping: a new, content-named security configuration; the old one stays.
    emr = tomllib.loads(Path(lab_status["config"]).read_text())["emr"]
    emr["role_mappings"][0]["users"] = ["admin1", "dataeng1"]
    changed = make_config_file("changed.toml", emr=emr)
    r = _cli(changed, "emr", "apply", "--json")
    assert r.returncode == EXIT_OK, r.stderr
    new_name = json.loads(r.stdout)["security_configuration"]
    assert new_name != name and new_name.startswith("dirkit-")
    assert [c["kind"] for c in json.loads(r.stdout)["applied"]] == ["create_security_configuration"]
    for kept in (name, new_name):  # the old one stays: a running cluster may use it
        assert boto3.client("emr").describe_security_configuration(Name=kept)["Name"] == kept
    doc = json.loads(boto3.client("emr").describe_security_configuration(Name=new_name)["SecurityConfiguration"])
    mapping = doc["AuthorizationConfiguration"]["EmrFsConfiguration"]["RoleMappings"][0]
    assert mapping["Identifiers"] == ["admin1", "dataeng1"]
    assert "Passw0rd" not in json.dumps(doc) and "CrossRealm!" not in json.dumps(doc)


def test_diff_reports_a_role_edited_behind_dirkits_back(make_config_file: Any, moto: str) -> None:
    cfg = make_config_file()
    _ec2_role(cfg)
    assert _cli(cfg, "emr", "apply").returncode == EXIT_OK
    assert _cli(cfg, "emr", "diff").returncode == EXIT_OK  # nothing drifted
    iam = boto3.client("iam")
    evil = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.update_assume_role_policy(RoleName="dirkit-admin1", PolicyDocument=json.dumps(evil))
    # A role dirkit did not create, also edited: reported, never changed.
    iam.create_role(RoleName="dirkit-data-engineering-x", AssumeRolePolicyDocument=json.dumps(evil))
    diff = _cli(cfg, "emr", "diff", "--json")
    assert diff.returncode == EXIT_CHANGES
    (change,) = json.loads(diff.stdout)["changes"]
    assert (change["kind"], change["target"]) == ("update_trust", "dirkit-admin1")
    assert "999999999999" in change["diff"]
    assert "999999999999" in _cli(cfg, "emr", "diff").stdout  # the text form shows the diff too
    assert _cli(cfg, "emr", "apply").returncode == EXIT_OK  # puts it back: the role is dirkit's
    assert _cli(cfg, "emr", "diff").returncode == EXIT_OK


def test_a_role_dirkit_did_not_create_is_reported_never_changed(make_config_file: Any, moto: str) -> None:
    cfg = make_config_file()
    _ec2_role(cfg)
    foreign = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam = boto3.client("iam")
    iam.create_role(RoleName="dirkit-admin1", AssumeRolePolicyDocument=json.dumps(foreign))  # someone else's
    r = _cli(cfg, "emr", "apply", "--json")
    assert r.returncode == EXIT_OK, r.stderr
    reported = [c for c in json.loads(r.stdout)["changes"] if c["target"].startswith("dirkit-admin1")]
    assert reported and all(not c["action"] for c in reported)
    trust = iam.get_role(RoleName="dirkit-admin1")["Role"]["AssumeRolePolicyDocument"]
    assert "ec2.amazonaws.com" in json.dumps(trust)  # untouched


def test_the_lab_configs_template_passes_cfn_lint(make_config_file: Any, tmp_path: Path) -> None:
    out = tmp_path / "dirkit-emr.json"
    r = _cli(make_config_file(), "emr", "cloudformation", "--out", str(out))
    assert r.returncode == EXIT_OK, r.stderr
    template = json.loads(out.read_text())
    assert {r["Type"] for r in template["Resources"].values()} == {
        "AWS::EMR::SecurityConfiguration",
        "AWS::IAM::Role",
        "AWS::IAM::RolePolicy",
    }
    assert "Passw0rd" not in out.read_text() and "CrossRealm!" not in out.read_text()
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(out)], capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr  # no errors and no warnings
