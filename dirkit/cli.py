"""Command line: a thin layer over the Python API. Parse, call, print (table or --json)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from . import __version__
from .errors import EXIT_LAB, DirkitError


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def _err(msg: str) -> None:
    click.echo(msg, err=True)


class DirkitGroup(click.Group):
    """Turns DirkitError into one clear message and its documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DirkitError as exc:
            _err(f"dirkit: error: {exc}")
            ctx.exit(exc.exit_code)


@click.group(cls=DirkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dirkit")
def main() -> None:
    """dirkit: Active Directory + Kerberos for multi-tenant Hadoop/EMR clusters.

    \b
    Typical use:
      dirkit lab up                          # a local AD + KDC lab to try things on
      dirkit plan -c /etc/dirkit/dirkit.toml # what would change, exit 3 if anything
      dirkit sync -c /etc/dirkit/dirkit.toml # read AD, plan, apply
    """


# ------------------------------------------------------- command groups that later work fills
# These groups exist so that `dirkit --help` shows the whole shape of the tool; each says
# plainly that it has no commands yet, rather than pretending.
@main.group()
def emr() -> None:
    """EMR security configuration, EMRFS role-mapping explain, IAM documents. (Not yet built.)"""


@main.group()
def hue() -> None:
    """Hue LDAP configuration (hue.ini and the EMR hue-ini classification). (Not yet built.)"""


@main.group()
def hadoop() -> None:
    """Hadoop core-site: auth_to_local rules and LdapGroupsMapping. (Not yet built.)"""


@main.group()
def hdfs() -> None:
    """HDFS home directories over WebHDFS + SPNEGO. (Not yet built.)"""


@main.group()
def verify() -> None:
    """Prove an AD user can use the cluster: Kerberos, HDFS, HiveServer2. (Not yet built.)"""


# --------------------------------------------------------------------------------------- lab
@main.group()
def lab() -> None:
    """The local test lab: a Samba AD DC and an MIT KDC as plain processes (needs root).

    \b
    Examples:
      dirkit lab up                  # bring it up (cached AD database: seconds)
      dirkit lab up --bulk 10000     # with 10,000 bulk users for benchmarks
      dirkit lab status --json       # services, realms, krb5.conf, CA and keytab paths
      dirkit lab down --purge        # stop and remove state, aliases and /etc/hosts lines
    """


@lab.command("up")
@click.option("--bulk", "bulk_users", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also load this many bulk users (500 groups, one 5,000-member group).")
@click.option("--fresh", is_flag=True, help="Provision the AD database again instead of using the cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON when done.")
def lab_up(bulk_users: int, fresh: bool, as_json: bool) -> None:
    """Bring the lab up from nothing, idempotently; say when each service is ready."""
    from .lab import Lab

    lab_ = Lab()
    report = lab_.up(bulk_users=bulk_users, fresh=fresh, progress=_err)
    status = lab_.status()
    if as_json:
        _emit_json({**status, "startup_seconds": round(report.seconds, 2), "provisioned": report.provisioned})
    else:
        _print_status(status)
        click.echo(f"lab up in {report.seconds:.1f}s ({'provisioned' if report.provisioned else 'from cache'}); "
                   f"config: {status['config']}")  # fmt: skip
    if not status["ready"]:
        sys.exit(EXIT_LAB)


@lab.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def lab_status(as_json: bool) -> None:
    """Report each lab service (address, realm, ready or not) and the lab's files.

    Exit code 0 when every service is ready, 9 otherwise.
    """
    from .lab import Lab

    status = Lab().status()
    if as_json:
        _emit_json(status)
    else:
        _print_status(status)
    if not status["ready"]:
        sys.exit(EXIT_LAB)


@lab.command("down")
@click.option("--purge", is_flag=True, help="Also delete lab state, loopback aliases and the /etc/hosts block "
              "(the cached AD database is kept).")  # fmt: skip
def lab_down(purge: bool) -> None:
    """Stop the lab's processes."""
    from .lab import Lab

    Lab().down(purge=purge)
    click.echo("lab stopped" + (" and purged" if purge else ""))


def _print_status(status: dict[str, Any]) -> None:
    for svc in status["services"]:
        mark = "ready" if svc["ready"] else ("running, not ready" if svc["running"] else "down")
        click.echo(f"{svc['name']:<12} {svc['realm']:<16} {svc['host']:<22} {svc['address']:<11} {mark}")
    click.echo(f"krb5.conf    {status['krb5_conf']}")
    click.echo(f"CA cert      {status['ca_cert']}")
    click.echo(f"config       {status['config']}")
    for name, path in status["keytabs"].items():
        click.echo(f"keytab       {name:<16} {path}")


if __name__ == "__main__":
    main()
