"""``dirkit-lab``: bring the local lab up, report it, stop it; ``serve`` is the containers' entry point."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from . import serve
from .errors import EXIT_LAB, LabError
from .settings import LabPaths


class _LabGroup(click.Group):
    """A LabError is one line and exit 9, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabError as exc:
            click.echo(f"dirkit-lab: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def _err(msg: str) -> None:
    click.echo(msg, err=True)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2 if sys.stdout.isatty() else None, sort_keys=True))


@click.group(cls=_LabGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The local test lab for dirkit: two Samba AD DCs, an MIT KDC with a cross-realm trust, a
    Kerberized HDFS NameNode and HiveServer2, as plain processes (needs root) or containers.

    \b
    Examples:
      dirkit-lab up                  # bring it up (cached AD database: seconds)
      dirkit-lab up --bulk 10000     # with 10,000 bulk users for benchmarks
      dirkit-lab status --json       # services, realms, krb5.conf, CA and keytab paths
      dirkit-lab down --purge        # stop and remove state, aliases and /etc/hosts lines
      dirkit-lab serve dc1           # one service in the foreground (the container images' entry point)

    \b
    Exit codes: 0 ready, 2 usage, 9 a service could not be brought up or is not ready.
    """


@main.command("up")
@click.option(
    "--bulk",
    "bulk_users",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also load this many bulk users (a group per 20 users, one group of half of them).",
)
@click.option("--fresh", is_flag=True, help="Provision the AD database again instead of using the cache.")
@click.option("--no-hdfs", is_flag=True, help="Do not start the HDFS NameNode (it needs Java and Maven).")
@click.option("--no-hive", is_flag=True, help="Do not start HiveServer2 (Spark Thrift Server, ~0.5 GB).")
@click.option("--no-dc2", is_flag=True, help="Do not start the second AD DC (dc2.ad.dirkit.test).")
@click.option("--no-sssd", is_flag=True, help="Do not start the cluster node's SSSD (its root is built once, ~45 s).")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON when done.")
def up(bulk_users: int, fresh: bool, no_hdfs: bool, no_hive: bool, no_dc2: bool, no_sssd: bool, as_json: bool) -> None:
    """Bring the lab up from nothing, idempotently; say when each service is ready."""
    from . import Lab

    lab = Lab()
    report = lab.up(
        bulk_users=bulk_users,
        fresh=fresh,
        progress=_err,
        with_hdfs=not no_hdfs,
        with_hive=not no_hive,
        with_dc2=not no_dc2,
        with_sssd=not no_sssd,
    )
    status = lab.status()  # only the services asked for
    if as_json:
        _emit_json({**status, "startup_seconds": round(report.seconds, 2), "provisioned": report.provisioned})
    else:
        _print_status(status)
        click.echo(
            f"lab up in {report.seconds:.1f}s ({'provisioned' if report.provisioned else 'from cache'}); "
            f"config: {status['config']}"
        )
    if not status["ready"]:
        sys.exit(EXIT_LAB)


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Report each lab service (address, realm, ready or not) and the lab's files.

    Exit code 0 when every service is ready, 9 otherwise.
    """
    from . import Lab

    st = Lab().status()
    if as_json:
        _emit_json(st)
    else:
        _print_status(st)
    if not st["ready"]:
        sys.exit(EXIT_LAB)


@main.command("down")
@click.option(
    "--purge",
    is_flag=True,
    help="Also delete lab state, loopback aliases and the /etc/hosts block (the cached AD database is kept).",
)
def down(purge: bool) -> None:
    """Stop the lab's processes."""
    from . import Lab

    Lab().down(purge=purge)
    click.echo("lab stopped" + (" and purged" if purge else ""))


@main.command("serve")
@click.option("--check", is_flag=True, help="Only probe the service: exit 0 when it answers, 1 otherwise.")
@click.argument("service", type=click.Choice(list(serve.SERVICES)))
def serve_(check: bool, service: str) -> None:
    """Run one lab service in the foreground until stopped (SIGTERM), in the lab directory.

    The container images' entry point; their health checks run it with --check.

    \b
    Examples:
      dirkit-lab serve dc1
      dirkit-lab serve --check namenode
    """
    p = LabPaths.default()
    sys.exit(serve.check(service, p) if check else serve.serve(service, p))


def _print_status(st: dict[str, Any]) -> None:
    for svc in st["services"]:
        mark = "ready" if svc["ready"] else ("running, not ready" if svc["running"] else "down")
        click.echo(f"{svc['name']:<14} {svc['realm']:<16} {svc['host']:<22} {svc['address']:<11} {mark}")
    click.echo(f"krb5.conf    {st['krb5_conf']}")
    click.echo(f"CA cert      {st['ca_cert']}")
    click.echo(f"config       {st['config']}")
    for name, path in st["keytabs"].items():
        click.echo(f"keytab       {name:<16} {path}")


if __name__ == "__main__":
    main()
