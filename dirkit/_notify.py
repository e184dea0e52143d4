"""Telling someone a run needs them: a configured command gets the run's record as JSON.

A cron job nobody watches has to say when it needs a human. ``[notify] command`` runs (argv,
no shell) with the record on stdin and an allow-listed environment (child_env; never the
secrets of ``env:`` references) when a run ends in one of ``notify.on``; it may page, mail
or post. Its failure or timeout is logged and never changes the run's outcome. With no
notifier, the CLI's one summary line on stderr reaches cron's MAILTO.
"""

from __future__ import annotations

import json
import logging
import subprocess

from ._child_env import child_env
from ._config import NotifyConfig
from ._log import event
from ._run_record import RunRecord

log = logging.getLogger("dirkit.notify")  # its name before the module became private


def notify(config: NotifyConfig | None, record: RunRecord) -> bool:
    """Run the notifier for this record if its outcome is one it wants. True if it ran and
    succeeded; never raises."""
    if config is None or record.outcome not in config.on:
        return False
    program = config.command[0]
    try:
        done = subprocess.run(
            config.command,
            input=json.dumps(record.to_json(), sort_keys=True, default=str),
            text=True,
            capture_output=True,
            timeout=config.timeout_seconds,
            env=child_env(pass_env=config.pass_env),
        )
    except subprocess.TimeoutExpired:
        event(log, "notify_failed", logging.ERROR, program=program, why=f"timed out after {config.timeout_seconds}s")
        return False
    except OSError as exc:
        event(log, "notify_failed", logging.ERROR, program=program, why=exc.strerror or str(exc))
        return False
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        event(log, "notify_failed", logging.ERROR, program=program, exit=done.returncode, output=tail[0][:200])
        return False
    event(log, "notified", program=program, outcome=record.outcome)
    return True
