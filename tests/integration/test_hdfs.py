"""HDFS homes on the lab's real Kerberized NameNode (WebHDFS + SPNEGO)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest

from dirkit import Dirkit
from dirkit import _kerberos as kerberos
from dirkit import _sync as sync
from dirkit._homes import provision as homes
from dirkit._homes.webhdfs import WebHdfs
from dirkit.errors import HdfsError, HdfsUnavailable
from dirkit_lab import Lab, namenode, seed
from dirkit_lab import settings as s
from dirkit_lab.settings import LabPaths


@pytest.fixture
def prefix(hdfs_scratch: str) -> str:
    return f"{hdfs_scratch}/user"


@pytest.fixture
def hcfg(make_config: Any, prefix: str, superfs: WebHdfs) -> Any:
    superfs.mkdirs(prefix, "755")
    return make_config(hdfs={"prefix": prefix})


def test_seed_homes_have_owner_group_and_mode(hcfg: Any, superfs: WebHdfs, prefix: str) -> None:
    d = sync.read(hcfg)
    result = homes.provision(hcfg.hdfs, d)
    assert not result.failed
    st = superfs.status(f"{prefix}/dataeng1")
    assert st is not None and (st.owner, st.group, st.permission) == ("dataeng1", "dataeng1", "750")
    names = {e.name for e in superfs.list(prefix) or []}
    assert {"admin1", "dataeng1", "datascientist1", "odd space", "odd#hash", "odd%pct", "mixed.case"} <= names
    assert "disabled1" not in names and "-dashlead" not in names and not any(n.startswith("zo") for n in names)
    # Nothing landed outside the prefix: its parent holds only the prefix itself.
    assert [e.name for e in superfs.list(prefix.rsplit("/", 1)[0]) or []] == ["user"]


def test_rerun_does_nothing_with_a_constant_number_of_requests(hcfg: Any, make_config: Any, prefix: str) -> None:
    d = sync.read(hcfg)
    homes.provision(hcfg.hdfs, d)
    again = homes.provision(hcfg.hdfs, d)
    assert again.plan.actions == [] and again.requests == 2  # GETFILESTATUS prefix + one LISTSTATUS
    fewer = make_config(hdfs={"prefix": prefix}, directory={"user_bases": [seed.HARD_OU]})
    small = homes.provision(fewer.hdfs, sync.read(fewer))
    assert small.requests == 2 and small.plan.wanted < again.plan.wanted


def test_drift_is_reported_and_fixed_only_with_the_option(hcfg: Any, superfs: WebHdfs, prefix: str) -> None:
    kit = Dirkit(hcfg)  # the state says which homes are dirkit's: only those have drift to fix
    kit.provision_homes()
    superfs.set_permission(f"{prefix}/admin1", "777")
    superfs.set_owner(f"{prefix}/dataeng1", "hive", "supergroup")
    reported = kit.provision_homes()
    kinds = {(r.kind, r.path.rsplit("/", 1)[1]) for r in reported.plan.reports}
    assert ("drift", "admin1") in kinds and ("drift", "dataeng1") in kinds and not reported.done
    assert superfs.status(f"{prefix}/admin1").permission == "777"
    fixed = kit.provision_homes(fix_drift=True)
    assert {a.kind for a in fixed.done} == {"fix_mode", "fix_owner"}
    assert superfs.status(f"{prefix}/admin1").permission == "750"
    assert superfs.status(f"{prefix}/dataeng1").owner == "dataeng1"


def test_user_removed_from_ad_keeps_the_home(
    hcfg: Any, superfs: WebHdfs, prefix: str, ad_admin: Any, restore_ad: None
) -> None:
    kit = Dirkit(hcfg)  # the API keeps the homes it provisioned in the state: only those may be locked
    superfs.mkdirs(f"{prefix}/hive", "755")  # a service account's home, never an AD user's
    kit.provision_homes()
    assert ad_admin.delete(f"CN=rangeuser07,{seed.HARD_OU}"), ad_admin.result
    after = kit.provision_homes()
    assert superfs.status(f"{prefix}/rangeuser07") is not None
    departed = [r.detail for r in after.plan.reports if r.kind == "departed" and r.path.endswith("/rangeuser07")]
    assert len(departed) == 1 and "departed (first seen now)" in departed[0]
    # Within hdfs.departed_grace_days (30 by default), --lock-departed does not lock it yet...
    waiting = kit.provision_homes(lock_departed=True)
    assert waiting.done == [] and superfs.status(f"{prefix}/rangeuser07").permission != "0"
    (why,) = [r.detail for r in waiting.plan.reports if r.path.endswith("/rangeuser07")]
    assert "departed since " in why and "not locked before" in why
    # ... and once the grace period is over (here: none), it does.
    kit = Dirkit(hcfg.model_copy(update={"hdfs": hcfg.hdfs.model_copy(update={"departed_grace_days": 0.0})}))
    locked = kit.provision_homes(lock_departed=True)
    assert [a.path for a in locked.done] == [f"{prefix}/rangeuser07"]
    assert superfs.status(f"{prefix}/rangeuser07").permission == "0"
    assert superfs.status(f"{prefix}/hive").permission == "755"


def test_namenode_stopped_mid_run_then_rerun_converges(
    hcfg: Any, superfs: WebHdfs, prefix: str, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = sync.read(hcfg)
    calls = {"n": 0}
    original = homes.apply_one

    def stopping(fs: Any, a: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 6:
            lab.stop_namenode()  # the process, or its container
        original(fs, a)

    # Not a mock: the wrapper only picks the moment, after 5 real WebHDFS actions, at which
    # the real NameNode process is stopped; every call still goes to the real service.
    monkeypatch.setattr(homes, "apply_one", stopping)
    try:
        with pytest.raises(HdfsUnavailable, match="a re-run converges"):
            homes.provision(hcfg.hdfs, d)
    finally:
        monkeypatch.undo()
        lab.start_namenode()
    result = homes.provision(hcfg.hdfs, d)
    assert not result.failed
    final = homes.provision(hcfg.hdfs, d)
    assert final.plan.actions == [] and final.plan.existing == final.plan.wanted


def test_a_delta_sync_plans_the_changed_users_homes_until_the_prefix_moves(
    hcfg: Any, superfs: WebHdfs, prefix: str, ad_admin: Any, restore_ad: None
) -> None:
    """Issue 33, item 2, on the real NameNode: what a scoped pass relies on is HDFS's own rule
    (a directory's modificationTime moves when an entry is made in it, not on a chown of one),
    and a sync after a delta plans the changed user's home alone, with a few requests; an
    entry made under the prefix by someone else brings the full pass back (and its report)."""
    kit = Dirkit(hcfg)
    first = kit.sync()
    assert first.homes is not None and first.homes.scope == "full" and not first.homes.failed
    before = superfs.status(prefix)
    assert before is not None and before.mtime > 0
    superfs.set_owner(f"{prefix}/admin1", "admin1", "supergroup")
    assert superfs.status(prefix).mtime == before.mtime  # a chown: not moved
    user = f"CN=rangeuser07,{seed.HARD_OU}"
    assert ad_admin.modify(user, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [514])]}), ad_admin.result
    delta = kit.sync()
    assert delta.read.kind == "delta" and delta.homes is not None and delta.homes.scope == "scoped"
    assert delta.homes.requests <= 4  # the prefix, the user's home, and the prefix again if it acted
    assert [r.path for r in delta.homes.plan.reports] == [f"{prefix}/rangeuser07"]  # departed, kept
    assert [r.kind for r in delta.homes.plan.reports] == ["departed"]
    superfs.mkdirs(f"{prefix}/svc-batch", "755")
    assert superfs.status(prefix).mtime > before.mtime  # an entry made: moved
    again = kit.sync()
    assert again.plan.empty and again.homes is not None and again.homes.scope == "full"
    assert ("foreign", f"{prefix}/svc-batch") in {(r.kind, r.path) for r in again.homes.plan.reports}
    assert ("drift", f"{prefix}/admin1") in {(r.kind, r.path) for r in again.homes.plan.reports}


def test_ad_user_lists_own_home_but_not_anothers(hcfg: Any, prefix: str) -> None:
    homes.provision(hcfg.hdfs, sync.read(hcfg))
    creds = kerberos.password_credentials(f"dataeng1@{s.AD_REALM}", s.USER_PASSWORD)
    with WebHdfs(namenode.webhdfs_url(), creds, pool_size=1) as fs:  # cross-realm SPNEGO
        assert fs.list(f"{prefix}/dataeng1") == []
        with pytest.raises(HdfsError, match="403.*Permission denied"):
            fs.list(f"{prefix}/datascientist1")


def test_quota_by_group_rule(make_config: Any, prefix: str, superfs: WebHdfs) -> None:
    superfs.mkdirs(prefix, "755")
    cfg = make_config(
        hdfs={"prefix": prefix, "quotas": [{"group": "grp_analytics", "namespace": 5000, "space_bytes": 10 * 2**30}]}
    )
    homes.provision(cfg.hdfs, sync.read(cfg))
    q = superfs.call("GET", f"{prefix}/datascientist1", "GETQUOTAUSAGE")["QuotaUsage"]  # via nesting
    assert (q["quota"], q["spaceQuota"]) == (5000, 10 * 2**30)
    q = superfs.call("GET", f"{prefix}/dataeng1", "GETQUOTAUSAGE")["QuotaUsage"]
    assert q["quota"] == -1


def test_emr_step_script_creates_the_same_homes_with_hdfs_dfs(
    make_config: Any, prefix: str, superfs: WebHdfs, lab_status: dict[str, Any], tmp_path: Path
) -> None:
    """Runs the generated script for real: `hdfs dfs` is Hadoop's FsShell and `hdfs dfsadmin` its
    DFSAdmin, from the lab's jars. Quotas follow the same policy as WebHDFS provisioning."""
    import os
    import subprocess

    from dirkit._homes import script as hdfs_step
    from dirkit_lab import java

    paths = LabPaths(Path(lab_status["lab_dir"]))
    superfs.mkdirs(prefix, "755")
    quota = {"group": "grp_analytics", "namespace": 5000, "space_bytes": 2**30}
    cfg = make_config(hdfs={"prefix": prefix, "quotas": [quota]}, directory={"user_bases": [f"CN=Users,{s.AD_BASE}"]})
    d = sync.read(cfg)
    script = tmp_path / "homes.sh"
    script.write_text(hdfs_step.render_script(cfg.hdfs, d))
    jvm_log = tmp_path / "jvm-starts"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    conf = paths.root / "namenode" / "conf"
    cp = ":".join([str(conf), *sorted(str(j) for j in java.classpath(paths).glob("*.jar"))])
    krb5 = java.cluster_krb5_conf(paths, tmp_path / "krb5.conf")
    (bin_dir / "hdfs").write_text(f"""#!/bin/bash
case "$1" in dfs) cls=org.apache.hadoop.fs.FsShell;; dfsadmin) cls=org.apache.hadoop.hdfs.tools.DFSAdmin;; esac
shift
echo "$*" >> {jvm_log}
exec java -Xmx128m -Djava.security.krb5.conf={krb5} {" ".join(java.JAVA_OPTS)} -cp '{cp}' $cls "$@"
""")
    (bin_dir / "hdfs").chmod(0o755)
    ccache = tmp_path / "cc"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "KRB5CCNAME": f"FILE:{ccache}",
        "KRB5_CONFIG": str(krb5),
    }
    subprocess.run(
        ["kinit", "-kt", lab_status["keytabs"]["nn-localhost"], lab_status["principals"]["nn"]], env=env, check=True
    )
    r = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    wanted = [u for u in d.named_users() if u.enabled]
    for u in wanted:
        st = superfs.status(f"{prefix}/{u.name}")
        assert st is not None and (st.owner, st.group, st.permission) == (u.name, u.name, "750"), u.name
    starts = jvm_log.read_text().splitlines()
    # stat, mkdir, chmod, one chown per home, one dfsadmin per distinct quota value (2 here)
    assert len(starts) == 3 + len(wanted) + 2
    q = superfs.call("GET", f"{prefix}/datascientist1", "GETQUOTAUSAGE")["QuotaUsage"]  # via nesting
    assert (q["quota"], q["spaceQuota"]) == (5000, 2**30)
    assert superfs.call("GET", f"{prefix}/dataeng1", "GETQUOTAUSAGE")["QuotaUsage"]["quota"] == -1
    # The plan agrees: nothing left to do over WebHDFS either.
    assert homes.provision(cfg.hdfs, d).plan.actions == []
    jvm_log.write_text("")
    r = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "all homes present" in r.stdout
    assert len(jvm_log.read_text().splitlines()) == 1  # a re-run starts one JVM


@pytest.fixture
def dripping_namenode() -> Iterator[str]:
    """A stand-in NameNode on 127.0.0.1 that answers every WebHDFS request with the headers of
    a 1 MiB body, then one byte a second: no socket timeout ever trips."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{")
                while not stop.wait(1.0):
                    conn.sendall(b" ")
            except OSError:
                pass

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/webhdfs/v1"
    stop.set()
    listener.close()


def test_a_dripping_namenode_ends_at_the_deadline_and_the_next_run_converges(
    make_config_file: Any, prefix: str, superfs: WebHdfs, dripping_namenode: str, tmp_path: Path
) -> None:
    # Issue 19, item 5: WebHDFS timeouts bound each read, not the run; the run must end at
    # run.deadline_seconds, with the (real) directory state applied and the lock released.
    import subprocess
    import sys

    from dirkit._state import StateStore

    superfs.mkdirs(prefix, "755")
    cli = [sys.executable, "-m", "dirkit._cli", "sync", "-c"]
    hanging = make_config_file(
        "drip.toml", hdfs={"url": dripping_namenode, "prefix": prefix}, run={"deadline_seconds": 8}
    )
    r = subprocess.run([*cli, str(hanging)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 5, r.stderr[-2000:]
    assert "passed its deadline (run.deadline_seconds = 8): the directory state was applied, HDFS homes not" in r.stderr
    with StateStore(tmp_path / "state.sqlite") as store:
        assert store.runs(1)[0].outcome == "failed" and store.last_meta()[1]  # the read was applied
    good = make_config_file("good.toml", hdfs={"prefix": prefix})
    r = subprocess.run([*cli, str(good)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert superfs.status(f"{prefix}/dataeng1").owner == "dataeng1"
