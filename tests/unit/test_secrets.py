"""Secrets stay private: files holding them are 0600 whatever the umask, child processes get
no secret from the environment, errors never repeat a secret command's arguments."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from seed_fixture import seed_config

from dirkit import Dirkit
from dirkit._api import write_document
from dirkit._verify.checks import probe_env
from dirkit.errors import SecretError


def test_revealed_kerberos_attributes_are_written_0600_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIRKIT_TEST_KDC_PW", "kdc-S3cret")
    monkeypatch.setenv("DIRKIT_TEST_XREALM_PW", "xrealm-S3cret")
    monkeypatch.setenv("DIRKIT_TEST_JOIN_PW", "join-S3cret")
    kit = Dirkit(seed_config(state={"path": str(tmp_path / "s.sqlite")}))
    old = os.umask(0o077)
    try:
        write_document(kit.kerberos_attributes(reveal_secrets=True), tmp_path / "attrs.json")
        write_document(kit.kerberos_attributes(), tmp_path / "refs.json")
    finally:
        os.umask(old)
    assert "kdc-S3cret" in (tmp_path / "attrs.json").read_text()
    assert stat.S_IMODE((tmp_path / "attrs.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "refs.json").stat().st_mode) == 0o644  # references only


def test_hive_probe_gets_no_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIRKIT_BIND_PASSWORD", "S3cret")
    monkeypatch.setenv("KRB5_CONFIG", "/etc/krb5.conf")
    env = probe_env("FILE:/tmp/cc")
    assert env["KRB5CCNAME"] == "FILE:/tmp/cc" and env["KRB5_CONFIG"] == "/etc/krb5.conf"
    assert "S3cret" not in env.values() and "DIRKIT_BIND_PASSWORD" not in env


def test_a_secret_command_that_times_out_does_not_repeat_its_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    from dirkit import _config as config

    monkeypatch.setattr(config, "SECRET_COMMAND_TIMEOUT", 0.2)
    ref = config.SecretRef("command:/bin/sh -c 'sleep 5' S3cret")
    with pytest.raises(SecretError, match="did not finish within") as exc:
        ref.resolve()
    assert "S3cret" not in str(exc.value) and exc.value.__cause__ is None
