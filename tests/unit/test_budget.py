"""Issue 34, item 3: the revocation budget - per layer how long the cluster may still honour a
revoked user under the settings dirkit is given, what dirkit does about each, the worst case per
service; in `dirkit report` (JSON) and `verify --revoked`."""

from __future__ import annotations

from pathlib import Path

from seed_fixture import seed_config, seed_directory
from test_sync_outcomes import kit

from dirkit._budget import Budget, budget
from dirkit._directory.source import MemorySource


def _by(b: Budget) -> dict[str, float]:
    return {x.layer: x.seconds for x in b.layers}


def test_without_actions_each_layer_keeps_what_its_setting_says() -> None:
    cfg = seed_config()
    b = budget(cfg, [("sync", 600.0, 2.0), ("sync", 300.0, 2.0), ("sync", 0.0, 2.0)])
    layers = _by(b)
    assert layers == {
        "dirkit": 302.0,  # cron every 300 s (the gaps between the runs) and a run
        "hadoop_groups": 300.0,
        "sssd": 5400.0,
        "kerberos": 36000.0,
        "delegation_tokens": 7 * 86400.0,
        "hue": 14 * 86400.0,
    }
    services = {s: secs for s, secs, _ in b.services}
    assert services["HDFS and YARN, by group"] == 602.0
    assert services["a node's users and groups (id, ssh, sudo)"] == 5702.0
    assert all(not x.action for x in b.layers)
    assert (
        b.lines()[0]
        == "HDFS and YARN, by group: up to 10 min (dirkit's schedule 5.03 min + Hadoop's groups cache 5 min)"
    )
    assert (
        b.lines()[2]
        == "Kerberos services, with a ticket already issued: up to 10 h (Kerberos tickets already issued 10 h)"
    )


def test_watch_and_the_actions_bring_the_group_layers_down_to_seconds() -> None:
    cfg = seed_config(
        revocation={"refresh_commands": [["hdfs", "dfsadmin", "-refreshUserToGroupsMappings"]],
                    "node_commands": [["ssh", "node1", "sudo"]], "timeout_seconds": 20},
        watch={"poll_seconds": 1.0, "debounce_seconds": 0.5},
        sssd={"entry_cache_timeout": 600},
    )  # fmt: off
    b = budget(cfg, [("watch", 10.0, 0.4), ("watch", 5.0, 0.6)])
    layers = _by(b)
    assert layers["dirkit"] == 2.0 and layers["hadoop_groups"] == 20.0 and layers["sssd"] == 20.0
    assert {x.layer for x in b.layers if x.action} == {"hadoop_groups", "sssd"}
    assert {s: secs for s, secs, _ in b.services}["HDFS and YARN, by group"] == 22.0
    # What no action can shorten stays as the cluster has it.
    assert layers["kerberos"] == 36000.0 and layers["hue"] == 14 * 86400.0


def test_the_report_carries_the_budget(tmp_path: Path) -> None:
    k = kit(tmp_path, MemorySource(seed_directory()))
    k.sync()
    k.sync()
    out = k.report().to_json()["revocation_budget"]
    assert [x["layer"] for x in out["layers"]][:3] == ["dirkit", "hadoop_groups", "sssd"]
    assert out["services"][0]["layers"] == ["dirkit", "hadoop_groups"]
    assert k.revocation_budget().to_json() == out
