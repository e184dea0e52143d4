#!/usr/bin/env python3
"""Benchmark: how a sync's time and memory grow with the directory, shown by their slope.

    .venv/bin/python bench/slope.py [--sizes 2500,5000,10000,20000] [--container 100000]
                                    [--memory 100000,1000000] [--rounds 2] [--png slope.png]

Three sources, one table and one plot (PNG):
  ad:        the native lab's Samba AD (Debian 12, Samba 4.17; `--no-dc2`), bulk users with a
             group per 20 users and one group of half of them, at each of --sizes
  ad-13:     the same bulk data on Debian 13's Samba 4.22 in a podman container (--container:
             4.17 takes over an hour to load 100k users, 4.22 about 10 minutes; built once
             and cached in its own lab directory)
  memory:    the whole pipeline from an in-memory directory (bench/slope_memory.py's shape),
             at each of --memory, where no AD of that size can be loaded here: its "delta1"
             runs in the process of the first run (as `dirkit watch` does); one user changed,
             in that process and in a new one (as cron), and nothing changed are printed below
Against AD, per size and round, whole `dirkit sync` processes as the README's sync account
(svc-dirkit, Kerberos, tombstone rights; bench/delta_read.py): the ldapsearch floor
(sequential paged dumps of the same users and groups), a first run, a steady full read
(`--full`), a run with nothing changed, and one after 1 % of the users were disabled.
Seconds and peak RSS (MiB) per kind; `ms/1k` = milliseconds per 1,000 users of a steady full
read (flat = linear), `x floor` = full read / floor (flat = dirkit follows the DC).
Only the ratios measured within one run mean anything: these machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from delta_read import measure, measure_on
from sync_read import REPO

from dirkit_lab import Lab, containers
from dirkit_lab.settings import LabPaths

KINDS = ("floor", "first", "full", "delta0", "delta1")
CONTAINER_LAB = Path("/var/lib/dirkit-lab-bulk13")


def ad_rows(sizes: list[int], rounds: int) -> list[dict[str, Any]]:
    lab = Lab()
    rows = []
    for n in sizes:
        t0 = time.monotonic()
        lab.up(bulk_users=n, with_hdfs=False, with_hive=False, with_dc2=False, progress=_say)
        secs, searches, rss = measure(lab, n, rounds, plain=False)
        rows.append({"source": "ad", "users": n, "seconds": secs, "rss": rss, "searches": searches})
        _say(f"ad {n}: {time.monotonic() - t0:.0f}s")
    return rows


def container_rows(sizes: list[int], rounds: int) -> list[dict[str, Any]]:
    if not sizes:
        return []
    docker = REPO / "docker"
    log = CONTAINER_LAB.parent / "dirkit-lab-bulk13.log"
    Lab().down()  # the container's dc1 takes the native dc1's address
    rows = []
    for n in sizes:
        took = containers.bulk_dc(docker, CONTAINER_LAB, n, log)
        _say(f"ad-13 {n}: image {took['image']:.0f}s, dc1 ready (provisioned or restored) {took['ready']:.0f}s")
        p = LabPaths(CONTAINER_LAB)
        Lab(p).write_client_files(with_dc2=False)
        try:
            secs, searches, rss = measure_on(p, n, rounds)
        finally:
            containers.stop_bulk_dc(docker, log)
        rows.append({"source": "ad-13", "users": n, "seconds": secs, "rss": rss, "searches": searches, "build": took})
    return rows


def memory_rows(sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        script = str(REPO / "bench" / "slope_memory.py")
        out = subprocess.run([sys.executable, script, "--one", str(n)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.splitlines()[-1])
        rows.append(
            {
                "source": "memory",
                "users": n,
                "seconds": {"first": r["first"], "delta1": r["steady"]},
                # the rows only the in-memory pipeline has (slope_memory.py): one user changed in
                # the process that ran the last delta (what watch does) and in a new one (cron),
                # nothing changed
                "extra": {"one user": r["single"], "one user, new process": r["cold"], "nothing": r["nothing"]},
                # ru_maxrss only grows: the second sync's peak is the process's, first or second
                "rss": {"first": round(r["peak_first_mib"]), "delta1": round(r["peak_mib"])},
                "searches": {},
            }
        )
        _say(f"memory {n}: done")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'source':<7} {'users':>8} " + " ".join(f"{k + ' s':>9}" for k in KINDS)
    head += f" {'x floor':>7} {'ms/1k':>6} {'MiB first':>9} {'MiB full':>8} {'MiB d0':>7} {'MiB d1':>7}"
    lines = [head]
    for r in rows:
        sec, rss, n = r["seconds"], r["rss"], r["users"]
        cells = " ".join(f"{sec[k]:>9.2f}" if k in sec else f"{'':>9}" for k in KINDS)
        ratio = f"{sec['full'] / sec['floor']:>7.2f}" if "full" in sec and "floor" in sec else f"{'':>7}"
        steady = sec.get("full", sec.get("delta1", 0.0))
        per_k = f"{1000 * steady / (n / 1000):>6.1f}"
        widths = (("first", 9), ("full", 8), ("delta0", 7), ("delta1", 7))
        mib = " ".join(f"{rss[k]:>{w}}" if k in rss else f"{'':>{w}}" for k, w in widths)
        lines.append(f"{r['source']:<7} {n:>8} {cells} {ratio} {per_k} {mib}")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(13, 5.2))
    styles = {"floor": ":", "first": "-.", "full": "-", "delta0": "--", "delta1": "-"}
    colours = {"floor": "grey", "first": "tab:orange", "full": "tab:blue", "delta0": "tab:green", "delta1": "tab:red"}
    markers = {"ad": "o", "ad-13": "s", "memory": "^"}
    for source in ("ad", "ad-13", "memory"):
        mine = sorted((r for r in rows if r["source"] == source), key=lambda r: r["users"])
        if not mine:
            continue
        for kind in KINDS:
            pts = [(r["users"], r["seconds"][kind]) for r in mine if kind in r["seconds"]]
            if pts:
                ax_t.plot(*zip(*pts, strict=True), styles[kind], color=colours[kind], marker=markers[source],
                          label=f"{source} {kind}")  # fmt: off
            pts = [(r["users"], r["rss"][kind]) for r in mine if kind in r["rss"]]
            if pts and kind != "floor":
                ax_m.plot(*zip(*pts, strict=True), styles[kind], color=colours[kind], marker=markers[source],
                          label=f"{source} {kind}")  # fmt: off
    for ax, what in ((ax_t, "seconds per run"), (ax_m, "peak RSS, MiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("users")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    ax_t.set_title("time (log-log: a linear cost is a line of slope 1)")
    ax_m.set_title("memory")
    fig.suptitle(
        "dirkit sync by directory size: ad = Samba 4.17, ad-13 = Samba 4.22 (whole processes as svc-dirkit); memory = in-memory source"
    )
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def slopes(rows: list[dict[str, Any]]) -> str:
    """The log-log slope of each series between its smallest and largest size (1.0 = linear)."""
    import math

    out = []
    for source in ("ad", "ad-13", "memory"):
        mine = sorted((r for r in rows if r["source"] == source), key=lambda r: r["users"])
        if len(mine) < 2:
            continue
        lo, hi = mine[0], mine[-1]
        for kind in ("first", "full", "delta1"):
            if kind in lo["seconds"] and kind in hi["seconds"]:
                k = math.log(hi["seconds"][kind] / lo["seconds"][kind]) / math.log(hi["users"] / lo["users"])
                out.append(f"{source} {kind}: time slope {k:.2f} ({lo['users']}..{hi['users']} users)")
    return "\n".join(out)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2500,5000,10000,20000", help="native Samba AD sizes ('' for none)")
    ap.add_argument("--container", default="", help="Debian 13 Samba sizes in a container, e.g. 100000")
    ap.add_argument("--memory", default="100000,1000000", help="in-memory pipeline sizes ('' for none)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--png", type=Path, default=REPO / "bench" / "slope.png")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    a = ap.parse_args()
    rows = ad_rows(_sizes(a.sizes), a.rounds)
    rows += container_rows(_sizes(a.container), a.rounds)
    rows += memory_rows(_sizes(a.memory))
    print(f"medians of {a.rounds} rounds; AD: whole `dirkit sync` processes as svc-dirkit (Kerberos)")
    print(table(rows))
    for r in rows:
        if r.get("extra"):
            extra = ", ".join(f"{k} {v:.2f} s" for k, v in r["extra"].items())
            print(f"memory {r['users']}: {extra}")
    print(slopes(rows))
    plot(rows, a.png)
    print(f"plot: {a.png}")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
