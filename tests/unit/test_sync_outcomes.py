"""sync's outcomes without services: an in-memory directory source and an in-memory NameNode
stand-in (the real ones are in tests/integration). Threshold, lock, partial, dry run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from memory_hdfs import MemoryHdfs
from seed_fixture import seed_config, seed_config_dict, seed_directory

from dirkit import DirectorySource, Dirkit, MemorySource
from dirkit._directory.model import Directory, ReadInfo
from dirkit._state import StateStore
from dirkit.errors import EXIT_LOCKED, EXIT_PARTIAL, EXIT_THRESHOLD, LockedError, PartialFailure, ThresholdError

HDFS = {
    "url": "https://nn.example:9871/webhdfs/v1",
    "principal": "nn/nn.example@EMR.DIRKIT.TEST",
    "keytab": "/etc/nn.keytab",
    "prefix": "/user",
}


def kit(tmp_path: Path, source: DirectorySource, fs: MemoryHdfs | None = None, **sections: Any) -> Dirkit:
    sections.setdefault("state", {"path": str(tmp_path / "state.sqlite")})
    if fs is not None:
        sections.setdefault("hdfs", HDFS)
    return Dirkit(seed_config(**sections), source=source, homes_target=fs)


def without_users(d: Directory, *sams: str) -> Directory:
    users = {g: u for g, u in d.users.items() if u.sam not in sams}
    return replace(
        d,
        users=users,
        direct={g: v for g, v in d.direct.items() if g in users},
        effective={g: v for g, v in d.effective.items() if g in users},
    )


def test_first_sync_applies_then_nothing_to_do(tmp_path: Path) -> None:
    k = kit(tmp_path, MemorySource(seed_directory()))
    first = k.sync()
    assert first.applied and first.plan.first_run and first.plan.counts()["user_added"] == 5
    assert k.sync().plan.empty and k.history(1)[0].outcome == "no-changes"
    assert k.plan()[1].empty


def test_dry_run_writes_no_state(tmp_path: Path) -> None:
    k = kit(tmp_path, MemorySource(seed_directory()))
    result = k.sync(dry_run=True)
    assert not result.applied and not result.plan.empty
    assert k.plan()[1].first_run  # still nothing applied
    assert k.history(1)[0].outcome == "dry-run"


def test_threshold_applies_nothing_until_allowed(tmp_path: Path) -> None:
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source)
    k.sync()
    source.directory = without_users(seed_directory(), "admin1", "dataeng1", "datascientist1")
    with pytest.raises(ThresholdError, match="max_removal_percent") as exc:
        k.sync()
    assert exc.value.exit_code == EXIT_THRESHOLD
    assert k.history(1)[0].outcome == "threshold"
    assert len(k.last_snapshot().users) == 5  # the applied state is untouched
    assert k.sync(allow_removals=True).plan.counts()["user_removed"] == 3
    assert len(k.last_snapshot().users) == 2


def test_max_removals_zero_stops_any_removal(tmp_path: Path) -> None:
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, safety={"max_removals": 0, "max_removal_percent": 100})
    k.sync()
    source.directory = without_users(seed_directory(), "nobody1")
    with pytest.raises(ThresholdError, match="max_removals=0"):
        k.sync()


def test_second_run_exits_at_once_while_the_lock_is_held(tmp_path: Path) -> None:
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source)
    with StateStore(k.config.state.path) as store, store.lock():
        with pytest.raises(LockedError, match="another dirkit run") as exc:
            k.sync()
    assert exc.value.exit_code == EXIT_LOCKED and source.reads == 0  # nothing was read


def test_one_failing_home_is_partial_and_a_plain_rerun_finishes_it(tmp_path: Path) -> None:
    fs = MemoryHdfs("/user")
    fs.fail.add(("SETOWNER", "/user/dataeng1"))
    k = kit(tmp_path, MemorySource(seed_directory()), fs)
    with pytest.raises(PartialFailure, match="1 HDFS home action") as exc:
        k.sync()
    assert exc.value.exit_code == EXIT_PARTIAL and k.history(1)[0].outcome == "partial"
    assert fs.files["/user/admin1"]["owner"] == "admin1"  # the others are done
    assert not k.plan()[1].changes  # the directory state was applied all the same
    assert fs.files["/user/dataeng1"]["owner"] == "nn"  # MKDIRS happened, SETOWNER did not
    fs.fail.clear()
    k.sync()  # no --fix-drift: an unfinished create is not drift
    assert fs.files["/user/dataeng1"]["owner"] == "dataeng1"
    assert k.history(1)[0].outcome == "applied"


def test_namenode_unreachable_is_partial_with_state_applied(tmp_path: Path) -> None:
    fs = MemoryHdfs("/user")
    fs.down = True
    k = kit(tmp_path, MemorySource(seed_directory()), fs)
    with pytest.raises(PartialFailure, match="NameNode unreachable"):
        k.sync()
    assert k.plan()[1].empty


def test_every_group_emptied_is_stopped_even_with_no_user_removed(tmp_path: Path) -> None:
    """A read in which every group's member list came back empty removes no user or group."""
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, safety={"max_removals": 0})
    k.sync()
    d = seed_directory()
    # Only the primary group (Domain Users, from primaryGroupID) survives an empty `member`.
    primary = {u: {g: m for g, m in ms.items() if m.primary} for u, ms in d.effective.items()}
    source.directory = replace(d, effective=primary, direct={u: frozenset() for u in d.direct})
    with pytest.raises(ThresholdError, match="membership removals") as exc:
        k.sync()
    assert "safety.max_membership_removal_percent" in str(exc.value)
    assert k.plan()[1].removals == 0  # the old guard alone saw nothing to stop


def test_locking_more_homes_than_the_limits_allow_applies_nothing(tmp_path: Path) -> None:
    fs = MemoryHdfs("/user")
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, fs, hdfs={**HDFS, "departed_grace_days": 0})  # lockable at once
    k.provision_homes()  # 4 homes, remembered in the state
    source.directory = without_users(seed_directory(), "admin1", "dataeng1", "datascientist1")
    with pytest.raises(ThresholdError, match="3 homes to lock are 75.0% of 4 homes present"):
        k.provision_homes(lock_departed=True)
    assert not [p for p, st in fs.files.items() if st["permission"] == "0"]
    locked = k.provision_homes(lock_departed=True, allow_removals=True)
    assert sorted(a.user for a in locked.done) == ["admin1", "dataeng1", "datascientist1"]


def test_hdfs_provision_takes_the_run_lock(tmp_path: Path) -> None:
    # Issue 19, item 8: `dirkit hdfs provision --lock-departed` ran beside a sync.
    fs = MemoryHdfs("/user")
    source = MemorySource(seed_directory())
    k = kit(tmp_path, source, fs, hdfs={**HDFS, "departed_grace_days": 0})
    k.provision_homes()
    source.directory = without_users(seed_directory(), "admin1")
    with StateStore(k.config.state.path) as store, store.lock():  # a sync is running
        with pytest.raises(LockedError) as exc:
            k.provision_homes(lock_departed=True, allow_removals=True)
        assert exc.value.exit_code == EXIT_LOCKED
        assert not [p for p, st in fs.files.items() if st["permission"] == "0"]
        assert k.provision_homes(dry_run=True, lock_departed=True).plan.actions  # a dry run reads only
    assert [a.user for a in k.provision_homes(lock_departed=True, allow_removals=True).done] == ["admin1"]


def test_a_killed_run_shows_as_interrupted_not_running_forever(tmp_path: Path) -> None:
    k = kit(tmp_path, MemorySource(seed_directory()))
    with StateStore(k.config.state.path) as store:
        store.start_run("sync")  # a run whose process was killed: never ended
    k.sync()
    outcomes = [r.outcome for r in k.history(2)]
    assert outcomes == ["applied", "interrupted"]
    assert "killed?" in k.history(2)[1].message


class _DeltaMemorySource(MemorySource):
    """A MemorySource that also answers deltas: "nothing changed" while its directory is the
    one it served last (what the DC's unchanged highestCommittedUSN says)."""

    def __init__(self, directory: Directory) -> None:
        super().__init__(directory)
        self.served: Directory | None = None

    def read(self, usn_quantiles: Any = (), progress: Any = None) -> Directory:
        self.served = self.directory
        info = replace(self.directory.read, dc="ldaps://dc1.ad.dirkit.test:636", invocation_id="i", highest_usn=7)
        return replace(self.directory, read=info)

    def read_delta(self, since: Any, previous: Any) -> Any:
        from dirkit._directory.delta import DeltaRead

        if self.served is self.directory:
            return DeltaRead(unchanged=True, read=ReadInfo(kind="delta", dc=since.dc, searches=1))
        return DeltaRead(why="changed: read it all again")


def _refuse_to_load(self: StateStore) -> None:
    raise AssertionError("the stored snapshot was loaded")


def test_a_run_that_finds_nothing_changed_loads_no_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _DeltaMemorySource(seed_directory())
    k = kit(tmp_path, source)
    k.sync()

    with monkeypatch.context() as m:
        m.setattr(StateStore, "last_snapshot", _refuse_to_load)
        again = k.sync()
    assert again.plan.empty and again.loaded is None
    assert again.superuser_warnings() == [] and again.loaded is None  # what `dirkit sync` prints: no load either
    assert again.to_json()["applied"] is True and again.loaded is None
    assert (again.stats["read_kind"], again.stats["ldap_searches"], again.stats["users"]) == ("delta", 1, 5)
    assert k.history(1)[0].record["read"]["searches"] == 1
    assert len(again.directory.users) == 5  # loaded when asked for, after the run


def test_with_documents_and_homes_a_run_that_finds_nothing_changed_loads_no_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 33: nothing changed in AD, the documents' inputs and files as the last run left them,
    # the homes prefix unmoved: nothing is rendered or planned, the snapshot is not loaded (at
    # 100k users that load alone was 0.7 s), the documents' warnings are logged as before.
    source, fs = _DeltaMemorySource(seed_directory()), MemoryHdfs("/user")
    out = tmp_path / "out"
    k = kit(tmp_path, source, fs, output={"directory": str(out)})
    first = k.sync()
    warned = sorted(r.getMessage() for r in caplog.records if "document_warning" in r.getMessage())
    caplog.clear()

    with monkeypatch.context() as m:
        m.setattr(StateStore, "last_snapshot", _refuse_to_load)
        again = k.sync()
    assert again.loaded is None and [f.status for f in again.files] == ["unchanged"] * len(first.files)
    assert again.homes is not None and again.homes.scope == "scoped" and again.homes.requests == 1
    assert again.homes.plan.wanted == first.homes.plan.wanted if first.homes else False
    assert sorted(r.getMessage() for r in caplog.records if "document_warning" in r.getMessage()) == warned
    (out / "hue.ini").write_text("[desktop]\n# edited by hand\n")
    repaired = k.sync()
    assert [f.name for f in repaired.files if f.status == "changed"] == ["hue.ini"]
    assert "edited by hand" not in (out / "hue.ini").read_text()
    hue = {**seed_config_dict()["hue"], "server_name": "another"}
    moved = kit(tmp_path, source, fs, output={"directory": str(out)}, hue=hue).sync()  # the config changed
    assert "hue.ini" in [f.name for f in moved.files if f.status == "changed"]


def test_a_run_that_finds_nothing_changed_still_checks_documents_and_homes(tmp_path: Path) -> None:
    source, fs = _DeltaMemorySource(seed_directory()), MemoryHdfs("/user")
    out = tmp_path / "out"
    k = kit(tmp_path, source, fs, output={"directory": str(out)})
    k.sync()
    (out / "hue.ini").unlink()
    fs.remove("/user/admin1")  # (it moves /user's modificationTime: this pass lists every home)
    again = k.sync()
    assert again.stats["read_kind"] == "delta" and again.plan.empty
    assert [f.name for f in again.files if f.status == "new"] == ["hue.ini"] and (out / "hue.ini").exists()
    assert again.homes is not None and [a.user for a in again.homes.done] == ["admin1"]


def test_sync_refuses_to_write_a_security_configuration_for_aws_managed_ad(tmp_path: Path) -> None:
    # Issue 32, item 1: only `emr security-config` refused it; sync wrote the same document.
    from seed_fixture import BASE, _g

    from dirkit._directory.build import RawUser, build
    from dirkit._directory.names import NamePolicy
    from dirkit.errors import ConfigError

    aws = RawUser(
        "g-aws", f"CN=AWSAdminD-1,OU=AWS Reserved,{BASE}", "AWSAdminD-1", "S-1-5-21-9-1", None, None, 512, 513, 1
    )
    d = build([aws], [_g("Domain Users", 513)], NamePolicy(), [BASE])
    assert d.aws_managed_ad
    out = tmp_path / "out"
    out.mkdir()
    k = kit(tmp_path, MemorySource(d), output={"directory": str(out)})
    with pytest.raises(ConfigError, match="AWS Directory Service"):
        k.sync()
    assert not list(out.iterdir()) and k.history(1)[0].outcome == "failed"


def test_emr_apply_and_cloudformation_check_the_security_configuration_against_the_last_snapshot(
    tmp_path: Path,
) -> None:
    # Issue 32, item 1: `emr apply`/`emr diff` and the CloudFormation template rendered the
    # security configuration themselves, so neither refused AWS Managed AD nor warned.
    from seed_fixture import BASE, _g

    from dirkit._directory.build import RawUser, build
    from dirkit._directory.names import NamePolicy
    from dirkit.errors import ConfigError

    aws = RawUser(
        "g-aws", f"CN=AWSAdminD-1,OU=AWS Reserved,{BASE}", "AWSAdminD-1", "S-1-5-21-9-1", None, None, 512, 513, 1
    )
    managed = build([aws], [_g("Domain Users", 513)], NamePolicy(), [BASE])
    first = kit(tmp_path / "fresh", MemorySource(managed))
    assert "SecurityConfiguration" in first.cloudformation().text  # no snapshot yet: nothing to check against
    first.sync()
    with pytest.raises(ConfigError, match="AWS Directory Service"):
        first.cloudformation()
    with pytest.raises(ConfigError, match="AWS Directory Service"):
        first.deploy_plan(region="us-east-1", endpoint_url="http://127.0.0.1:9")  # refused before any AWS call
    plain = kit(tmp_path / "plain", MemorySource(seed_directory()))
    plain.sync()
    doc = plain.cloudformation()
    assert doc.warnings == plain.security_configuration(from_state=True).warnings


def test_one_process_starts_each_delta_from_the_snapshot_it_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 33 (and `dirkit watch`, issue 34): a Dirkit that synced keeps the snapshot it stored,
    # so its next delta loads nothing (at 100k users a one-user delta went from 1.7 to 0.3 s).
    # Another process's run, or a state file put in its place, is seen and loaded.
    from dataclasses import replace as copy

    from dirkit._directory.build import RawUser
    from dirkit._directory.names import NamePolicy
    from dirkit._directory.source import MemoryDeltaSource

    base = "DC=ad,DC=dirkit,DC=test"
    users = [
        RawUser(f"g{i}", f"CN=u{i},OU=People,{base}", f"u{i}", f"S-1-5-21-1-2-3-{1000 + i}", None, None, 512, None, 1)
        for i in range(20)
    ]
    source = MemoryDeltaSource(users, [], NamePolicy(), [base], "ldaps://dc1.ad.dirkit.test:636")
    k = kit(tmp_path, source)
    k.sync()
    loads: list[int] = []
    real_load = StateStore._load

    def counted(self: StateStore, snapshot_id: int) -> Directory:
        loads.append(snapshot_id)
        return real_load(self, snapshot_id)

    monkeypatch.setattr(StateStore, "_load", counted)
    for i in range(3):
        source.change(users=[copy(source.users[f"g{i}"], uac=514)])
        r = k.sync()
        assert r.read.kind == "delta" and [c.kind for c in r.plan.changes] == ["user_disabled"]
    assert loads == []
    other = kit(tmp_path, source)  # another process: it loads, then runs
    source.change(users=[copy(source.users["g5"], uac=514)])
    assert [c.kind for c in other.sync().plan.changes] == ["user_disabled"] and len(loads) == 1
    source.change(users=[copy(source.users["g6"], uac=514)])
    r = k.sync()  # its kept snapshot is no longer the newest: loaded, and the plan is right
    assert [(c.kind, c.name) for c in r.plan.changes] == [("user_disabled", "u6")] and len(loads) == 2
    assert r.directory.users["g5"].enabled is False
