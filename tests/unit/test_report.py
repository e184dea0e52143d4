"""`dirkit report` from an in-memory directory (issue 24, first part): the roles per user and
prefix are explain's, the JSON carries its evidence, the CSV reads back with the csv module."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from memory_hdfs import MemoryHdfs
from seed_fixture import ACCOUNT, seed_directory
from test_sync_outcomes import HDFS, kit, without_users

from dirkit import AccessReport, MemorySource
from dirkit import _cli as cli
from dirkit._cli import main
from dirkit._plan import content_digest
from dirkit.errors import NotFoundError, UsageError

ARN = f"arn:aws:iam::{ACCOUNT}:role"


def test_the_report_gives_each_user_the_role_explain_gives(tmp_path: Path) -> None:
    k = kit(
        tmp_path, MemorySource(seed_directory()), report={"s3_paths": ["s3://dirkit-default-bucket/x/", "s3://other/"]}
    )
    run_id = k.sync().run_id
    report = k.report()
    data = report.to_json()
    assert data["format"] == "dirkit.report/1" and data["prefixes"] == ["s3://dirkit-default-bucket/x/", "s3://other/"]
    ev = data["evidence"]
    assert ev["run_id"] == run_id and ev["snapshot_digest"] == content_digest(k.last_snapshot())
    assert ev["dirkit_version"] and ev["generated"].endswith("Z")
    users = {u["name"]: u for u in data["users"]}
    for name, prefix in (("dataeng1", "s3://other/"), ("datascientist1", "s3://dirkit-default-bucket/x/")):
        (got,) = [a for a in users[name]["access"] if a["prefix"] == prefix]
        assert got["role"] == k.explain(name, prefix, from_state=True).role
    assert users["dataeng1"]["access"][0]["role"] == f"{ARN}/dirkit-data-engineering"
    (other,) = [a for a in users["datascientist1"]["access"] if a["prefix"] == "s3://other/"]
    assert other["mapping_index"] is None  # no mapping: the EC2 role's own rights
    assert {"group": "grp_analytics", "via": ["grp_data_science", "grp_analytics"]} in users["datascientist1"]["groups"]
    # The names Hadoop (auth_to_local of sAMAccountName@REALM) and Hue (sAMAccountName, lower case) see.
    assert (users["dataeng1"]["hadoop_name"], users["dataeng1"]["hue_name"]) == ("dataeng1", "dataeng1")
    roles = {r["role"]: r["grants"] for r in data["roles"]}
    assert {"user": "admin1", "prefix": "s3://other/", "mapping_index": 0} in roles[f"{ARN}/dirkit-admin1"]
    groups = {g["group"]: g for g in data["groups"]}
    assert groups["grp_analytics"]["direct_members"] == [] and groups["grp_analytics"]["effective_members"] == [
        "datascientist1"
    ]


def test_the_cli_writes_json_and_csv_and_prints_their_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    k = kit(tmp_path, MemorySource(seed_directory()))
    k.sync()
    monkeypatch.setattr(cli, "_kit", lambda path: k)  # the in-memory directory, not a config file's AD
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    r = CliRunner().invoke(main, ["report", "--out", str(out_json)])
    assert r.exit_code == 0, r.output
    assert f"sha256 {hashlib.sha256(out_json.read_bytes()).hexdigest()}  {out_json}" in r.output
    data = json.loads(out_json.read_text())
    r = CliRunner().invoke(main, ["report", "--format", "csv", "--out", str(out_csv)])
    assert r.exit_code == 0, r.output
    text = out_csv.read_text()
    assert text.startswith("# as_of: \n# dc: ")  # the evidence first (None: empty)
    rows = list(csv.DictReader(io.StringIO("".join(ln for ln in text.splitlines(True) if not ln.startswith("#")))))
    assert len(rows) == sum(len(u["access"]) for u in data["users"])
    (row,) = [x for x in rows if x["user"] == "dataeng1"]
    assert row["role"] == f"{ARN}/dirkit-data-engineering" and "grp_data_engineering" in row["groups"].split(";")


def test_at_reports_the_past_and_since_lists_who_gained_lost_and_was_revoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 24: `--at` on a date before a change shows the old access; `--since` who changed.
    # The state's clock, moved a day forward by hand: retention and --at work in days, and a
    # test cannot wait one.
    clock = [1_790_000_000.0]
    monkeypatch.setattr("dirkit._state.time.time", lambda: clock[0])
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, MemoryHdfs("/user"), report={"s3_paths": ["s3://other/"]})
    k.sync()
    before = clock[0] + 60
    clock[0] += 86400
    source.directory = without_users(seed_directory(), "dataeng1")
    k.sync(allow_removals=True)
    old, new = k.report(at=before), k.report()
    role = f"{ARN}/dirkit-data-engineering"
    assert ("dataeng1", "s3://other/") in {(g[0], g[1]) for g in old.roles[role]}
    assert ("dataeng1", "s3://other/") not in {(g[0], g[1]) for g in new.roles.get(role, ())}
    assert old.evidence["as_of"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(before))
    assert old.evidence["snapshot_digest"] != new.evidence["snapshot_digest"]
    ch = k.report(since=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(before))).changes
    assert ch is not None
    assert [(r.name, r.why) for r in ch.revoked] == [("dataeng1", "removed")]
    assert k.revoked(before) == ch.revoked
    assert ch.roles[role][1] == (("dataeng1", "s3://other/"),)  # lost
    assert "dataeng1" in ch.groups["grp_data_engineering"][1]
    homes = {u.name: u.home_state for u in old.users}
    assert homes["dataeng1"] is not None and (homes["dataeng1"].owner, homes["dataeng1"].mode) == ("dataeng1", "750")
    with pytest.raises(NotFoundError, match="no snapshot was applied by"):
        k.report(at="2020-01-01")
    with pytest.raises(UsageError, match="--at 'yesterday': not a date"):
        k.report(at="yesterday")


def test_html_escapes_what_ad_says(tmp_path: Path) -> None:
    # A hostile group name is text in the page, never markup (the CSP would refuse a script anyway).
    from dirkit._report import AccessReport
    from dirkit._report_html import render

    evil = '<script>alert(1)</script>"'
    page = render(AccessReport({"generated": evil}, (), (), {}, {evil: ((evil,), (evil,))}, ((evil, "g"),)))
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in page


def test_the_json_written_a_user_at_a_time_is_the_json_of_the_whole(tmp_path: Path) -> None:
    # The CLI streams the JSON (json_chunks): it must be byte for byte what json.dumps gives.
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, report={"s3_paths": ["s3://dirkit-default-bucket/x/", "s3://other/"]})
    k.sync()
    r = k.report()
    whole = json.dumps(r.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert "".join(r.json_chunks()) == whole
    empty = AccessReport({"generated": "x"}, (), (), {}, {})
    assert "".join(empty.json_chunks()) == json.dumps(empty.to_json(), indent=2, sort_keys=True) + "\n"


def test_the_cli_refuses_contradictory_options_with_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    k = kit(tmp_path, MemorySource(seed_directory()))
    k.sync()
    monkeypatch.setattr(cli, "_kit", lambda path: k)  # the in-memory directory, not a config file's AD
    for argv, says in (
        (["report", "--fresh", "--at", "2026-01-01"], "give one of them"),
        (["report", "--at", "last tuesday"], "not a date"),
        (["verify", "--since", "2026-01-01"], "--since goes with --revoked"),
    ):
        r = CliRunner().invoke(main, argv)
        assert r.exit_code == UsageError.exit_code and says in r.output, (argv, r.output)
        assert "Traceback" not in r.output
    # The API refuses it too (issue 32, item 4: `at` won over from_state=False silently).
    with pytest.raises(UsageError, match="give one of them"):
        k.report(from_state=False, at="2026-01-01")


def _refusing_namenode_and_closing_hive() -> tuple[Any, int, Any]:
    """A stand-in NameNode that answers 401 to everything (as any SPNEGO NameNode does to a
    request without a ticket) and a port that accepts and closes at once (a Hive that says nothing)."""
    import http.server
    import socket
    import threading

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", "Negotiate")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    nn = http.server.HTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=nn.serve_forever, daemon=True).start()
    hive = socket.socket()
    hive.bind(("127.0.0.1", 0))
    hive.listen()

    def close_all() -> None:
        while True:
            try:
                conn, _ = hive.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=close_all, daemon=True).start()
    return nn, hive.getsockname()[1], hive


def test_an_enabled_user_without_credentials_is_never_denied(tmp_path: Path) -> None:
    # Issue 31, item 1, reproduced: dataeng1 is ENABLED; no credentials in [[verify.users]]; a
    # NameNode answering 401 and a Hive that closes. kerberos skip, hdfs pass, hive pass ->
    # denied() was True, a green "denied" for a user who can log in.
    from dirkit._report import Revoked
    from dirkit._verify.revoked import denied, prove

    nn, hive_port, hive = _refusing_namenode_and_closing_hive()
    try:
        source = MemorySource(seed_directory())
        k = kit(
            tmp_path,
            source,
            hdfs={**HDFS, "url": f"http://127.0.0.1:{nn.server_port}/webhdfs/v1", "allow_insecure_http": True},
            verify={"service_principal": "HTTP/x@EMR.DIRKIT.TEST", "hive": {"host": "127.0.0.1", "port": hive_port}},
        )
        who = [Revoked("guid-dataeng1", "dataeng1", "dataeng1", "removed")]
        [report] = prove(k.config, who, k._account_states(["guid-dataeng1"]))
        checks = {c.name: c for c in report.checks}
        assert checks["ad"].status == "fail" and checks["ad"].detail.startswith("NOT denied: AD has dataeng1 enabled")
        assert checks["kerberos"].status == "skip" and "no credentials for dataeng1" in checks["kerberos"].detail
        assert checks["hdfs"].status == "skip" and checks["hive"].status == "skip"  # ticketless: proves nothing
        assert not denied(report)
        # Disabled in AD: denied on AD's own evidence, and the verdict says it rests on that alone.
        from dirkit._verify.revoked import proof

        source.directory = without_users(seed_directory(), "nobody1")  # "disabled1" is disabled in the seed
        [report] = prove(
            k.config,
            [Revoked("guid-disabled1", "disabled1", "disabled1", "disabled")],
            k._account_states(["guid-disabled1"]),
        )
        assert denied(report)
        kept = proof(Revoked("guid-disabled1", "disabled1", "disabled1", "disabled"), report, 0.0).to_json()
        assert kept["verdict"] == "denied" and [e["check"] for e in kept["evidence"]] == ["ad"]
        assert "ACCOUNTDISABLE" in kept["evidence"][0]["detail"]
        # AD cannot be asked: not proven, never denied.
        [report] = prove(k.config, who, "no domain controller could be reached")
        assert not denied(report) and report.checks[0].detail.startswith("not proven: AD could not be asked")
    finally:
        nn.shutdown()
        hive.close()


def test_the_report_lists_who_tried_to_take_a_reserved_name_and_gives_them_no_access(tmp_path: Path) -> None:
    from seed_fixture import BASE, _g, _u

    from dirkit._directory.build import build
    from dirkit._directory.names import NamePolicy
    from dirkit._report_html import render

    d = build(
        [_u("dataeng1", 1101), _u("HDFS", 1400)],
        [_g("Domain Users", 513), _g("supergroup", 1401, "dataeng1")],
        NamePolicy(realm="AD.DIRKIT.TEST"),
        [BASE],
    )
    k = kit(tmp_path, MemorySource(d))
    k.sync()
    data = k.report().to_json()
    assert "hdfs" not in {u["name"] for u in data["users"]} and "HDFS" not in {u["name"] for u in data["users"]}
    kinds = {(r["kind"], r["dn"].split(",")[0]) for r in data["reserved"]}
    assert kinds == {
        ("reserved_name", "CN=HDFS"),
        ("reserved_name", "CN=supergroup"),
        ("superuser_group", "CN=supergroup"),
    }
    page = render(k.report())
    assert 'id="reserved-table"' in page and "HDFS superusers through it: dataeng1" in page


def _hostile_report(tmp_path: Path) -> AccessReport:
    from seed_fixture import BASE, _g, _u

    from dirkit._directory.build import build
    from dirkit._directory.names import NamePolicy

    d = build(
        [_u("+sum(1)", 1101), _u("alice", 1102)],
        [_g("Domain Users", 513), _g("=1+1", 1401, "+sum(1)"), _g("+cmd", 1402, "alice")],
        NamePolicy(realm="AD.DIRKIT.TEST"),
        [BASE],
    )
    k = kit(tmp_path, MemorySource(d))
    k.sync()
    return k.report()


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO("".join(ln for ln in text.splitlines(True) if not ln.startswith("#")))))


def test_csv_cells_a_spreadsheet_would_evaluate_are_written_inert(tmp_path: Path) -> None:
    # Issue 31, item 4: the names policy allows a leading '=' or '+', and the CSV held them as they are.
    rows = {r["user"]: r for r in _csv_rows(_hostile_report(tmp_path).to_csv())}
    assert set(rows) == {"'+sum(1)", "alice"}
    assert rows["'+sum(1)"]["groups"].startswith("'=1+1;") and rows["alice"]["groups"].startswith("'+cmd;")


SOFFICE = "/usr/bin/soffice"  # Debian's libreoffice-calc-nogui, from scripts/bootstrap.sh


def test_the_csv_opened_by_libreoffice_calc_evaluates_nothing(tmp_path: Path) -> None:
    """The report's CSV through a real spreadsheet engine, formulas evaluated on import (CSV
    filter token 13): every cell comes back as the text dirkit wrote, less the apostrophe."""
    import os
    import shutil
    import subprocess

    if not shutil.which(SOFFICE):
        # In CI bootstrap.sh installs it, so its absence fails the run; a developer who has not
        # run bootstrap.sh gets a skip that says why (as the browser tests do).
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{SOFFICE} is missing (scripts/bootstrap.sh installs libreoffice-calc-nogui)")
        pytest.skip(f"{SOFFICE} is missing (scripts/bootstrap.sh installs it)")
    src = tmp_path / "report.csv"
    text = _hostile_report(tmp_path).to_csv()
    src.write_text("".join(ln for ln in text.splitlines(True) if not ln.startswith("#")))
    out = tmp_path / "out"
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--infilter=CSV:44,34,76,1,,1033,false,false,false,false,false,-1,true",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1,,1033,false,false,true",
            "--outdir",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    calc = {r["user"]: r for r in _csv_rows((out / "report.csv").read_text())}
    wrote = {r["user"]: r for r in _csv_rows(src.read_text())}
    assert calc == wrote  # nothing was evaluated: Calc shows exactly what was written
    assert calc["'+sum(1)"]["groups"].startswith("'=1+1;")
