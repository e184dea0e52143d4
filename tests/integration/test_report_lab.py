"""`dirkit report` on the lab after a sync (issue 24, first part): every seed user with the role
the seed scenario expects per bucket, from the same decisions as `dirkit emr explain`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
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


REVOKED = "revokeme1"
PASSWORD = "Revoke-Me-2026!x"


def test_a_disabled_user_is_proven_out_and_at_shows_the_access_they_had(
    make_config: Any, ad_admin: Any, restore_ad: None, superfs: Any, tmp_path: Path
) -> None:
    # Issue 24's revocation proof, for real: a user who really had access (a ticket through the
    # trust, their HDFS home, a HiveServer2 session) is disabled in AD; after a sync,
    # `verify --revoked` shows AD, the NameNode and HiveServer2 all refusing them, `--at` a time
    # before shows their old role, and `--since` lists them as revoked with the proof.
    import ldap3

    from dirkit import Dirkit
    from dirkit_lab import seed

    dn = f"CN={REVOKED},{seed.USERS_CN}"
    assert ad_admin.add(dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": REVOKED})
    pw = f'"{PASSWORD}"'.encode("utf-16-le")
    assert ad_admin.modify(dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [pw])]}), ad_admin.result
    assert ad_admin.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [512])]}), ad_admin.result
    group = f"CN=grp_data_engineering,{seed.USERS_CN}"
    assert ad_admin.modify(group, {"member": [(ldap3.MODIFY_ADD, [dn])]}), ad_admin.result
    secret = tmp_path / "revoked.password"
    secret.write_text(PASSWORD)
    secret.chmod(0o600)
    base = make_config()
    assert base.verify is not None
    users = [u.model_dump(mode="json", exclude_none=True) for u in base.verify.users]
    kit = Dirkit(make_config(verify={"users": [*users, {"name": REVOKED, "password": f"file:{secret}"}]}))
    try:
        kit.sync()
        # The node's SSSD may still be offline after an earlier test restarted the DCs (it then
        # answers "no such user" for anyone not cached, for a while): the node check waits for it.
        from dirkit_lab import Lab, host, sssd

        paths = Lab().paths
        host.wait_until(lambda: sssd.query(paths, "id", REVOKED).returncode == 0, 120, f"the node to see {REVOKED}", 1)
        [had] = kit.verify([REVOKED])
        assert had.ok and {c.name: c.status for c in had.checks}["hive"] == "pass", had.to_json()
        before = time.time()
        time.sleep(1.1)
        assert ad_admin.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [514])]}), ad_admin.result
        kit.sync()

        [proof] = kit.verify_revoked(since=before)
        checks = {c.name: c for c in proof.checks}
        assert proof.user == REVOKED and proof.ok, proof.to_json()
        assert checks["ad"].status == "pass" and "ACCOUNTDISABLE" in checks["ad"].detail  # AD's own answer
        assert checks["kerberos"].status == "pass" and "disabled or locked out" in checks["kerberos"].detail
        # No ticket of theirs to present: a ticketless request proves nothing, so none is made.
        assert checks["hdfs"].status == "skip" and checks["hive"].status == "skip"

        # Issue 31, item 1 on the lab: without credentials in [[verify.users]], "denied" rests on
        # AD's answer alone; an ENABLED user without credentials is never "denied".
        from dirkit._report import Revoked
        from dirkit._verify.revoked import denied, prove

        bare = Dirkit(make_config())  # the lab's [[verify.users]]: no credentials for REVOKED
        gone_user = next(r for r in bare.revoked(before) if r.name == REVOKED)
        [no_creds] = prove(bare.config, [gone_user], bare._account_states([gone_user.guid]))
        assert denied(no_creds) and {c.name: c.status for c in no_creds.checks}["kerberos"] == "skip"
        d = bare.last_snapshot()
        enabled = d.user_by_name("cycleuser1")  # enabled, no credentials in [[verify.users]]
        assert enabled is not None
        who = Revoked(enabled.guid, "cycleuser1", "cycleuser1", "removed")
        [not_out] = prove(bare.config, [who], bare._account_states([enabled.guid]))
        assert not denied(not_out) and not_out.checks[0].detail.startswith("NOT denied: AD has cycleuser1 enabled")
        # A wrong password proves nothing: the real KDC checks pre-authentication before the
        # account's state, so its refusal would be the same for an enabled user (bad_key).
        wrong = tmp_path / "wrong.password"
        wrong.write_text("not-the-password-1!")
        wrong.chmod(0o600)
        guessing = Dirkit(make_config(verify={"users": [*users, {"name": REVOKED, "password": f"file:{wrong}"}]}))
        [guess] = prove(guessing.config, [gone_user], guessing._account_states([gone_user.guid]))
        ticket = next(c for c in guess.checks if c.name == "kerberos")
        assert ticket.status == "fail" and ticket.detail.startswith("not proven:"), ticket.detail

        role = f"{ARN}/dirkit-data-engineering"
        old = {(u.name, a.prefix): a.role for u in kit.report(at=before).users for a in u.access}
        assert old[(REVOKED, "s3://dirkit-data-engineering/")] == role
        now = kit.report(since=before)
        assert not next(u for u in now.users if u.name == REVOKED).enabled
        assert now.changes is not None
        [gone] = now.changes.revoked
        assert (gone.name, gone.why) == (REVOKED, "disabled")
        assert gone.proof is not None and gone.proof.denied
    finally:
        superfs.call("DELETE", f"/user/{REVOKED}", "DELETE", recursive="true")


def test_the_lab_report_in_a_browser(
    make_config_file: Any, tmp_path: Path, browser: Any, hdfs_scratch: str, superfs: Any
) -> None:
    # The "done when" of issue 24: after a sync, the HTML report shows every seed user with the
    # role the seed scenario expects per bucket. Homes under a fresh prefix: this state makes
    # them (the lab's /user holds homes other states made, which are not this one's).
    from selenium.webdriver.common.by import By
    from test_report_browser import ARTIFACTS, open_page, requests_made, rows

    prefix = f"{hdfs_scratch}/user"
    superfs.mkdirs(prefix, "755")
    yarn = {
        "queues": {"root.default": 50, "root.eng": 50},
        "mappings": [{"queue": "root.eng", "groups": ["grp_data_engineering"]}],
    }
    cfg = make_config_file(hdfs={"prefix": prefix}, yarn=yarn)
    cli = [sys.executable, "-m", "dirkit._cli"]
    assert subprocess.run([*cli, "-q", "sync", "-c", str(cfg)], capture_output=True, timeout=300).returncode == 0
    page = tmp_path / "report.html"
    r = subprocess.run(
        [*cli, "report", "-c", str(cfg), "--format", "html", "--out", str(page)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    open_page(browser, page)
    heads = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#users-table thead th")]
    users = {row[0]: row for row in rows(browser, "users-table")}
    for bucket in ("s3://dirkit-data-engineering/", "s3://dirkit-default-bucket/"):
        col = heads.index(bucket)
        assert users["admin1"][col] == "dirkit-admin1 #0"
        assert users["dataeng1"][col] == "dirkit-data-engineering #1"
    assert users["datascientist1"][heads.index("s3://dirkit-default-bucket/")] == "dirkit-default-bucket #2"
    assert users["datascientist1"][heads.index("s3://dirkit-data-engineering/")] == "EMR_EC2_DefaultRole"
    assert "grp_mixed" in users["admin1"][heads.index("name on the nodes")]  # shown as its SID on the nodes
    assert "dataeng1:dataeng1 750" in users["dataeng1"][heads.index("HDFS home")]
    # Issue 36: each user's YARN queue, with the mapping that decides it.
    assert users["dataeng1"][heads.index("YARN queue")] == "root.eng #0"
    assert users["admin1"][heads.index("YARN queue")] == "root.default"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "report-lab.png"))
    assert requests_made(browser) == ([page.as_uri()], [])
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
