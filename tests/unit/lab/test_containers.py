"""The container lab's pure parts: the entry point's arguments, the build settings copied from
the host, and status for services that run elsewhere (no services needed)."""

from pathlib import Path

import yaml
from click.testing import CliRunner

from dirkit_lab import containers, serve
from dirkit_lab.cli import main
from dirkit_lab.settings import LabPaths

REPO = Path(__file__).resolve().parents[3]


def test_the_entry_point_refuses_an_unknown_service() -> None:
    for args in (["serve", "nope"], ["serve"], ["serve", "--check"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, args
    assert "'dc1', 'dc2', 'mit-kdc', 'namenode', 'hiveserver2'" in CliRunner().invoke(main, ["serve", "x"]).output


def test_every_compose_service_runs_a_known_service_with_a_kerberos_health_check() -> None:
    compose = yaml.safe_load((REPO / "docker" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"samba-ad", "samba-ad-dc2", "sssd", "mit-kdc", "namenode", "hiveserver2"}
    for name, svc in services.items():
        (service,) = svc["command"]
        assert service in serve.SERVICES, name
        assert svc["healthcheck"]["test"][-2:] == ["--check", service], name
        assert svc["network_mode"] == "host"  # the lab's fixed addresses


def test_host_settings_are_copied_once(tmp_path: Path) -> None:
    first = containers.copy_host_settings(tmp_path)
    assert containers.copy_host_settings(tmp_path) is False  # nothing changed since
    copied = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file()}
    assert copied <= {"apt", "ca", "pip.conf"}
    assert first == bool(copied)


def test_status_of_services_elsewhere_does_not_read_pid_files(tmp_path: Path) -> None:
    """In containers, the pid files in the shared lab directory hold the containers' PIDs:
    ``external`` status asks the services themselves. Here nothing answers."""
    from dirkit_lab import Lab

    paths = LabPaths(tmp_path)
    paths.samba_pid.parent.mkdir(parents=True)
    paths.samba_pid.write_text("1\n")  # PID 1 is alive on any machine: must not count
    status = Lab(paths).status(external=True)
    assert not any(svc["running"] or svc["ready"] for svc in status["services"])


def test_the_samba_containers_have_what_provisioning_needs() -> None:
    """The finding #13 quotes: `samba-tool domain provision` fails (setntacl) without SYS_ADMIN
    and without its database on a volume; the old compose file had neither for Samba."""
    services = yaml.safe_load((REPO / "docker" / "docker-compose.yml").read_text())["services"]
    for name in ("samba-ad", "samba-ad-dc2"):
        svc = services[name]
        assert "SYS_ADMIN" in svc["cap_add"], name
        # The lab directory (which holds samba/ and samba-dc2/) is a volume at the same path.
        (volume,) = svc["volumes"]
        host_side, container_side = volume.split("}:")
        assert host_side + "}" == container_side and container_side.startswith("${DIRKIT_LAB_DIR"), name
