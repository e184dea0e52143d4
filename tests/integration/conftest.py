"""Session fixtures that start the real lab once.

Native mode (default): ``dirkit_lab.Lab().up()`` starts both Samba AD DCs, the MIT KDC, the
NameNode and HiveServer2 as plain processes (root needed).

Container mode (``DIRKIT_LAB=docker``): pytest-docker starts docker/docker-compose.yml, one
container per system, with ``docker compose`` where a Docker engine answers and with
``podman-compose`` (podman, rootful) where there is none, as on the CI machines. The lab
directory is then ``DIRKIT_LAB_DIR`` (default /var/lib/dirkit-lab-docker, apart from the native
lab's). The ``lab`` fixture stops, starts and restores services through compose there.

With CI=true a lab that fails to start fails the run; elsewhere it skips with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from dirkit.errors import DirkitError
from dirkit_lab import Lab

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parents[2]


def _unavailable(reason: str, what: str = "lab") -> NoReturn:
    # CI (and anyone with CI=true) must see a broken lab or browser as a failure. The skip is
    # only for a developer without root, who cannot run the native lab at all on that machine,
    # or without Debian's chromium (scripts/bootstrap.sh installs it).
    if IN_CI:
        pytest.fail(f"{what} failed to start (CI=true makes this a failure): {reason}", pytrace=False)
    pytest.skip(f"{what} not available: {reason}")


DOCKER_DIR = REPO / "docker"
CONTAINERS = os.environ.get("DIRKIT_LAB") == "docker"
if CONTAINERS:
    os.environ.setdefault("DIRKIT_LAB_DIR", "/var/lib/dirkit-lab-docker")


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(DOCKER_DIR / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    from dirkit_lab import containers

    return containers.compose_command()


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    # Not `up --wait`: podman-compose does not detach with it. Readiness is checked below,
    # with the same Kerberos-authenticated probes as the native lab's.
    return ["up --build -d"]


def _containers_up(request: pytest.FixtureRequest) -> dict[str, Any]:
    from dirkit_lab import containers, host

    if os.geteuid() != 0:
        _unavailable("the container lab needs root here (rootful podman, loopback addresses, /etc/hosts)")
    if host.port_open("127.0.0.10", 389):
        _unavailable("something already listens on 127.0.0.10:389 (the native lab? `dirkit-lab down`)")
    lab = Lab()
    lab.paths.root.mkdir(parents=True, exist_ok=True)
    try:
        host.ensure_network()  # the names and addresses, for this (host) side
        containers.prepare(DOCKER_DIR, lab.paths.root / "containers.log")
        containers.prebuild(DOCKER_DIR, lab.paths.root / "containers.log")
    except DirkitError as exc:
        _unavailable(str(exc))
    containers.apply_environment(DOCKER_DIR)
    # The cluster node's `id` and `getent` run in its container (dirkit_lab.sssd).
    os.environ["DIRKIT_LAB_SSSD_EXEC"] = f"{containers.engine()} exec dirkit-lab-sssd"
    services = request.getfixturevalue("docker_services")  # compose up --build -d
    services.wait_until_responsive(check=lambda: lab.status(external=True)["ready"], timeout=900.0, pause=2.0)
    lab.write_client_files()
    return lab.status(external=True)


@pytest.fixture(scope="session")
def lab_status(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The lab's status dict (see ``dirkit-lab status --json``), with every service ready."""
    if CONTAINERS:
        status = _containers_up(request)
        os.environ["KRB5_CONFIG"] = status["krb5_conf"]
        yield status
        return
    if os.geteuid() != 0:
        _unavailable("the native lab needs root (loopback aliases, /etc/hosts, ports 88/389/636)")
    lab = Lab()
    was_ready = lab.status()["ready"]
    try:
        lab.up()
    except DirkitError as exc:
        _unavailable(str(exc))
    status = lab.status()
    if not status["ready"]:
        _unavailable(json.dumps(status["services"]))
    os.environ["KRB5_CONFIG"] = status["krb5_conf"]
    yield status
    if not was_ready and os.environ.get("DIRKIT_KEEP_LAB") != "1":
        lab.down()


@pytest.fixture(scope="session")
def lab(lab_status: dict[str, Any], request: pytest.FixtureRequest) -> Lab:
    """Control over the lab's services (stop, start, restore a DC...), natively or in containers."""
    if CONTAINERS:
        return ContainerLab(request.getfixturevalue("docker_services"))
    return Lab()


class ContainerLab(Lab):
    """The same controls as Lab, on the compose services: a container stopped and started again
    runs the same entry point (dirkit-lab serve), so dc2 pairs with dc1 again by itself."""

    SERVICE = {"dc1": "samba-ad", "dc2": "samba-ad-dc2"}

    def __init__(self, services: Any) -> None:
        super().__init__()
        # pytest-docker has no public call for other compose subcommands than its setup/cleanup.
        self.compose = services._docker_compose

    def _wait(self, check: Any, what: str) -> float:
        from dirkit_lab import host

        return host.wait_until(check, 300, what, interval=1)

    def stop_samba(self, name: str = "dc1") -> None:
        self.compose.execute(f"stop {self.SERVICE[name]}")

    def start_samba(self, name: str = "dc1") -> float:
        from dirkit_lab import ad_dc

        self.compose.execute(f"start {self.SERVICE[name]}")
        return self._wait(lambda: ad_dc.ready(self.paths, name), f"{name} (container)")

    def restart_samba(self, restore: bool = True, bulk_users: int | None = None) -> float:
        from dirkit_lab import ad_dc

        self.compose.execute("stop samba-ad-dc2 samba-ad")
        if restore:  # the containers are stopped: their files in the shared lab directory are still
            ad_dc.restore_in_use(self.paths)  # the containers' cache (their Samba's key, not the host's)
        return self.start_samba("dc1") + self.start_samba("dc2")

    def start_sssd(self, extra: str = "") -> float:
        from dirkit_lab import sssd

        sssd.extra_file(self.paths).parent.mkdir(parents=True, exist_ok=True)
        sssd.extra_file(self.paths).write_text(extra)  # what the container's start reads
        self.compose.execute("restart sssd")
        return self._wait(lambda: sssd.ready(self.paths), "sssd (container)")

    def stop_namenode(self) -> None:
        self.compose.execute("stop namenode")

    def start_namenode(self) -> float:
        from dirkit_lab import namenode

        self.compose.execute("start namenode")
        return self._wait(lambda: namenode.ready(self.paths), "namenode (container)")


@pytest.fixture
def make_config(lab_status: dict[str, Any], tmp_path: Path) -> Any:
    """Build a Config from the lab's own config file, with a private state DB and overrides."""
    import tomllib

    from dirkit import _config as config

    base = tomllib.loads(Path(lab_status["config"]).read_text())

    def make(**sections: dict[str, Any]) -> config.Config:
        return config.from_dict(_merged(base, tmp_path, sections))

    return make


@pytest.fixture
def make_config_file(lab_status: dict[str, Any], tmp_path: Path) -> Any:
    """Like make_config, but written to a TOML file, for tests that run the real CLI."""
    import tomllib

    base = tomllib.loads(Path(lab_status["config"]).read_text())

    def make(name: str = "dirkit.toml", **sections: dict[str, Any]) -> Path:
        data = _merged(base, tmp_path, sections)
        f = tmp_path / name
        f.write_text(
            "\n".join(f"[{k}]\n" + "".join(f"{kk} = {_toml(vv)}\n" for kk, vv in v.items()) for k, v in data.items())
        )
        return f

    return make


def _merged(base: dict[str, Any], tmp_path: Path, sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    data = {k: dict(v) for k, v in base.items()}
    data["state"] = {"path": str(tmp_path / "state.sqlite")}
    for section, values in sections.items():
        if values is None:  # leave the section out
            data.pop(section, None)
        else:
            data.setdefault(section, {}).update(values)
    return data


def _toml(v: Any) -> str:
    """A TOML value (nested tables written inline)."""
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(x)}" for k, x in v.items()) + "}"  # keys quoted: "root.a"
    raise TypeError(f"no TOML form for {v!r}")


@pytest.fixture
def hdfs_scratch(lab_status: dict[str, Any]) -> Iterator[str]:
    """A fresh /t/<random> directory on the lab NameNode, removed with everything in it after
    the test (the lab's NameNode is also where the README's main job runs)."""
    import uuid

    from dirkit._homes.webhdfs import WebHdfs
    from dirkit_lab import namenode

    path = f"/t/{uuid.uuid4().hex[:8]}"
    fs = WebHdfs.from_keytab(
        namenode.webhdfs_url(), lab_status["principals"]["nn"], Path(lab_status["keytabs"]["nn-localhost"])
    )
    fs.mkdirs(path, "755")
    yield path
    fs.call("DELETE", path, "DELETE", recursive="true")  # test clean-up only: dirkit never deletes
    fs.close()


@pytest.fixture
def superfs(lab_status: dict[str, Any]) -> Iterator[Any]:
    """A WebHDFS client as the NameNode's superuser (nn), from its keytab."""
    from dirkit._homes.webhdfs import WebHdfs
    from dirkit_lab import namenode

    fs = WebHdfs.from_keytab(
        namenode.webhdfs_url(), lab_status["principals"]["nn"], Path(lab_status["keytabs"]["nn-localhost"])
    )
    yield fs
    fs.close()


@pytest.fixture
def restore_ad(lab: Lab) -> Iterator[None]:
    """For tests that change or stop the DC: put the cached database back afterwards."""
    yield
    lab.restart_samba(restore=True)


@pytest.fixture
def ad_admin(lab_status: dict[str, Any]) -> Iterator[Any]:
    """An ldap3 connection as the domain Administrator, for tests that change AD."""
    import ssl

    import ldap3

    from dirkit_lab import settings as s

    server = ldap3.Server(
        s.AD_HOST,
        port=636,
        use_ssl=True,
        get_info=ldap3.NONE,
        tls=ldap3.Tls(ca_certs_file=lab_status["ca_cert"], validate=ssl.CERT_REQUIRED),
    )
    conn = ldap3.Connection(server, user=f"Administrator@{s.AD_REALM}", password=s.ADMIN_PASSWORD, auto_bind=True)
    yield conn
    conn.unbind()


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"  # Debian's, from bootstrap.sh


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Selenium through Debian's chromedriver; it logs the
    console and DevTools network events (what the report tests read)."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:  # the test extras were not installed
        _unavailable(str(exc), "headless chromium")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        _unavailable(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing (scripts/bootstrap.sh installs them)", "headless chromium"
        )
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    except (OSError, WebDriverException) as exc:  # chromedriver would not run, or chromium not start
        _unavailable(str(exc), "headless chromium")
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()
