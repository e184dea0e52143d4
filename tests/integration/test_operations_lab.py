"""Operations on the real lab, through the real CLI: a mass deletion held, an approval refused
after the directory changed, the same plan approved by digest and applied; the metrics file
(read back with the Prometheus client's own parser), the notifier's JSON and `history --run N`
after a success, a threshold and a failure; each LDAP search logged as an `ldapsearch` command."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import ldap3
from prometheus_client.parser import text_string_to_metric_families

from dirkit.errors import EXIT_OK, EXIT_SERVICE, EXIT_THRESHOLD
from dirkit_lab import seed

DIRKIT = [sys.executable, "-m", "dirkit._cli"]
USERS = ["dk-op1", "dk-op2"]


def outcome(prom: Path) -> str:
    for family in text_string_to_metric_families(prom.read_text()):
        if family.name == "dirkit_last_run_outcome":
            (name,) = [s.labels["outcome"] for s in family.samples if s.value == 1]
            return name
    raise AssertionError("no dirkit_last_run_outcome in the metrics file")


def held_gauge(prom: Path) -> float:
    for family in text_string_to_metric_families(prom.read_text()):
        if family.name == "dirkit_plan_held":
            return float(family.samples[0].value)
    raise AssertionError("no dirkit_plan_held")


class Cli:
    def __init__(self, config: Path) -> None:
        self.env = {**os.environ, "DIRKIT_CONFIG": str(config)}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*DIRKIT, *args], env=self.env, capture_output=True, text=True, timeout=300)

    def record(self, run_id: int) -> dict[str, Any]:
        r = self("history", "--run", str(run_id), "--json")
        assert r.returncode == EXIT_OK, r.stderr
        return dict(json.loads(r.stdout))

    def last_run(self) -> int:
        return int(json.loads(self("history", "-n", "1", "--json").stdout)[0]["id"])


def test_held_approved_refused_metrics_notifier_and_run_records(
    make_config_file: Any, ad_admin: ldap3.Connection, restore_ad: None, tmp_path: Path
) -> None:
    prom = tmp_path / "textfile" / "dirkit.prom"
    log = tmp_path / "notified.jsonl"
    script = tmp_path / "notify.py"
    script.write_text(f"import sys\nopen({str(log)!r}, 'a').write(sys.stdin.read().strip() + '\\n')\n")
    notify = {"command": [sys.executable, str(script)], "on": ["threshold", "failed", "applied"]}
    cfg = make_config_file(
        safety={"max_removals": 1}, metrics={"textfile": str(prom)}, notify=notify, hdfs=None, output=None
    )
    cli = Cli(cfg)
    dns = [f"CN={u},{seed.HARD_OU}" for u in USERS]
    for u, dn in zip(USERS, dns, strict=True):
        assert ad_admin.add(dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": u})

    # A success.
    assert cli("sync").returncode == EXIT_OK
    ok_run = cli.last_run()
    assert outcome(prom) == "applied" and held_gauge(prom) == 0
    rec = cli.record(ok_run)["record"]
    assert rec["read"]["kind"] == "full" and rec["read"]["searches"] > 0 and rec["applied"] is True

    # A mass deletion (two users: over max_removals = 1): held, nothing applied.
    for dn in dns:
        assert ad_admin.delete(dn)
    r = cli("sync")
    assert r.returncode == EXIT_THRESHOLD and "dirkit approve" in r.stderr
    held_run = cli.last_run()
    rec = cli.record(held_run)
    digest = rec["record"]["held"]
    assert rec["outcome"] == "threshold" and rec["record"]["plan"]["counts"]["user_removed"] == 2
    assert outcome(prom) == "threshold" and held_gauge(prom) == 1
    plan = json.loads(cli("plan", "--json").stdout)
    assert [h["digest"] for h in plan["held"]] == [digest] and plan["digest"] == digest
    assert digest[:12] in cli("history").stdout

    # The directory changes: the approval of the old plan is refused, nothing applied.
    extra = f"CN=dk-op3,{seed.HARD_OU}"
    assert ad_admin.add(extra, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": "dk-op3"})
    r = cli("approve", digest[:12])
    assert r.returncode == EXIT_THRESHOLD and "approval refused" in r.stderr
    assert "dk-op1" in cli("snapshot", "--from-state").stdout  # still in the applied state

    # Back to the held plan: the approval applies exactly it.
    assert ad_admin.delete(extra)
    r = cli("approve", digest[:12], "--json")
    assert r.returncode == EXIT_OK, r.stderr
    applied = json.loads(r.stdout)
    assert applied["applied"] and applied["digest"] == digest
    assert cli.record(applied["run_id"])["record"]["approved"] == digest
    assert "dk-op1" not in cli("snapshot", "--from-state").stdout
    assert outcome(prom) == "applied" and held_gauge(prom) == 0

    # A failure: no DC answers.
    bad = make_config_file(
        "bad.toml",
        ldap={"urls": ["ldaps://dc1.ad.dirkit.test:6360"]},
        metrics={"textfile": str(prom)},
        notify=notify,
        hdfs=None,
        output=None,
        state={"path": str(tmp_path / "state.sqlite")},
    )
    r = Cli(bad)("sync")
    assert r.returncode == EXIT_SERVICE
    assert outcome(prom) == "failed"
    failed = Cli(bad).record(Cli(bad).last_run())
    assert failed["outcome"] == "failed" and "6360" in failed["message"]

    docs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [d["outcome"] for d in docs] == ["applied", "threshold", "threshold", "applied", "failed"]
    assert docs[1]["held"] == digest and docs[2]["message"].startswith("approval refused")
    assert "Passw0rd" not in log.read_text() and "Passw0rd" not in prom.read_text()


def test_verbose_logs_each_search_as_an_ldapsearch_command(make_config_file: Any, lab_status: dict[str, Any]) -> None:
    cli = Cli(make_config_file(hdfs=None, output=None))
    r = cli("--log-format", "json", "-v", "plan")
    lines = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    commands = [line["command"] for line in lines if line.get("event") == "ldap_search"]
    assert commands, r.stderr[-2000:]
    argv = shlex.split(commands[0])
    assert argv[:3] == ["ldapsearch", "-H", "ldaps://dc1.ad.dirkit.test:636"] and "-Y" in argv
    # The same search, run with OpenLDAP's ldapsearch and the lab's keytab, answers.
    env = {**os.environ, "LDAPTLS_CACERT": lab_status["ca_cert"], "KRB5CCNAME": f"FILE:{lab_status['lab_dir']}/cc/t"}
    subprocess.run(
        ["kinit", "-k", "-t", lab_status["keytabs"]["svc-dirkit"], lab_status["principals"]["sync"]],
        env=env,
        check=True,
    )
    done = subprocess.run([*argv, "-Q"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "numEntries" in done.stdout or "# search result" in done.stdout
