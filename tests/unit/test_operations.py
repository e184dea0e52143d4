"""Operations without services: held plans approved by digest, the metrics file (parsed by the
Prometheus client library's own parser), the notifier, and the run record behind
`dirkit history --run N`. The lab versions are in tests/integration/test_operations_lab.py."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from seed_fixture import seed_directory
from test_sync_outcomes import kit, without_users

from dirkit import Dirkit, MemorySource
from dirkit._directory.model import Directory
from dirkit._state import HeldPlan
from dirkit.errors import DirectoryUnreachable, NotFoundError, ThresholdError


class Unreachable:
    """A directory source whose DC does not answer."""

    def read(self, usn_quantiles: Any = (), progress: Any = None) -> Directory:
        raise DirectoryUnreachable("ldaps://dc1.example:636: cannot connect")


def metrics(path: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def notifier(tmp_path: Path) -> dict[str, Any]:
    """A real program that appends the JSON it gets on stdin to a file, one line per call."""
    script = tmp_path / "notify.py"
    script.write_text(
        "import json, sys\n"
        f"with open({str(tmp_path / 'notified.jsonl')!r}, 'a') as f:\n"
        "    f.write(json.dumps(json.load(sys.stdin)) + '\\n')\n"
    )
    return {"command": [sys.executable, str(script)], "on": ["threshold", "partial", "failed", "interrupted"]}


def notified(tmp_path: Path) -> list[dict[str, Any]]:
    f = tmp_path / "notified.jsonl"
    return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


def mass_deletion(tmp_path: Path, **sections: Any) -> tuple[Dirkit, MemorySource]:
    """A kit whose first sync applied the seed, and whose directory then lost 3 of 5 users
    (over the default safety limits)."""
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, **sections)
    k.sync()
    source.directory = without_users(seed_directory(), "admin1", "dataeng1", "datascientist1")
    return k, source


def held_plan(tmp_path: Path, **sections: Any) -> tuple[Dirkit, MemorySource, HeldPlan]:
    """The same, after the run that held the mass deletion."""
    k, source = mass_deletion(tmp_path, **sections)
    with pytest.raises(ThresholdError):
        k.sync()
    (held,) = k.held_plans()
    return k, source, held


def test_a_mass_deletion_is_held_then_applied_by_its_digest(tmp_path: Path) -> None:
    k, _ = mass_deletion(tmp_path)
    with pytest.raises(ThresholdError, match=r"is held as [0-9a-f]{12}.*dirkit approve") as exc:
        k.sync()
    (held,) = k.held_plans()
    assert held.digest[:12] in str(exc.value) and held.approved is None
    assert len(k.last_snapshot().users) == 5  # nothing applied
    with pytest.raises(ThresholdError):  # a scheduled run computing the same plan: still held
        k.sync()
    assert len(k.held_plans()) == 1  # the same plan, held once
    result = k.approve(held.digest[:12])
    assert result.applied and result.plan.digest == held.digest
    assert len(k.last_snapshot().users) == 2 and k.held_plans() == []
    record = k.run(result.run_id or 0).record
    assert record["approved"] == held.digest and record["applied"] is True


def test_an_approval_is_refused_when_the_directory_changed_the_plan(tmp_path: Path) -> None:
    k, source, held = held_plan(tmp_path)
    source.directory = without_users(seed_directory(), "admin1", "dataeng1", "datascientist1", "nobody1")
    with pytest.raises(ThresholdError, match="approval refused: the directory has changed the plan"):
        k.approve(held.digest)
    assert len(k.last_snapshot().users) == 5  # still nothing applied
    with pytest.raises(NotFoundError, match="no held plan starts with 'ffffff'"):
        k.approve("ffffff")


def test_an_approval_recorded_is_applied_by_the_next_run_with_the_same_plan(tmp_path: Path) -> None:
    from dirkit._state import StateStore

    k, _, held = held_plan(tmp_path)
    with StateStore(tmp_path / "state.sqlite") as store:  # as `approve` does before its run
        store.approve(held.digest)
    assert k.sync().applied  # the scheduled run, same plan: applied once
    assert k.held_plans() == []


def test_metrics_after_a_success_a_threshold_and_a_failure(tmp_path: Path) -> None:
    prom = tmp_path / "textfile" / "dirkit.prom"
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, metrics={"textfile": str(prom)})
    k.sync()
    m = metrics(prom)
    assert m["dirkit_last_run_outcome"][(("outcome", "applied"),)] == 1
    assert m["dirkit_last_run_outcome"][(("outcome", "failed"),)] == 0
    assert m["dirkit_directory_objects"][(("kind", "users"),)] == 5
    assert m["dirkit_plan_changes"][(("kind", "user_added"),)] == 5
    assert m["dirkit_read_kind"][(("kind", "full"),)] == 1
    success = m["dirkit_last_success_timestamp_seconds"][()]
    assert success > 0 and m["dirkit_plan_held"][()] == 0

    source.directory = without_users(seed_directory(), "admin1", "dataeng1", "datascientist1")
    with pytest.raises(ThresholdError):
        k.sync()
    m = metrics(prom)
    assert m["dirkit_last_run_outcome"][(("outcome", "threshold"),)] == 1
    assert m["dirkit_plan_held"][()] == 1
    assert m["dirkit_last_success_timestamp_seconds"][()] == success

    k.source = Unreachable()
    with pytest.raises(DirectoryUnreachable):
        k.sync()
    m = metrics(prom)
    assert m["dirkit_last_run_outcome"][(("outcome", "failed"),)] == 1
    assert not list(prom.parent.glob(".*tmp"))  # written atomically: no temporary file left


def test_the_notifier_gets_the_record_of_runs_that_need_a_human(tmp_path: Path) -> None:
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, notify=notifier(tmp_path))
    k.sync()
    assert notified(tmp_path) == []  # applied: not asked for
    source.directory = without_users(seed_directory(), "admin1", "dataeng1", "datascientist1")
    with pytest.raises(ThresholdError):
        k.sync()
    (doc,) = notified(tmp_path)
    assert doc["outcome"] == "threshold" and doc["held"] == doc["plan"]["digest"]
    assert doc["plan"]["counts"]["user_removed"] == 3 and "safety threshold" in doc["message"]


def test_a_failing_notifier_never_fails_the_run(tmp_path: Path) -> None:
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, notify={"command": ["/bin/false"], "on": ["applied"], "timeout_seconds": 5})
    assert k.sync().applied
    k2 = kit(tmp_path / "b", source, notify={"command": [str(tmp_path / "missing")], "on": ["applied"]})
    assert k2.sync().applied


def test_a_killed_run_is_notified_as_interrupted(tmp_path: Path) -> None:
    from dirkit._state import StateStore

    k = kit(tmp_path, MemorySource(seed_directory()), notify=notifier(tmp_path))
    with StateStore(tmp_path / "state.sqlite") as store:
        killed = store.start_run("sync")  # never ended: as if killed
    k.sync()
    (doc,) = notified(tmp_path)
    assert (doc["outcome"], doc["run_id"]) == ("interrupted", killed)
    assert k.run(killed).outcome == "interrupted"


def test_the_run_record_says_what_was_read_planned_and_applied(tmp_path: Path) -> None:
    k = kit(tmp_path, MemorySource(seed_directory()))
    run = k.run(k.sync().run_id or 0)
    rec = run.record
    assert rec["read"]["kind"] == "full" and rec["read"]["users"] == 5
    assert rec["plan"]["counts"]["user_added"] == 5 and rec["applied"] is True
    assert run.to_json()["record"] == rec
    with pytest.raises(NotFoundError, match="no run #999"):
        k.run(999)


def test_each_search_can_be_logged_as_an_ldapsearch_command_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    import ldap3
    from seed_fixture import seed_config

    from dirkit._directory.reader import ldapsearch_command

    conn = ldap3.Connection(ldap3.Server("dc1.example", port=636, use_ssl=True, get_info=ldap3.NONE))
    kw = {"search_scope": ldap3.SUBTREE, "attributes": ["sAMAccountName", "member;range=0-*"], "paged_size": 500}
    krb = seed_config().ldap
    cmd = ldapsearch_command(krb, conn, "DC=ad,DC=example", "(&(objectClass=user)(cn=a b))", **kw)
    assert shlex.split(cmd) == [
        "ldapsearch",
        "-H",
        "ldaps://dc1.example:636",
        "-Y",
        "GSSAPI",
        "-N",
        "-O",
        "maxssf=0",
        "-o",
        "SASL_CBINDING=tls-endpoint",
        "-b",
        "DC=ad,DC=example",
        "-s",
        "sub",
        "-a",
        "never",
        "-E",
        "pr=500/noprompt",
        "(&(objectClass=user)(cn=a b))",
        "sAMAccountName",
        "member;range=0-*",
    ]
    monkeypatch.setenv("DIRKIT_TEST_PW", "s3cret-value")
    simple = krb.model_copy(update={"bind": "simple", "bind_dn": "CN=svc,DC=ad", "password": "env:DIRKIT_TEST_PW"})
    cmd = ldapsearch_command(simple, conn, "", "(objectClass=*)", search_scope=ldap3.BASE)
    assert "-x -D CN=svc,DC=ad -W" in cmd.replace("'", "") and "s3cret" not in cmd and "DIRKIT_TEST_PW" not in cmd


def test_without_a_notifier_a_killed_run_is_one_error_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from dirkit._state import StateStore

    k = kit(tmp_path, MemorySource(seed_directory()))
    with StateStore(tmp_path / "state.sqlite") as store:
        killed = store.start_run("sync")
    with caplog.at_level(logging.ERROR, logger="dirkit"):
        k.sync()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["previous_run_interrupted"]
    assert errors[0].__dict__["fields"]["run_id"] == killed  # log.event keeps its fields on the record


def test_a_held_plan_is_settled_by_any_later_applied_run(tmp_path: Path) -> None:
    """Held, then the directory changed so that a smaller plan applies normally: the held plan
    cannot apply any more (its base is gone), so it is no longer shown as held."""
    k, source, _ = held_plan(tmp_path, metrics={"textfile": str(tmp_path / "m.prom")})
    source.directory = without_users(seed_directory(), "nobody1")  # one removal: under the limits
    assert k.sync().applied
    assert k.held_plans() == []
    assert metrics(tmp_path / "m.prom")["dirkit_plan_held"][()] == 0


def test_the_notifier_gets_no_secret_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 19, item 4: a notifier that printed its environment showed the bind password and the
    # KDC admin password, passed to dirkit as env: references.
    monkeypatch.setenv("DIRKIT_TEST_BIND_PW", "bind-S3cret")
    monkeypatch.setenv("DIRKIT_TEST_KDC_PW", "kdc-S3cret")
    monkeypatch.setenv("PAGER_ROUTE", "platform")
    dump = tmp_path / "env.txt"
    k = kit(
        tmp_path,
        MemorySource(seed_directory()),
        notify={"command": ["/bin/sh", "-c", f"env > {dump}"], "on": ["applied"], "pass_env": ["PAGER_ROUTE"]},
    )
    assert k.sync().applied
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert "S3cret" not in dump.read_text() and "DIRKIT_TEST_KDC_PW" not in env
    assert env["PAGER_ROUTE"] == "platform" and env["PATH"] == os.environ["PATH"]
