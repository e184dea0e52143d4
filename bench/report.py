#!/usr/bin/env python3
"""Benchmark: `dirkit report` for 10k users x 20 S3 prefixes, from an in-memory directory.

    .venv/bin/python bench/report.py [--users 10000] [--prefixes 20] [--html-out report.html]

The directory is slope_memory.py's synthetic one (5 % as many groups as users, three groups per
user, a quarter of the groups nested), the config has one group role mapping per prefix plus a
user mapping, and a first sync has stored the snapshot and made the homes (slope_memory's in-memory NameNode). Then, each in its own process (so each
peak RSS is its own):
  baseline: what any report must do: load the stored snapshot and write `dirkit snapshot --json`
            of it (every user with every group and chain);
  report:   Dirkit.report() (the same load, the cluster view, 20 decisions per user);
  json, csv, html: the same, then written in that format (as `dirkit report --format F`).
Prints seconds, peak RSS and size of each, and their ratios to the baseline. Goals (issue 24): report
built in <= 10 s and <= 300 MiB peak, HTML <= 20 MB (first paint: tests/integration/test_report_browser.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from slope_memory import BASE, _NameNode, synthetic

ARN = "arn:aws:iam::123456789012:role"


def config(tmp: str, prefixes: int) -> dict[str, Any]:
    mappings: list[dict[str, Any]] = [{"role": f"{ARN}/admins", "users": ["user0", "user1"]}]
    mappings += [{"role": f"{ARN}/team{k}", "groups": [f"grp{k}"]} for k in range(prefixes)]
    mappings += [{"role": f"{ARN}/bucket{k}", "prefixes": [f"s3://bucket{k}/"]} for k in range(0, prefixes, 2)]
    return {
        "ldap": {"urls": ["ldaps://dc.example.com"], "bind": "simple", "bind_dn": "x", "password": "env:X"},
        "directory": {"base_dn": BASE, "realm": "EXAMPLE.COM"},
        "state": {"path": f"{tmp}/state.sqlite"},
        "safety": {"max_removals": 10**9, "max_removal_percent": 100},
        "emr": {
            "cluster_realm": "EMR.EXAMPLE.COM",
            "ad_domain": "example.com",
            "ec2_role_arn": f"{ARN}/EMR_EC2_DefaultRole",
            "role_mappings": mappings,
        },
        "report": {"s3_paths": [f"s3://bucket{k}/data/" for k in range(prefixes)]},
        "hdfs": {
            "url": "https://nn.example.com:9871/webhdfs/v1",
            "principal": "nn/nn@EXAMPLE.COM",
            "keytab": "/etc/nn.keytab",
        },
    }


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, tmp: str, prefixes: int, html_out: str | None) -> dict[str, float]:
    from dirkit import Dirkit
    from dirkit import _config as cfg
    from dirkit._api import write_chunks

    kit = Dirkit(cfg.from_dict(config(tmp, prefixes)))
    t0 = time.perf_counter()
    if kind == "baseline":
        size = len(json.dumps(kit.last_snapshot().to_json()))
        return {"seconds": time.perf_counter() - t0, "peak_mib": peak_mib(), "bytes": size}
    report = kit.report()
    built, built_peak = time.perf_counter() - t0, peak_mib()
    if kind == "report":
        return {"seconds": built, "peak_mib": built_peak}
    # As `dirkit report --format F --out FILE` writes it (JSON a user at a time).
    out = Path(html_out) if html_out and kind == "html" else Path(tmp) / f"report.{kind}"
    chunks = report.json_chunks() if kind == "json" else iter([report.to_csv() if kind == "csv" else report.to_html()])
    write_chunks(chunks, out)
    return {"seconds": time.perf_counter() - t0, "peak_mib": peak_mib(), "mb": out.stat().st_size / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--prefixes", type=int, default=20)
    ap.add_argument("--html-out", help="keep the HTML report here (the browser test opens it)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)  # kind, state directory
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], a.child[1], a.prefixes, a.html_out)))
        return
    from dirkit import Dirkit, MemorySource
    from dirkit import _config as cfg
    from dirkit._directory.build import build
    from dirkit._directory.names import NamePolicy

    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o700)
        users, groups = synthetic(a.users)
        source = MemorySource(build(users, groups, NamePolicy(), [BASE]))
        kit = Dirkit(cfg.from_dict(config(tmp, a.prefixes)), source=source, homes_target=_NameNode())
        kit.sync()  # the snapshot and every home's owner and mode, stored
        from dirkit._state import StateStore

        with StateStore(Path(tmp) / "state.sqlite") as store:
            (snapshot_mb,) = store.db.execute("SELECT length(data) / 1e6 FROM snapshots").fetchone()
        del kit, users, groups

        def run(kind: str) -> dict[str, float]:
            argv = [sys.executable, __file__, "--child", kind, tmp, "--prefixes", str(a.prefixes)]
            if kind == "html" and a.html_out:
                argv += ["--html-out", a.html_out]
            out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
            return dict(json.loads(out.strip().splitlines()[-1]))

        base = run("baseline")
        got = {kind: run(kind) for kind in ("report", "json", "csv", "html")}
    print(
        f"{a.users} users x {a.prefixes} prefixes, each in its own process; one stored snapshot: {snapshot_mb:.2f} MB"
    )
    print(f"baseline (load + snapshot --json): {base['seconds']:.2f} s, peak {base['peak_mib']:.0f} MiB")
    for kind, r in got.items():
        what = "built (load + report)" if kind == "report" else f"built and written as {kind}"
        size = f", {r['mb']:.1f} MB" if "mb" in r else ""
        print(
            f"{what}: {r['seconds']:.2f} s ({r['seconds'] / base['seconds']:.2f}x baseline), "
            f"peak {r['peak_mib']:.0f} MiB ({r['peak_mib'] / base['peak_mib']:.2f}x){size}"
        )
    rep, html = got["report"], got["html"]
    ok = rep["seconds"] <= 10 and rep["peak_mib"] <= 300 and html["mb"] <= 20
    print(f"goals (built in <= 10 s and <= 300 MiB, HTML <= 20 MB): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
