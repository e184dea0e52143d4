#!/usr/bin/env python3
"""Benchmark: delta reads against full reads and the raw `ldapsearch` floor, same run.

    .venv/bin/python bench/delta_read.py [--rounds 3] [--bulk 10000]

Brings the lab up with the bulk data, then per round, on a fresh state DB:
  floor:  ldapsearch -E pr=1000/noprompt of the users and groups (LDAPS, to /dev/null)
  full:   `dirkit sync --full` in the steady state (a snapshot exists)
  delta0: `dirkit sync` with nothing changed since the last run
  delta1: `dirkit sync` after 1 % of the users were disabled (re-enabled after the round)
The sync account is the domain Administrator (simple bind): AD lists tombstones, and so
deletions, only to accounts allowed to list CN=Deleted Objects; a throwaway user is created and
deleted first so that one exists. Only the ratios measured within one run mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import ldap3
import tomllib

from dirkit.lab import Lab
from dirkit.lab import settings as s

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
    ldap = dict(lab_cfg["ldap"])
    for k in ("principal", "keytab"):
        ldap.pop(k, None)
    ldap.update(bind="simple", bind_dn=f"Administrator@{s.AD_REALM}", password="env:DIRKIT_BENCH_ADMIN_PW")
    lines = ["[ldap]", *(f"{k} = {json.dumps(v)}" for k, v in ldap.items())]
    for section in ("kerberos", "directory"):
        lines += [f"[{section}]", *(f"{k} = {json.dumps(v)}" for k, v in lab_cfg[section].items())]
    lines += ["[state]", f"path = {json.dumps(str(state))}", "[safety]", "max_removal_percent = 100"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bulk", type=int, default=10_000)
    a = ap.parse_args()
    lab = Lab()
    lab.up(bulk_users=a.bulk, progress=lambda m: print(m, file=sys.stderr))
    status = lab.status()
    lab_cfg = tomllib.loads(Path(status["config"]).read_text())
    env = {
        **os.environ,
        "LDAPTLS_CACERT": status["ca_cert"],
        "KRB5_CONFIG": status["krb5_conf"],
        "DIRKIT_BENCH_ADMIN_PW": s.ADMIN_PASSWORD,
    }
    conn = admin(status["ca_cert"])
    dn = f"CN=bench-tombstone,CN=Users,{s.AD_BASE}"
    conn.add(dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": "bench-tombstone"})
    conn.delete(dn)
    found = conn.extend.standard.paged_search(
        s.AD_BASE, "(&(objectClass=user)(sAMAccountName=bulkuser*))", attributes=["cn"], paged_size=1000
    )
    bulk_users = sorted(e["dn"] for e in found if e.get("type") == "searchResEntry")
    users_cmd, groups_cmd = floor_commands("(&(objectCategory=person)(objectClass=user))")
    dirkit = [str(REPO / ".venv" / "bin" / "dirkit"), "sync", "--json", "--allow-removals"]
    rows: dict[str, list[float]] = {"floor": [], "full": [], "delta0": [], "delta1": []}
    searches: dict[str, int] = {}
    rss: dict[str, int] = {}
    one_percent = bulk_users[: max(1, len(bulk_users) // 100)]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            tu, _, _ = timed(users_cmd, env)
            tg, _, _ = timed(groups_cmd, env)
            rows["floor"].append(tu + tg)
            conf = Path(tmp) / f"r{r}.toml"
            conf.write_text(config(lab_cfg, Path(tmp) / f"state{r}.sqlite"))
            timed([*dirkit, "-c", str(conf)], env)  # first run
            for kind, extra in (("full", ["--full"]), ("delta0", [])):
                t, peak, out = timed([*dirkit, *extra, "-c", str(conf)], env)
                rows[kind].append(t)
                st = json.loads(out)["stats"]
                searches[kind], rss[kind] = st["ldap_searches"], max(rss.get(kind, 0), peak)
                assert st["read_kind"] == ("full" if kind == "full" else "delta"), st.get("read_why")
            for u in one_percent:
                conn.modify(u, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [514])]})
            t, peak, out = timed([*dirkit, "-c", str(conf)], env)
            st = json.loads(out)["stats"]
            rows["delta1"].append(t)
            searches["delta1"], rss["delta1"] = st["ldap_searches"], max(rss.get("delta1", 0), peak)
            for u in one_percent:
                conn.modify(u, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [512])]})
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in rows.items()), file=sys.stderr)
    m = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{len(bulk_users)} bulk users; medians of {a.rounds} rounds")
    print(f"floor (ldapsearch users+groups):        {m['floor']:.2f}s")
    print(
        f"full sync (steady, --full):              {m['full']:.2f}s  ratio to floor {m['full'] / m['floor']:.2f}  "
        f"searches {searches['full']}  peak RSS {rss['full']} MiB"
    )
    print(
        f"delta, nothing changed:                  {m['delta0']:.2f}s  {100 * m['delta0'] / m['full']:.0f}% of full  "
        f"searches {searches['delta0']}  peak RSS {rss['delta0']} MiB"
    )
    print(
        f"delta, 1% of users disabled ({len(one_percent)}):       {m['delta1']:.2f}s  "
        f"{100 * m['delta1'] / m['full']:.0f}% of full  searches {searches['delta1']}  peak RSS {rss['delta1']} MiB"
    )


if __name__ == "__main__":
    main()
