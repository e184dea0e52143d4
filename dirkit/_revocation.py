"""What a run does when it revoked someone: the cluster's caches told at once (``[revocation]``).

A disabled or removed AD user, or one taken out of a group, keeps the old answer on the cluster
for as long as each layer caches it: Hadoop's groups cache (``hadoop.security.groups.cache.secs``,
300 s), SSSD's entry cache (``entry_cache_timeout``, 5400 s). After a run that applied such a
change, the configured commands flush them: Hadoop's ``-refreshUserToGroupsMappings`` (as a Hadoop
admin, with a ticket from ``revocation.keytab``) and ``sss_cache`` on each node. Each is bounded
in time and recorded in the run's record; a failure is logged and reported, never fails the run
(the state is applied; the caches expire by themselves).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import _kerberos as kerberos
from ._child_env import child_env, through
from ._config import RevocationConfig
from ._log import event
from ._plan import Plan
from ._run_record import ActionRecord
from .errors import KerberosError

log = logging.getLogger("dirkit")

# Past this many users and groups, a node's whole SSSD cache of users and groups is invalidated
# (`sss_cache -U -G`) in one call instead of one call per name.
MAX_INVALIDATIONS = 50
REVOKING = ("user_disabled", "user_removed", "membership_removed")


@dataclass
class RevokedNames:
    """What a plan revoked: users (by name) who lost access or a group, groups that lost members."""

    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, plan: Plan) -> RevokedNames:
        users = sorted({c.name for c in plan.changes if c.kind in REVOKING and c.name})
        groups = sorted({c.detail for c in plan.changes if c.kind == "membership_removed" and c.detail})
        return cls(users, groups)


def node_argv(prefix: Sequence[str], revoked: RevokedNames) -> list[list[str]]:
    """The ``sss_cache`` calls for one node: one per user and group, or one for all of them. A
    name is an AD name: given as ``--user=NAME`` (one that starts with ``-`` stays a value) and
    quoted for a remote shell (child_env.through)."""
    if len(revoked.users) + len(revoked.groups) > MAX_INVALIDATIONS:
        return [through(prefix, ["sss_cache", "-U", "-G"])]
    calls = [through(prefix, ["sss_cache", f"--user={u}"]) for u in revoked.users]
    return calls + [through(prefix, ["sss_cache", f"--group={g}"]) for g in revoked.groups]


def run_actions(config: RevocationConfig, revoked: RevokedNames) -> list[ActionRecord]:
    """Every configured action for ``revoked``; never raises."""
    if not revoked.users or not (config.refresh_commands or config.node_commands):
        return []
    out: list[ActionRecord] = []
    tmp = Path(tempfile.mkdtemp(prefix="dirkit-revoke-"))  # 0700: the ticket's private cache
    try:
        extra: dict[str, str] = {}
        if config.refresh_commands and config.principal and config.keytab:
            ccache = f"FILE:{tmp / 'ccache'}"
            try:
                kerberos.keytab_credentials(config.principal, config.keytab, ccache)
                extra["KRB5CCNAME"] = ccache
            except KerberosError as exc:
                out.append(ActionRecord("refresh", "kinit", False, 0.0, str(exc)))
                event(log, "revocation_action_failed", logging.ERROR, action="refresh", error=str(exc))
        if "KRB5CCNAME" in extra or not config.principal:
            out += [_run("refresh", argv, config, extra) for argv in config.refresh_commands]
        for prefix in config.node_commands:
            out += [_run("node_cache", argv, config, {}) for argv in node_argv(prefix, revoked)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _not_cached(code: int, said: str) -> bool:
    """sss_cache's answer for a name the node has not cached: nothing to forget (exit 2 with
    this message, SSSD 2.8 on the lab's node)."""
    return code == 2 and "No cache object matched" in said


def _run(action: str, argv: list[str], config: RevocationConfig, extra: dict[str, str]) -> ActionRecord:
    t0 = time.monotonic()
    error = ""
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=config.timeout_seconds,
            env=child_env(extra, config.pass_env),
        )
        said = (done.stderr or done.stdout).strip()
        if done.returncode != 0 and not (action == "node_cache" and _not_cached(done.returncode, said)):
            tail = said.splitlines()[-1:] or [""]
            error = f"exit {done.returncode}: {tail[0][:200]}"
    except subprocess.TimeoutExpired:
        error = f"timed out after {config.timeout_seconds:g}s"
    except OSError as exc:
        error = exc.strerror or str(exc)
    rec = ActionRecord(action, argv[0], not error, round(time.monotonic() - t0, 3), error)
    if error:
        event(log, "revocation_action_failed", logging.ERROR, action=action, program=argv[0], error=error)
    else:
        event(log, "revocation_action", action=action, program=argv[0], seconds=rec.seconds)
    return rec
