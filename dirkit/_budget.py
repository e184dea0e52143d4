"""The revocation budget: how long the cluster may still honour a user AD has just revoked,
layer by layer, and the worst case per service (`dirkit report`'s ``revocation_budget``,
`dirkit verify --revoked`'s last lines).

Each layer keeps its own answer for as long as its setting says: dirkit until its next run,
Hadoop's groups cache, SSSD's cache on each node, Kerberos tickets already issued, HDFS
delegation tokens, Hue's session. The settings are the cluster's: ``[revocation]`` and
``[sssd]`` say what they are set to (their defaults are the services' own); what dirkit does
about each is what ``[revocation]`` configures. A worst case adds up the layers a service goes
through: a group-based HDFS decision waits for dirkit, then for the NameNode's cache.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ._config import Config, SssdConfig

HOUR, DAY = 3600.0, 86400.0


@dataclass(frozen=True)
class Layer:
    """One layer that may keep a revoked user's old answer."""

    layer: str  # "dirkit", "hadoop_groups", "sssd", "kerberos", "delegation_tokens", "hue"
    holds: str  # what keeps the old answer
    seconds: float  # the longest it may keep it, with what dirkit does about it
    setting: str  # where the figure comes from
    action: str  # what dirkit does about it ("" when nothing can)

    def to_json(self) -> dict[str, object]:
        """One of docs/json.md's ``revocation_budget.layers``."""
        return {
            "layer": self.layer,
            "holds": self.holds,
            "seconds": self.seconds,
            "setting": self.setting,
            "action": self.action,
        }


@dataclass(frozen=True)
class Budget:
    """Every layer, and per service the worst case (seconds) with the layers it adds up."""

    layers: tuple[Layer, ...]
    services: tuple[tuple[str, float, tuple[str, ...]], ...]  # (service, seconds, layers)

    def to_json(self) -> dict[str, object]:
        """docs/json.md's ``revocation_budget``."""
        return {
            "layers": [x.to_json() for x in self.layers],
            "services": [{"service": s, "seconds": t, "layers": list(ls)} for s, t, ls in self.services],
        }

    def lines(self) -> list[str]:
        """For a person: one line per service, its worst case and where it comes from."""
        by = {x.layer: x for x in self.layers}
        out = []
        for service, seconds, layers in self.services:
            parts = " + ".join(f"{by[x].holds} {_human(by[x].seconds)}" for x in layers)
            out.append(f"{service}: up to {_human(seconds)} ({parts})")
        return out


def _human(seconds: float) -> str:
    if seconds >= 2 * DAY:
        return f"{seconds / DAY:.3g} days"
    if seconds >= 2 * HOUR:
        return f"{seconds / HOUR:.3g} h"
    if seconds >= 120:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.3g} s"


def dirkit_layer(cfg: Config, runs: Sequence[tuple[str, float, float | None]]) -> Layer:
    """dirkit's own delay, from the recent runs (command, start, seconds; newest first): a
    watch applies a change within a poll, a debounce and a run; a schedule within the gap
    between its runs and a run."""
    took = [s for _, _, s in runs if s is not None]
    run = statistics.median(took) if took else 0.0
    if runs and runs[0][0] == "watch":
        w = cfg.watch
        return Layer("dirkit", "dirkit watch", round(w.poll_seconds + w.debounce_seconds + run, 3),
                     "watch.poll_seconds + watch.debounce_seconds + a run", "")  # fmt: off
    starts = [t for c, t, _ in runs if c == "sync"]
    gaps = [a - b for a, b in zip(starts, starts[1:], strict=False) if a > b]
    if not gaps:
        return Layer("dirkit", "dirkit's schedule", 300.0 + run, "not known yet: README's cron, every 5 min", "")
    return Layer("dirkit", "dirkit's schedule", round(statistics.median(gaps) + run, 3),
                 f"the median gap between the last {len(starts)} runs, and a run", "")  # fmt: off


def budget(cfg: Config, runs: Sequence[tuple[str, float, float | None]]) -> Budget:
    """The budget under ``cfg``, dirkit's delay read from ``runs`` (see dirkit_layer)."""
    r, s = cfg.revocation, cfg.sssd or SssdConfig()
    refresh = bool(r.refresh_commands)
    flush_nodes = bool(r.node_commands)
    sssd_secs = float(max(s.entry_cache_timeout, s.memcache_timeout))
    layers = (
        dirkit_layer(cfg, runs),
        Layer(
            "hadoop_groups",
            "Hadoop's groups cache",
            r.timeout_seconds if refresh else float(r.groups_cache_seconds),
            "revocation.groups_cache_seconds (the cluster's hadoop.security.groups.cache.secs)",
            "flushed by revocation.refresh_commands" if refresh else "",
        ),
        Layer(
            "sssd",
            "SSSD's cache on each node",
            r.timeout_seconds if flush_nodes else sssd_secs,
            "sssd.entry_cache_timeout / sssd.memcache_timeout (the nodes' sssd.conf)",
            "invalidated by revocation.node_commands (sss_cache)" if flush_nodes else "",
        ),
        Layer(
            "kerberos",
            "Kerberos tickets already issued",
            r.ticket_lifetime_hours * HOUR,
            "revocation.ticket_lifetime_hours (AD's maximum user ticket lifetime)",
            "",
        ),  # fmt: off
        Layer(
            "delegation_tokens",
            "HDFS delegation tokens",
            r.delegation_token_days * DAY,
            "revocation.delegation_token_days (dfs.namenode.delegation.token.max-lifetime)",
            "",
        ),  # fmt: off
        Layer(
            "hue",
            "Hue's session",
            r.hue_session_days * DAY,
            "revocation.hue_session_days (Hue's [desktop] [[session]] ttl)",
            "",
        ),
    )
    by = {x.layer: x.seconds for x in layers}

    def worst(service: str, *names: str) -> tuple[str, float, tuple[str, ...]]:
        return service, round(sum(by[n] for n in names), 3), names

    services = (
        worst("HDFS and YARN, by group", "dirkit", "hadoop_groups"),
        worst("a node's users and groups (id, ssh, sudo)", "dirkit", "sssd"),
        worst("Kerberos services, with a ticket already issued", "kerberos"),
        worst("HDFS, with a delegation token already issued", "delegation_tokens"),
        worst("Hue, in a session already open", "hue"),
    )
    return Budget(layers, services)
