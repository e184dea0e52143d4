"""Issue 30, part 2: what is dirkit's under the homes prefix comes from the state, never from
a name. Each reproduction of the issue runs through ``Dirkit.sync`` / ``provision_homes`` (as
the landed code had them) on an in-memory NameNode stand-in; the same cases against the real
NameNode are in tests/integration/test_reserved_lab.py."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from memory_hdfs import MemoryHdfs
from seed_fixture import BASE, _g, _u, seed_config

from dirkit import Dirkit, MemorySource
from dirkit._directory.build import RawUser, build
from dirkit._directory.model import Directory
from dirkit._directory.names import NamePolicy
from dirkit._state import StateStore
from dirkit.errors import PartialFailure

HDFS = {
    "url": "https://nn.example:9871/webhdfs/v1",
    "principal": "nn/nn.example@EMR.DIRKIT.TEST",
    "keytab": "/etc/nn.keytab",
    "prefix": "/user",
    "departed_grace_days": 0,
}


def directory(*users: RawUser) -> Directory:
    return build([_u("dataeng1", 1101), *users], [_g("Domain Users", 513)], NamePolicy(realm="AD.DIRKIT.TEST"), [BASE])


def renamed(u: RawUser, sam: str) -> RawUser:
    return replace(u, sam=sam, dn=f"CN={sam},CN=Users,{BASE}")  # the same objectGUID


def kit(tmp_path: Path, source: MemorySource, fs: MemoryHdfs, **hdfs: Any) -> Dirkit:
    cfg = seed_config(state={"path": str(tmp_path / "state.sqlite")}, hdfs={**HDFS, **hdfs})
    return Dirkit(cfg, source=source, homes_target=fs)


def service_dir(fs: MemoryHdfs, name: str, owner: str | None = None, mode: str = "755") -> None:
    fs.add(f"/user/{name}", owner or name, mode=mode)


def test_a_directory_dirkit_did_not_create_is_not_renamed_when_its_namesake_is(tmp_path: Path) -> None:
    # The "rename" finding: /user/etl of a service, an AD account etl, renamed to mallory.
    fs = MemoryHdfs("/user")
    service_dir(fs, "etl")
    etl = _u("etl", 1300)
    source = MemorySource(directory(etl))
    k = kit(tmp_path, source, fs)
    first = k.sync()
    assert first.homes is not None
    assert [r.kind for r in first.homes.plan.reports if r.path == "/user/etl"] == ["foreign"]
    source.directory = directory(renamed(etl, "mallory"))
    k.sync()
    assert fs.files["/user/etl"]["owner"] == "etl"  # still the service's, where it was
    assert fs.files["/user/mallory"]["owner"] == "mallory"  # a new, empty home for the person


def test_a_service_home_is_safe_with_an_admins_own_lock_exclude(tmp_path: Path) -> None:
    # lock_exclude = ["svc_etl"] replaced the service defaults: /user/hive then moved to mallory.
    fs = MemoryHdfs("/user")
    service_dir(fs, "hive")
    hive = _u("hive", 1301)
    source = MemorySource(directory(hive))
    k = kit(tmp_path, source, fs, lock_exclude=["svc_etl"])
    k.sync()
    source.directory = directory(renamed(hive, "mallory"))
    k.sync()
    assert fs.files["/user/hive"]["owner"] == "hive" and "/user/hive" in fs.files


def test_a_superuser_owned_directory_is_not_finished_for_a_new_namesake(tmp_path: Path) -> None:
    # The "finish" finding: owned by the superuser with the home mode looked like an unfinished create.
    fs = MemoryHdfs("/user")
    service_dir(fs, "backups", owner="nn", mode="750")
    result = kit(tmp_path, MemorySource(directory(_u("backups", 1302))), fs).sync()
    assert fs.files["/user/backups"]["owner"] == "nn"
    assert result.homes is not None and not [a for a in result.homes.done if a.path == "/user/backups"]


def test_lock_departed_never_locks_a_directory_dirkit_did_not_create(tmp_path: Path) -> None:
    # The "lock" finding: the namesake AD account appears, then goes; the service's home was locked.
    fs = MemoryHdfs("/user")
    service_dir(fs, "etl")
    source = MemorySource(directory(_u("etl", 1300)))
    k = kit(tmp_path, source, fs)
    k.sync()
    source.directory = directory()
    k.sync(allow_removals=True)
    result = k.provision_homes(lock_departed=True, allow_removals=True)
    assert fs.files["/user/etl"]["permission"] == "755"
    assert not [a for a in result.plan.actions if a.kind == "lock"]


def _alice_synced(tmp_path: Path) -> tuple[MemoryHdfs, RawUser, MemorySource, Dirkit]:
    """alice, whose home dirkit created in a first sync."""
    fs = MemoryHdfs("/user")
    alice = _u("alice", 1310)
    source = MemorySource(directory(alice))
    k = kit(tmp_path, source, fs)
    k.sync()
    assert fs.files["/user/alice"]["owner"] == "alice"
    return fs, alice, source, k


def test_dirkits_own_homes_still_follow_a_rename_and_are_locked_when_their_user_leaves(tmp_path: Path) -> None:
    fs, alice, source, k = _alice_synced(tmp_path)
    source.directory = directory(renamed(alice, "alice2"))
    done = k.sync().homes
    assert done is not None and [a.kind for a in done.done if a.user == "alice2"] == ["rename"]
    assert "/user/alice" not in fs.files and fs.files["/user/alice2"]["owner"] == "alice2"
    source.directory = directory()
    k.sync(allow_removals=True)
    k.provision_homes(lock_departed=True, allow_removals=True)
    assert fs.files["/user/alice2"]["permission"] == "0"


def test_a_rename_is_refused_when_the_old_home_changed_hands(tmp_path: Path) -> None:
    fs, alice, source, k = _alice_synced(tmp_path)
    fs.files["/user/alice"]["owner"] = "ops"  # an admin took the directory over
    source.directory = directory(renamed(alice, "alice2"))
    result = k.sync().homes
    assert result is not None
    assert fs.files["/user/alice"]["owner"] == "ops" and fs.files["/user/alice2"]["owner"] == "alice2"
    assert "not_renamed" in [r.kind for r in result.plan.reports if r.path == "/user/alice"]


def test_a_create_interrupted_after_mkdirs_is_dirkits_and_finished(tmp_path: Path) -> None:
    fs = MemoryHdfs("/user")
    fs.fail.add(("SETOWNER", "/user/dataeng1"))
    k = kit(tmp_path, MemorySource(directory()), fs)
    with pytest.raises(PartialFailure):
        k.sync()
    assert fs.files["/user/dataeng1"]["owner"] == "nn"
    with StateStore(tmp_path / "state.sqlite") as store:
        assert store.owned_homes()["dataeng1"].pending
    fs.fail.clear()
    result = k.sync().homes
    assert result is not None and [a.kind for a in result.done] == ["finish"]
    assert fs.files["/user/dataeng1"]["owner"] == "dataeng1"
    with StateStore(tmp_path / "state.sqlite") as store:
        assert not store.owned_homes()["dataeng1"].pending


def test_a_state_from_before_ownership_keeps_no_guid_for_directories(tmp_path: Path) -> None:
    # Schema 10 recorded every wanted name with its user's objectGUID, made or found: none of
    # those rows may let a rename move, hand over or lock a directory.
    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE homes (name TEXT PRIMARY KEY, first_seen REAL NOT NULL, departed REAL, guid TEXT,
                            owner TEXT, grp TEXT, mode TEXT, checked REAL);
        INSERT INTO homes(name, first_seen, guid) VALUES ('etl', 1.0, 'guid-etl'), ('dataeng1', 1.0, 'guid-dataeng1');
        PRAGMA user_version = 10;
        """
    )
    db.close()
    path.chmod(0o600)
    with StateStore(path) as store:
        assert store.owned_homes() == {}
        assert store.db.execute("SELECT count(*) FROM homes WHERE guid IS NOT NULL").fetchone()[0] == 0
    fs = MemoryHdfs("/user")
    service_dir(fs, "etl")
    source = MemorySource(directory(renamed(_u("etl", 1300), "mallory")))
    kit(tmp_path, source, fs).sync()
    assert fs.files["/user/etl"]["owner"] == "etl"


def test_adopt_claims_only_a_directory_the_user_of_its_name_already_owns(tmp_path: Path) -> None:
    # After an upgrade (or for homes made by hand), an admin claims homes explicitly; a renamed
    # user's adopted home then follows them again.
    fs = MemoryHdfs("/user")
    service_dir(fs, "alice")  # owned by alice: hers
    service_dir(fs, "dataeng1", owner="ops")  # someone else's
    service_dir(fs, "hive")
    alice = _u("alice", 1310)
    source = MemorySource(directory(alice, _u("hive", 1311)))
    k = kit(tmp_path, source, fs)
    dry = k.adopt_homes(["alice"], dry_run=True)
    assert [a.guid for a in dry] == ["guid-alice"]
    with StateStore(tmp_path / "state.sqlite") as store:
        assert store.owned_homes() == {}  # a dry run records nothing
    out = {a.name: a for a in k.adopt_homes(["alice", "dataeng1", "hive", "carol"])}
    assert out["alice"].guid == "guid-alice"
    assert "owned by ops, not dataeng1" in out["dataeng1"].detail and not out["dataeng1"].guid
    assert "EMR service identity" in out["hive"].detail
    assert "no enabled AD user" in out["carol"].detail
    source.directory = directory(renamed(alice, "alice2"))
    result = k.sync().homes
    assert result is not None and [a.kind for a in result.done if a.user == "alice2"] == ["rename"]
    assert fs.files["/user/alice2"]["owner"] == "alice2"


def test_the_cli_adopt_exits_8_when_a_name_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from dirkit import _cli

    fs = MemoryHdfs("/user")
    service_dir(fs, "dataeng1", owner="ops")
    k = kit(tmp_path, MemorySource(directory()), fs)
    # The CLI over the in-memory directory and NameNode stand-in, not a config file's AD (as
    # test_report.py does): this tests the command's output and exit code, not the services.
    monkeypatch.setattr(_cli, "_kit", lambda path: k)
    r = CliRunner().invoke(_cli.main, ["hdfs", "adopt", "dataeng1"])
    assert r.exit_code == 8, r.output
    assert "refused     /user/dataeng1: owned by ops, not dataeng1" in r.output


def test_a_dry_run_plans_homes_from_the_same_state_as_a_real_run(tmp_path: Path) -> None:
    fs = MemoryHdfs("/user")
    k = kit(tmp_path, MemorySource(directory()), fs)
    k.sync()
    dry = k.sync(dry_run=True).homes
    assert dry is not None and dry.plan.actions == [] and dry.plan.reports == []  # dataeng1's home is dirkit's
