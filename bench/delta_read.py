#!/usr/bin/env python3
"""Benchmark: delta reads against full reads and the raw `ldapsearch` floor, same run.

    .venv/bin/python bench/delta_read.py [--rounds 3] [--sizes 1000,10000]

For each bulk size, brings the lab up with it, then per round, on a fresh state DB, as the
README's sync account (svc-dirkit, Kerberos from its keytab, allowed to read tombstones):
  floor:  ldapsearch -E pr=1000/noprompt of the users and groups (LDAPS, to /dev/null)
  full:   `dirkit sync --full` in the steady state (a snapshot exists)
  delta0: `dirkit sync` with nothing changed since the last run (one rootDSE search)
  delta1: `dirkit sync` after 1 % of the users were disabled (re-enabled after the round)
  plain1: the same as svc-dirkit without tombstone rights (deletions found by listing GUIDs)
Whole processes (start, imports, config, state), as cron runs them. Only the ratios measured
within one run mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ldap3
import tomllib

from dirkit._state import StateStore
from dirkit_lab import Lab
from dirkit_lab import settings as s
from dirkit_lab.settings import LabPaths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync_read import REPO, floor_commands, timed


def admin(ca: str) -> ldap3.Connection:
    server = ldap3.Server(
        s.AD_HOST,
        port=636,
        use_ssl=True,
        get_info=ldap3.NONE,
        tls=ldap3.Tls(ca_certs_file=ca, validate=ssl.CERT_REQUIRED),
    )
    return ldap3.Connection(server, user=f"Administrator@{s.AD_REALM}", password=s.ADMIN_PASSWORD, auto_bind=True)


def config(lab_cfg: dict[str, dict[str, Any]], state: Path) -> str:
    """The lab's sync account and scope; no documents or homes (the sync core is measured)."""
    lines: list[str] = []
    for section in ("ldap", "kerberos", "directory"):
        lines += [f"[{section}]", *(f"{k} = {json.dumps(v)}" for k, v in lab_cfg[section].items())]
    lines += ["[state]", f"path = {json.dumps(str(state))}", "[safety]", "max_removal_percent = 100"]
    return "\n".join(lines) + "\n"


Measured = tuple[dict[str, float], dict[str, int], dict[str, int]]


def measure(lab: Lab, size: int, rounds: int, plain: bool) -> Measured:
    """Median seconds, LDAP searches and peak RSS (MiB) per kind of run, at ``size`` bulk users."""
    lab.up(bulk_users=size, progress=lambda m: print(m, file=sys.stderr))
    return measure_on(lab.paths, size, rounds, lab.tombstone_rights if plain else None)


def measure_on(p: LabPaths, size: int, rounds: int, rights: Callable[[bool], None] | None = None) -> Measured:
    """:func:`measure` on a lab already up in ``p`` (native or in a container). ``rights``
    grants/revokes svc-dirkit's tombstone rights: given, the plain1 runs are measured too.
    The first run on each round's fresh state is reported as ``first``."""
    lab_cfg = tomllib.loads(p.config.read_text())
    env = {**os.environ, "LDAPTLS_CACERT": str(p.ca_cert), "KRB5_CONFIG": str(p.krb5_conf)}
    conn = admin(str(p.ca_cert))
    found = conn.extend.standard.paged_search(
        s.AD_BASE, "(&(objectClass=user)(sAMAccountName=bulkuser*))", attributes=["cn"], paged_size=1000
    )
    bulk_users = sorted(e["dn"] for e in found if e.get("type") == "searchResEntry")
    one_percent = bulk_users[: max(1, len(bulk_users) // 100)]
    users_cmd, groups_cmd = floor_commands("(&(objectCategory=person)(objectClass=user))")
    # As cron runs it (-q, no --json: a first run's --json lists every membership it adds, 580k
    # at 100k users, which a scheduled job never prints); what it read comes from its run record.
    dirkit = [str(REPO / ".venv" / "bin" / "dirkit"), "-q", "sync", "--allow-removals"]
    kinds = ["floor", "first", "full", "delta0", "delta1", *(["plain1"] if rights else [])]
    rows: dict[str, list[float]] = {k: [] for k in kinds}
    searches: dict[str, int] = {}
    rss: dict[str, int] = {}

    def run(kind: str, conf: Path, *extra: str) -> None:
        t, peak, _ = timed([*dirkit, *extra, "-c", str(conf)], env)
        with StateStore(Path(tomllib.loads(conf.read_text())["state"]["path"])) as store:
            read = store.runs(1)[0].record["read"]
        assert read["kind"] == ("full" if kind in ("first", "full") else "delta"), read.get("why")
        rows[kind].append(t)
        searches[kind], rss[kind] = read["searches"], max(rss.get(kind, 0), peak)

    def flip(uac: int) -> None:
        for u in one_percent:
            conn.modify(u, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [uac])]})

    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            if rights:
                rights(True)
            tu, _, _ = timed(users_cmd, env)
            tg, _, _ = timed(groups_cmd, env)
            rows["floor"].append(tu + tg)
            conf = Path(tmp) / f"r{r}.toml"
            conf.write_text(config(lab_cfg, Path(tmp) / f"state{r}.sqlite"))
            run("first", conf)
            run("full", conf, "--full")
            run("delta0", conf)
            flip(514)
            run("delta1", conf)
            flip(512)
            if rights:
                rights(False)
                conf = Path(tmp) / f"p{r}.toml"
                conf.write_text(config(lab_cfg, Path(tmp) / f"plain{r}.sqlite"))
                timed([*dirkit, "-c", str(conf)], env)  # first run, without the right
                flip(514)
                run("plain1", conf)
                flip(512)
                rights(True)
            print(f"{size}, round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in rows.items()), file=sys.stderr)
    return {k: statistics.median(v) for k, v in rows.items()}, searches, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="1000,10000", help="bulk user counts, comma-separated (the largest last)")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    lab = Lab()
    results = {n: measure(lab, n, a.rounds, plain=n == sizes[-1]) for n in sizes}
    print(f"medians of {a.rounds} rounds; whole `dirkit sync` processes as svc-dirkit (Kerberos)")
    print(f"{'bulk users':>10} {'kind':<8} {'seconds':>8} {'x floor':>8} {'% full':>7} {'searches':>8} {'RSS MiB':>8}")
    for n, (m, searches, rss) in results.items():
        for kind, t in m.items():
            extra = "" if kind == "floor" else f"{100 * t / m['full']:>6.1f}% {searches[kind]:>8} {rss[kind]:>8}"
            print(f"{n:>10} {kind:<8} {t:>8.3f} {t / m['floor']:>8.2f} {extra}")
    small, big = results[sizes[0]][0], results[sizes[-1]][0]
    print(f"nothing changed, {sizes[-1]} vs {sizes[0]} users: {big['delta0'] / small['delta0']:.2f}x (goal <= 1.2)")
    print(f"nothing changed at {sizes[-1]}: {100 * big['delta0'] / big['full']:.1f}% of a full read (goal <= 5 %)")
    print(f"1 % changed at {sizes[-1]}: {100 * big['delta1'] / big['full']:.1f}% of a full read (goal <= 15 %)")
    if "plain1" in big:
        print(f"1 % changed, no tombstone rights: {100 * big['plain1'] / big['full']:.1f}% of a full read")


if __name__ == "__main__":
    main()
