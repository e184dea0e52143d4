"""Command line: a thin layer over the Python API. Parse, call, print (table or --json)."""

from __future__ import annotations

import json
import sys
import warnings
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from . import _log as dlog
from .errors import (
    EXIT_CHANGES,
    EXIT_CHECKS_FAILED,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_PARTIAL,
    DirkitError,
    UsageError,
)

if TYPE_CHECKING:  # the API is imported when a command runs: `--help` and `--version` stay light
    from . import AwsChange, DeployPlan, Directory, Document, HeldPlan, HomesResult, Plan, Run
    from ._api import CoreSiteFormat, Dirkit, HueFormat


def _emit_json(data: Any) -> None:
    # Indented for a person at a terminal; one compact line for scripts (and much faster:
    # the indenting encoder is pure Python, ~1 s for a 60,000-change plan).
    pretty = sys.stdout.isatty()
    click.echo(json.dumps(data, indent=2 if pretty else None, sort_keys=True, ensure_ascii=False))


def _err(msg: str) -> None:
    click.echo(msg, err=True)


class DirkitGroup(click.Group):
    """Turns DirkitError into one clear message and its documented exit code; anything else
    is a bug: one line saying so (the traceback only with -v), exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DirkitError as exc:
            _err(f"dirkit: error: {exc}")
            ctx.exit(exc.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for admins
            if ctx.meta.get("dirkit.verbose"):
                import traceback

                traceback.print_exc()
            _err(
                f"dirkit: internal error (a bug in dirkit, please report it with the output of -v): "
                f"{type(exc).__name__}: {exc}"
            )
            ctx.exit(EXIT_FAILURE)


@click.group(cls=DirkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dirkit")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="DIRKIT_LOG_FORMAT",
    help="Log lines on stderr: key=value text or JSON lines.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("-q", "--quiet", is_flag=True, help="Log errors only (for cron: silent unless a run needs a human).")
def main(log_format: str, verbose: bool, quiet: bool) -> None:
    """dirkit: Active Directory + Kerberos for multi-tenant Hadoop/EMR clusters.

    \b
    Typical use:
      dirkit plan -c /etc/dirkit/dirkit.toml # what would change (exit 3 if anything)
      dirkit sync -c /etc/dirkit/dirkit.toml # read AD, plan, apply
      dirkit snapshot --user dataeng1        # a user's groups and why
      dirkit -q sync >/dev/null              # under cron: output only when a run needs a human

    \b
    Exit codes: 0 ok / no changes, 1 internal error or nothing to work from, 2 usage,
    3 changes pending (plan), 4 config (or a file it names), 5 AD/Kerberos/NameNode failed,
    6 another run holds the lock, 7 safety threshold (nothing applied), 8 partial failure,
    10 verify: a check failed.
    """
    dlog.setup(log_format, verbose, quiet)
    if not verbose:
        # Third-party deprecation noise (cryptography on a DC's certificate, ldap3, thrift) is
        # nothing an admin can act on, and cron would mail it on every run; -v shows it.
        warnings.simplefilter("ignore")
    click.get_current_context().meta["dirkit.verbose"] = verbose


def _progress() -> Any:
    """Progress lines only for a person at a terminal; cron gets the one-line log events."""
    return _err if sys.stderr.isatty() else None


def _kit(config_path: str | None) -> Dirkit:
    from ._api import Dirkit

    return Dirkit(config_path, progress=_progress())


config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="DIRKIT_CONFIG",
    help="Config file (default: $DIRKIT_CONFIG, then /etc/dirkit/dirkit.toml).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output (see docs/json.md).")


# ------------------------------------------------------------------------------ sync and plan
@main.command("plan")
@config_option
@json_option
def plan_cmd(config_path: str | None, as_json: bool) -> None:
    """Show what a sync would change since the last applied state. Changes nothing.

    Exit code 0: no changes; 3: changes pending; 7 is never used here (see `sync`).

    \b
    Examples:
      dirkit plan -c /etc/dirkit/dirkit.toml
      dirkit plan --json | jq '.changes[] | select(.kind=="user_removed")'
    """
    kit = _kit(config_path)
    d, p = kit.plan()
    _warn_superusers(d)
    held = kit.held_plans()
    if as_json:
        _emit_json({**p.to_json(), "held": [h.to_json() for h in held]})
    else:
        _print_plan(p)
        _print_held(held, p.digest)
    sys.exit(EXIT_CHANGES if not p.empty else EXIT_OK)


def _warn_superusers(d: Directory) -> None:
    """AD groups named like a superuser group of the cluster: on stderr, whatever the format."""
    for w in d.superuser_warnings():
        _err(f"warning: {w}")


def _print_held(held: list[HeldPlan], current: str) -> None:
    import time as _time

    for h in held:
        when = _time.strftime("%Y-%m-%d %H:%M", _time.localtime(h.held))
        state = "approved, waiting for a run" if h.approved else "waiting for `dirkit approve`"
        same = " (this plan)" if h.digest == current else " (no longer what the directory says)"
        click.echo(f"held plan {h.digest[:12]} since {when} (run #{h.run_id}): {h.reason}; {state}{same}")


@main.command("approve")
@config_option
@json_option
@click.argument("digest")
def approve_cmd(config_path: str | None, as_json: bool, digest: str) -> None:
    """Apply a plan a safety limit held, by its digest (from `dirkit plan` or the run's message).

    The directory is read again: if the plan is no longer exactly the held one, nothing is
    applied (exit 7) and the new plan is shown by `dirkit plan`. If another run holds the lock
    (exit 6), the approval stays recorded and the next scheduled run that computes the same
    plan applies it.

    \b
    Examples:
      dirkit plan                       # shows: held plan 3f2a9c1b7e4d since ... (run #42)
      dirkit approve 3f2a9c1b7e4d
    """
    result = _kit(config_path).approve(digest)
    if as_json:
        _emit_json(result.to_json())
    else:
        _print_plan(result.plan)
        click.echo(f"approved plan {result.plan.digest[:12]} applied in run #{result.run_id}")


@main.command("sync")
@config_option
@json_option
@click.option("--dry-run", is_flag=True, help="Read and plan, print the plan, change nothing.")
@click.option("--allow-removals", is_flag=True, help="Apply even if removals exceed the safety threshold.")
@click.option("--full", is_flag=True, help="Read the whole directory, not only what changed since the last run.")
def sync_cmd(config_path: str | None, as_json: bool, dry_run: bool, allow_removals: bool, full: bool) -> None:
    """Read AD, plan against the last applied state, and apply.

    Safe under cron: a second run while one is going exits at once with code 6; removals above
    safety.max_removals / safety.max_removal_percent stop the run with code 7 before anything
    is applied, unless --allow-removals is given.

    \b
    Examples:
      dirkit sync -c /etc/dirkit/dirkit.toml
      dirkit sync --dry-run
      dirkit sync --full               # ignore the watermark: read everything (delta reads otherwise)
      dirkit --log-format json sync    # one JSON log line per event, for log shippers
    """
    result = _kit(config_path).sync(dry_run=dry_run, allow_removals=allow_removals, full=full)
    for w in result.superuser_warnings():
        _err(f"warning: {w}")
    if as_json:
        _emit_json(result.to_json())
    else:
        _print_plan(result.plan)
        for f in result.files:
            if f.status != "unchanged":
                click.echo(f"file {f.status:<9} {f.name}" + ("" if result.applied else " (not written: dry run)"))
        if result.homes is not None:
            _print_homes(result.homes, not result.applied)
        verb = "applied" if result.applied else "dry run, nothing applied"
        click.echo(
            f"{verb}: {len(result.plan.changes)} change(s), {result.read.users} users, "
            f"{result.read.groups} groups in {result.seconds:.2f}s"
        )


@main.command("watch")
@config_option
def watch_cmd(config_path: str | None) -> None:
    """Run a delta sync within seconds of each change in AD, until stopped (a service).

    Each run is a `dirkit sync` run (lock, record, deadline, metrics, notifier). It hears AD
    through a change-notification search where the DC allows one, and polls the rootDSE's
    highestCommittedUSN every watch.poll_seconds (deletions are not notified); a run also comes
    every watch.run_every_minutes when AD is quiet. A failed run or an unreachable DC never ends
    it. SIGTERM or Ctrl-C stops it between runs (exit 0); SIGHUP reads the config again.
    For systemd: config/dirkit-watch.service (Type=notify, with a watchdog).

    \b
    Examples:
      dirkit watch -c /etc/dirkit/dirkit.toml
      dirkit --log-format json watch        # one JSON line per run, for the journal
      systemctl reload dirkit-watch         # SIGHUP: the config file read again
    """
    import signal

    watcher = _kit(config_path).watcher(lambda: _kit(config_path))
    signal.signal(signal.SIGTERM, lambda *_: watcher.stop())
    signal.signal(signal.SIGINT, lambda *_: watcher.stop())
    signal.signal(signal.SIGHUP, lambda *_: watcher.reload())
    watcher.run()


@main.command("snapshot")
@config_option
@json_option
@click.option("--user", "user_name", help="Only this user: their effective groups and the chain behind each.")
@click.option("--from-state", is_flag=True, help="Show the last applied snapshot instead of reading AD.")
def snapshot_cmd(config_path: str | None, as_json: bool, user_name: str | None, from_state: bool) -> None:
    """Show what dirkit sees in AD: users, groups, effective memberships, issues.

    \b
    Examples:
      dirkit snapshot --json > snapshot.json
      dirkit snapshot --user datascientist1     # groups, with the nesting path for each
    """
    data = _kit(config_path).snapshot_view(user_name, from_state=from_state).to_json()
    if as_json:
        _emit_json(data)
    elif user_name is not None:
        click.echo(f"{data['name']} ({data['dn']}){'' if data['enabled'] else '  [disabled]'}")
        for g in data["groups"]:
            how = (
                "primary group"
                if g["primary"] and g["direct"]
                else ("direct" if g["direct"] else "via " + " > ".join(g["via"]))
            )
            click.echo(f"  {g['group'] or g['sam_account_name'] + ' (unusable name)':<32} {how}")
        node = data["cluster"]
        click.echo(f"on the cluster nodes (SSSD): {node['name']} uid={node['uid']} gid={node['gid']}")
        for g in node["groups"]:
            mark = "" if g["resolved"] else "  NOT RESOLVED: the nodes show the SID (see `dirkit sssd config`)"
            click.echo(f"  {g['name']:<32} gid={g['gid']}{mark}")
    else:
        for u in data["users"]:
            flag = "" if u["enabled"] else " [disabled]"
            click.echo(
                f"{u['name'] or '(excluded) ' + u['sam_account_name']}{flag}: "
                f"{', '.join(g['group'] for g in u['groups'] if g['group'])}"
            )
        for i in data["issues"]:
            click.echo(f"issue {i['kind']}: {i['dn']}: {i['detail']}")
        for w in data["cluster"]["warnings"]:
            click.echo(f"cluster: {w}")
        s = data["stats"]
        click.echo(
            f"{s['users']} users, {s['groups']} groups, {s['memberships']} memberships, "
            f"{s['issues']} issues; {s['ldap_searches']} LDAP searches"
        )


@main.command("history")
@config_option
@json_option
@click.option("-n", "limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs.")
@click.option("--run", "run_id", type=click.IntRange(min=1), help="One run in full: read, plan, applied, held, failed.")
def history_cmd(config_path: str | None, as_json: bool, limit: int, run_id: int | None) -> None:
    """Show recent runs from the state store (start, end, outcome, counts), held plans, or one
    run's whole record (--run N).

    \b
    Examples:
      dirkit history -n 50
      dirkit history --run 42 --json | jq .record.read
    """
    import time as _time

    kit = _kit(config_path)
    if run_id is not None:
        run = kit.run(run_id)
        if as_json:
            _emit_json(run.to_json())
        else:
            _print_record(run)
        return
    runs = kit.history(limit)
    if as_json:
        _emit_json([r.to_json() for r in runs])
        return
    for r in runs:
        when = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(r.started))
        took = f"{r.ended - r.started:.1f}s" if r.ended else "-"
        counts = " ".join(f"{k}={v}" for k, v in r.counts.items())
        click.echo(f"#{r.id:<5} {when} {r.command:<14} {r.outcome:<10} {took:>7} {counts} {r.message}".rstrip())
    held = kit.held_plans()
    _print_held(held, "")


def _print_record(run: Run) -> None:
    import time as _time

    rec = run.details  # a RunRecord
    when = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(run.started))
    click.echo(f"run #{run.id}: {run.command}, started {when}, outcome {run.outcome}")
    if rec.read:
        read = rec.read
        via = f" (failed over from {', '.join(read.failed_over_from)})" if read.failed_over_from else ""
        why = f", because {read.why}" if read.why else ""
        click.echo(
            f"read:    {read.kind} read from {read.dc}{via}{why}: {read.searches} LDAP searches, "
            f"{read.users} users, {read.groups} groups"
        )
    if rec.plan:
        counts = ", ".join(f"{v} {k}" for k, v in rec.plan.counts.items()) or "no changes"
        click.echo(f"planned: {counts} (plan {rec.plan.digest[:12]})")
        if rec.plan.threshold_exceeded:
            click.echo(f"         safety threshold: {rec.plan.threshold_reason}")
    if rec.held:
        click.echo(f"held:    plan {rec.held[:12]}, nothing applied")
    if rec.approved:
        click.echo(f"applied: the approved plan {rec.approved[:12]}")
    click.echo(f"applied: {'yes' if rec.applied else 'no'}")
    if rec.files_changed:
        click.echo(f"files:   {', '.join(rec.files_changed)}")
    if rec.homes:
        click.echo(f"homes:   {rec.homes.done} done, {rec.homes.failed} failed of {rec.homes.actions} actions")
    if run.message:
        click.echo(f"message: {run.message}")


PLAN_LINES = 200  # a longer table is not readable: the rest is counted, --json has it all


def _print_plan(p: Plan) -> None:
    if p.empty:
        click.echo("No changes." + (" (first run: the state is empty)" if p.first_run else ""))
        return
    shown = p.changes[:PLAN_LINES]
    width = max(len(c.name) for c in shown)
    click.echo("\n".join(f"{c.kind:<19} {c.name:<{width}}  {c.detail}".rstrip() for c in shown))
    if len(p.changes) > PLAN_LINES:
        click.echo(f"... and {len(p.changes) - PLAN_LINES} more (--json lists every change)")
    counts = ", ".join(f"{v} {k}" for k, v in p.counts().items() if v)
    click.echo(f"{len(p.changes)} change(s): {counts}")
    if p.threshold_exceeded:
        click.echo(f"WARNING: safety threshold exceeded: {p.threshold_reason}")


# ------------------------------------------------------------------------- generated documents
def _write_out(doc: Document, out: str | None) -> None:
    for w in doc.warnings:
        _err(f"warning: {w}")
    if out is None:
        click.echo(doc.text, nl=False)
        return
    from pathlib import Path

    from ._api import write_document

    write_document(doc, Path(out))
    _err(f"wrote {out}")


out_option = click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
from_state_option = click.option(
    "--from-state", is_flag=True, help="Use the last applied snapshot instead of reading AD."
)


@main.group()
def emr() -> None:
    """EMR security configuration, EMRFS role-mapping explain, IAM documents, Kerberos attributes.

    \b
    Examples:
      dirkit emr security-config --out secconf.json
      aws emr create-security-configuration --name dirkit --security-configuration file://secconf.json
      dirkit emr explain --user dataeng1 --path s3://data/raw/x.csv
      dirkit emr iam --out iam.json
      dirkit emr kerberos-attributes > attrs.json    # passwords shown as references
    """


@emr.command("security-config")
@config_option
@out_option
@from_state_option
@click.option("--no-check", is_flag=True, help="Do not read AD to check the role mappings against it.")
def emr_security_config(config_path: str | None, out: str | None, from_state: bool, no_check: bool) -> None:
    """The security configuration JSON (Kerberos with the AD trust, EMRFS role mappings).

    Role mappings are checked against the AD snapshot: identifiers that do not exist, that EMR
    would see under another (normalised) name, or that an earlier mapping shadows are warned
    about on stderr.
    """
    _write_out(_kit(config_path).security_configuration(check=not no_check, from_state=from_state), out)


@emr.command("explain")
@config_option
@json_option
@from_state_option
@click.option("--user", "user", required=True, help="The AD user (any case, user@REALM accepted).")
@click.option("--path", "path", help="The S3 URI the user reads or writes (the IAM role EMRFS picks).")
def emr_explain(config_path: str | None, as_json: bool, from_state: bool, user: str, path: str | None) -> None:
    """Which IAM role EMRFS would use for USER on PATH, and why (first match wins); with [yarn],
    also the YARN queue USER's applications land in, and the rule that decides.

    \b
    Examples:
      dirkit emr explain --user datascientist1 --path s3://example-data/science/
      dirkit emr explain --user datascientist1          # the queue only ([yarn])
      dirkit emr explain --user admin1 --path s3://example-data/ --json
    """
    kit = _kit(config_path)
    if path is None and kit.config.yarn is None:
        raise UsageError("give --path (the IAM role EMRFS picks), or configure [yarn] for the queue")
    d = kit.snapshot(from_state=from_state)  # one read for both answers
    decision = kit.explain(user, path, directory=d) if path is not None else None
    placement = kit.placement(user, directory=d) if kit.config.yarn else None
    if as_json:
        out = decision.to_json() if decision else {"user": kit.names.normalise(user).name or user}
        _emit_json({**out, "queue": placement.to_json() if placement else None})
        return
    if placement is not None:
        click.echo(f"queue:  {placement.queue}  ({placement.rule})")
        click.echo(f"        {placement.reason}; the ResourceManager's groups: {', '.join(placement.groups) or '-'}")
    if decision is None:
        return
    click.echo(f"user:   {decision.user}" + ("" if decision.known else "  (not in the AD snapshot: no groups)"))
    click.echo(f"groups: {', '.join(decision.groups) or '-'}")
    click.echo(f"path:   {decision.path}")
    for line in decision.considered:
        click.echo(f"  {line}")
    click.echo(f"role:   {decision.role}")
    click.echo(f"why:    {decision.reason}")
    if decision.cluster_role is not None:
        click.echo(f"WARNING: the cluster nodes pick {decision.cluster_role}")
        click.echo(f"         {decision.cluster_reason}")


@emr.command("iam")
@config_option
@out_option
def emr_iam(config_path: str | None, out: str | None) -> None:
    """Trust policies for the mapping roles, the EC2 role's side, S3 policy skeletons."""
    _write_out(_kit(config_path).iam_documents(), out)


@emr.command("cloudformation")
@config_option
@out_option
def emr_cloudformation(config_path: str | None, out: str | None) -> None:
    """One CloudFormation template: the security configuration, the mapping roles (trust + S3
    policy skeleton), the EC2 role's side. Parameters: names, buckets; no secret in it.

    \b
    Examples:
      dirkit emr cloudformation --out dirkit-emr.json && cfn-lint dirkit-emr.json
      aws cloudformation deploy --template-file dirkit-emr.json --stack-name dirkit-emr \\
          --capabilities CAPABILITY_NAMED_IAM
    """
    _write_out(_kit(config_path).cloudformation(), out)


def aws_options(f: Any) -> Any:
    for option in (
        click.option("--profile", help="AWS profile (default: boto3's chain: environment, config, instance role)."),
        click.option("--region", help="AWS region (default: AWS_REGION / the profile's)."),
        click.option("--endpoint-url", help="Another endpoint for EMR and IAM (default: AWS_ENDPOINT_URL / AWS's)."),
    ):
        f = option(f)
    return f


def _print_deploy(plan: DeployPlan, done: list[AwsChange] | None) -> None:
    for c in plan.changes:
        mark = "" if c.action else " (reported only)"
        click.echo(f"{c.kind:<30} {c.target}  {c.detail}{mark}".rstrip())
        if c.diff:
            click.echo("\n".join("    " + line for line in c.diff.splitlines()))
    if not plan.changes:
        click.echo("AWS matches the documents.")
    click.echo(f"security configuration for new clusters: {plan.security_configuration}")
    if done is not None:
        click.echo(f"applied: {len(done)} change(s)")


@emr.command("apply")
@config_option
@json_option
@aws_options
@click.option("--dry-run", is_flag=True, help="Show what would change (exit 3 if anything), change nothing.")
def emr_apply(
    config_path: str | None,
    as_json: bool,
    profile: str | None,
    region: str | None,
    endpoint_url: str | None,
    dry_run: bool,
) -> None:
    """Make AWS match the documents: a new content-named security configuration when its content
    changed (none is ever deleted), the mapping roles (created and tagged managed-by=dirkit;
    only those are ever updated), the EC2 role's assume policy. Prints each diff first.

    \b
    Examples:
      dirkit emr apply --dry-run          # exit 3 when something would change
      dirkit emr apply --profile prod
      AWS_ENDPOINT_URL=http://localhost:5000 dirkit emr apply   # moto's server, a stand-in
    """
    plan, done = _kit(config_path).deploy(dry_run=dry_run, profile=profile, region=region, endpoint_url=endpoint_url)
    for w in plan.warnings:
        _err(f"warning: {w}")
    if as_json:
        _emit_json({**plan.to_json(), "applied": [c.to_json() for c in done], "dry_run": dry_run})
    else:
        _print_deploy(plan, None if dry_run else done)
    sys.exit(EXIT_CHANGES if dry_run and plan.actions else EXIT_OK)


@emr.command("diff")
@config_option
@json_option
@aws_options
def emr_diff(
    config_path: str | None, as_json: bool, profile: str | None, region: str | None, endpoint_url: str | None
) -> None:
    """What is deployed vs what dirkit renders (drift detection under cron). Exit 3 on any
    difference, including ones `emr apply` does not change (roles dirkit did not create).

    \b
    Examples:
      dirkit emr diff || mail -s "EMR drift" platform@example.com
    """
    plan = _kit(config_path).deploy_plan(profile=profile, region=region, endpoint_url=endpoint_url)
    for w in plan.warnings:
        _err(f"warning: {w}")
    if as_json:
        _emit_json(plan.to_json())
    else:
        _print_deploy(plan, None)
    sys.exit(EXIT_CHANGES if plan.changes else EXIT_OK)


@emr.command("kerberos-attributes")
@config_option
@out_option
@click.option(
    "--reveal-secrets", is_flag=True, help="Resolve the password references and print the real values (never logged)."
)
def emr_kerberos_attributes(config_path: str | None, out: str | None, reveal_secrets: bool) -> None:
    """The --kerberos-attributes JSON for `aws emr create-cluster`.

    Passwords appear as their secret references (`<secret env:NAME>`) unless --reveal-secrets.
    """
    _write_out(_kit(config_path).kerberos_attributes(reveal_secrets=reveal_secrets), out)


@main.group()
def hue() -> None:
    """Hue LDAP configuration (hue.ini block and the EMR hue-ini classification).

    \b
    Examples:
      dirkit hue config --out hue-ldap.ini
      dirkit hue config --format classification --out hue-classification.json
    """


@hue.command("config")
@config_option
@out_option
@from_state_option
@click.option("--format", "fmt", type=click.Choice(["ini", "classification"]), default="ini", show_default=True)
def hue_config(config_path: str | None, out: str | None, from_state: bool, fmt: HueFormat) -> None:
    """Hue's [desktop] [[auth]] / [[ldap]] / [[[ldap_servers]]] block (search bind, password script)."""
    _write_out(_kit(config_path).hue_config(fmt, from_state=from_state), out)


@main.command("report")
@config_option
@out_option
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "html"]), default="json", show_default=True)
@click.option("--fresh", is_flag=True, help="Read AD now instead of reporting the last applied snapshot.")
@click.option("--at", "at", metavar="DATE", help="Report the snapshot in force then (UTC; YYYY-MM-DD is its start).")
@click.option("--since", "since", metavar="DATE", help="Also list who gained and lost each role and group since then.")
def report_cmd(
    config_path: str | None, out: str | None, fmt: str, fresh: bool, at: str | None, since: str | None
) -> None:
    """Who can reach what: every user's groups (and why), the names and groups the cluster nodes
    see, the HDFS home (and its owner and mode as last seen), and the IAM role EMRFS picks per S3
    prefix; per role who gets it, through which mapping and group; per group its members. With
    its evidence (snapshot digest, DC, USN, run, version, time); the sha256 of the file written
    is printed on stderr. HTML is one self-contained page (sortable, filterable tables and the
    group nesting as a graph) that fetches nothing.

    \b
    Examples:
      dirkit report --out access.json
      dirkit report --format csv --out access.csv     # one row per user and prefix
      dirkit report --format html --out access.html
      dirkit report --at 2026-10-01 --format html --out q3.html   # as it was then
      dirkit report --since 2026-07-01 --out changes.json         # who gained, lost, was revoked
    """
    from pathlib import Path

    from ._api import write_chunks

    r = _kit(config_path).report(from_state=not fresh, at=at, since=since)  # refuses --fresh with --at
    # JSON a user at a time: at 10k users the whole document as objects was ~700 MiB.
    chunks = r.json_chunks() if fmt == "json" else iter([r.to_csv() if fmt == "csv" else r.to_html()])
    sha = write_chunks(chunks, None if out is None else Path(out))
    if out is not None:
        _err(f"wrote {out}")
    _err(f"sha256 {sha}  {out or '-'}")


@main.group()
def sssd() -> None:
    """What the cluster nodes' SSSD sees, and the settings that make it see AD's view.

    
    Examples:
      dirkit sssd config                       # the [domain/...] block for /etc/sssd/sssd.conf
      dirkit sssd config --out sssd-domain.conf
      dirkit snapshot --user admin1            # the cluster's view of a user, beside AD's
    """


@sssd.command("config")
@config_option
@out_option
def sssd_config(config_path: str | None, out: str | None) -> None:
    """The [domain/...] block under which the nodes see every user's groups as dirkit predicts,
    with no difference from AD's view (unreadable references ignored; the [sssd] names and ID
    ranges kept)."""
    _write_out(_kit(config_path).sssd_config(), out)


@main.group()
def hadoop() -> None:
    """Hadoop core-site: auth_to_local rules and LDAP group mapping.

    \b
    Examples:
      dirkit hadoop core-site --out core-site-dirkit.xml
      dirkit hadoop core-site --format classification
    """


@hadoop.command("core-site")
@config_option
@out_option
@from_state_option
@click.option("--format", "fmt", type=click.Choice(["xml", "classification"]), default="xml", show_default=True)
def hadoop_core_site(config_path: str | None, out: str | None, from_state: bool, fmt: CoreSiteFormat) -> None:
    """auth_to_local rules (user@AD.REALM -> the normalised short name) and LdapGroupsMapping keys."""
    _write_out(_kit(config_path).core_site(fmt, from_state=from_state), out)


@main.group()
def yarn() -> None:
    """YARN queue placement from AD groups (CapacityScheduler's queue-mappings).

    \b
    Examples:
      dirkit yarn config --out capacity-scheduler.xml
      dirkit yarn config --format classification --from-state   # with the checks against AD
      dirkit emr explain --user datascientist1                   # one user's queue, and why
    """


@yarn.command("config")
@config_option
@out_option
@from_state_option
@click.option("--format", "fmt", type=click.Choice(["xml", "classification"]), default="xml", show_default=True)
def yarn_config(config_path: str | None, out: str | None, from_state: bool, fmt: CoreSiteFormat) -> None:
    """The queue hierarchy ([yarn] queues, capacities as given) and the placement rules: users
    and groups to leaf queues, first match wins, yarn.default_queue for everyone else."""
    _write_out(_kit(config_path).yarn_config(fmt, from_state=from_state), out)


@main.group()
def hdfs() -> None:
    """HDFS home directories over WebHDFS + SPNEGO.

    \b
    Examples:
      dirkit hdfs provision --dry-run      # what would be created, drift, departed users
      dirkit hdfs provision                # create missing homes (never deletes)
      dirkit hdfs provision --fix-drift    # also fix owner/mode of existing homes
    """


@hdfs.command("provision")
@config_option
@json_option
@from_state_option
@click.option("--dry-run", is_flag=True, help="Plan only: print what would be done.")
@click.option("--fix-drift", is_flag=True, help="Fix owner, group and mode of existing homes that differ.")
@click.option(
    "--lock-departed",
    is_flag=True,
    help="Set mode 000 on homes of users who left AD or are disabled (only homes dirkit provisioned, "
    "never those in hdfs.lock_exclude, within the safety limits).",
)
@click.option("--allow-removals", is_flag=True, help="Lock even if the locks exceed the safety limits.")
def hdfs_provision(
    config_path: str | None,
    as_json: bool,
    from_state: bool,
    dry_run: bool,
    fix_drift: bool,
    lock_departed: bool,
    allow_removals: bool,
) -> None:
    """Make every enabled AD user's home exist with the right owner, group and mode.

    Exit code 8 if some users failed (the others are done); 5 if the NameNode is unreachable;
    7 if --lock-departed would lock more homes than safety.max_removals / max_removal_percent
    allow (nothing applied).
    """
    result = _kit(config_path).provision_homes(
        from_state=from_state,
        dry_run=dry_run,
        fix_drift=fix_drift,
        lock_departed=lock_departed,
        allow_removals=allow_removals,
    )
    if as_json:
        _emit_json({**result.to_json(), "dry_run": dry_run})
    else:
        _print_homes(result, dry_run)
    result.raise_for_failures()  # exit 8, after what was done is shown


@hdfs.command("adopt")
@config_option
@json_option
@from_state_option
@click.option("--dry-run", is_flag=True, help="Check only: say which would be adopted.")
@click.argument("names", nargs=-1, required=True)
def hdfs_adopt(config_path: str | None, as_json: bool, from_state: bool, dry_run: bool, names: tuple[str, ...]) -> None:
    """Make existing directories under hdfs.prefix dirkit's homes, by name.

    dirkit only renames, hands over or locks homes it created itself; a directory that was
    already there (made by hand, by EMR's scripts, or by a dirkit older than schema 11) is
    reported as `foreign` and left alone. This claims one explicitly: it must be a directory
    owned by the enabled AD user of that name. Exit code 8 if any name was refused.

    \b
    Examples:
      dirkit hdfs adopt --dry-run alice bob
      dirkit hdfs adopt alice
    """
    out = _kit(config_path).adopt_homes(list(names), dry_run=dry_run, from_state=from_state)
    if as_json:
        _emit_json({"dry_run": dry_run, "homes": [a.to_json() for a in out]})
    else:
        for a in out:
            verb = ("would adopt" if dry_run else "adopted") if a.guid else "refused"
            click.echo(f"{verb:<11} {a.path}: {a.detail}")
    if not all(a.guid for a in out):
        sys.exit(EXIT_PARTIAL)


@hdfs.command("emr-step")
@config_option
@from_state_option
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Where to write dirkit-homes.sh and emr-steps.json.",
)
@click.option(
    "--script-uri",
    default="s3://CHANGE-ME/dirkit/dirkit-homes.sh",
    show_default=True,
    help="Where you will upload the script; the step fetches it from there.",
)
def hdfs_emr_step(config_path: str | None, from_state: bool, out_dir: str, script_uri: str) -> None:
    """A script creating the homes with `hdfs dfs` (few JVM starts), and the EMR step running it.

    \b
    Example:
      dirkit hdfs emr-step --out-dir step/ --script-uri s3://my-bucket/dirkit/dirkit-homes.sh
      aws s3 cp step/dirkit-homes.sh s3://my-bucket/dirkit/dirkit-homes.sh
      aws emr add-steps --cluster-id j-XXXX --steps file://step/emr-steps.json
    """
    from pathlib import Path

    written = _kit(config_path).write_emr_step(Path(out_dir), script_uri, from_state=from_state)
    click.echo("wrote " + " and ".join(str(p) for p in written))


def _print_homes(result: HomesResult, dry_run: bool) -> None:
    plan = result.plan
    for a in plan.actions[:PLAN_LINES]:
        click.echo(f"{a.kind:<10} {a.path}  {a.detail}")
    for r in plan.reports[:PLAN_LINES]:
        click.echo(f"{r.kind:<10} {r.path}  {r.detail}")
    for a, err in result.failed:
        click.echo(f"FAILED     {a.path}: {err}")
    verb = "would do" if dry_run else "done"
    click.echo(
        f"{plan.wanted} homes wanted under {plan.prefix}, {plan.existing} present; "
        f"{len(plan.actions)} action(s) {verb}, {len(result.failed)} failed, {len(plan.reports)} reported; "
        f"{result.requests} WebHDFS requests in {result.seconds:.2f}s"
    )


@main.command("verify")
@config_option
@json_option
@from_state_option
@click.option("--user", "users", multiple=True, help="Verify only this configured test identity (repeatable).")
@click.option("--revoked", is_flag=True, help="Prove users disabled or removed in AD are refused everywhere.")
@click.option("--since", metavar="DATE", help="With --revoked: the window's start (default: the oldest kept snapshot).")
def verify_cmd(
    config_path: str | None, as_json: bool, from_state: bool, users: tuple[str, ...], revoked: bool, since: str | None
) -> None:
    """Prove AD users can really use the cluster: Kerberos through the trust, name mapping,
    HDFS home over WebHDFS, HiveServer2 (PyHive), and the EMRFS role for their S3 paths.

    Each user is checked in a private credential cache (never yours), with a timeout per
    check. A service that is not configured is shown as skipped (-). Exit code 10 if any
    check failed.

    With --revoked, every user enabled at the window's start and disabled or removed in the
    last applied snapshot is checked the other way round: a check passes when AD refuses a
    ticket (with the user's [[verify.users]] credentials), the NameNode refuses WebHDFS and
    HiveServer2 refuses a session. Each proof is kept for `dirkit report`.

    \b
    Examples:
      dirkit verify                       # every [[verify.users]] identity
      dirkit verify --user dataeng1 --json
      dirkit verify --revoked --since 2026-10-01
    """
    if since and not revoked:
        raise UsageError("--since goes with --revoked")
    if revoked and users:
        raise UsageError("--revoked checks every revoked user: drop --user")
    kit = _kit(config_path)
    reports = kit.verify_revoked(since) if revoked else kit.verify(users, from_state=from_state)
    if revoked and not reports:
        _err("no user was disabled or removed in that window")
    if as_json:
        _emit_json([r.to_json() for r in reports])
    elif reports:
        marks = {"pass": "✔", "fail": "✗", "skip": "-"}
        width = max(len(r.user) for r in reports)
        click.echo(f"{'user':<{width}}  " + "  ".join(f"{c.name:<8}" for c in reports[0].checks))
        for r in reports:
            click.echo(f"{r.user:<{width}}  " + "  ".join(f"{marks[c.status]:<8}" for c in r.checks))
        for r in reports:
            for c in r.checks:
                click.echo(f"{r.user} {c.name} {marks[c.status]} {c.detail}")
    if revoked and not as_json:
        click.echo("how long the cluster may still honour a user AD revokes now (`dirkit report`: revocation_budget):")
        for line in kit.revocation_budget().lines():
            click.echo(f"  {line}")
    if not all(r.ok for r in reports):
        sys.exit(EXIT_CHECKS_FAILED)


if __name__ == "__main__":
    main()
