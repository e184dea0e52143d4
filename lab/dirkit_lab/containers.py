"""The container lab (docker/docker-compose.yml) on a machine with podman and no Docker engine.

Docker users need none of this: ``docker compose -f docker/docker-compose.yml up -d --wait``.
Here (no registry, no Docker engine; see the field notes on containers) three things differ:

- podman needs a containers.conf without default ulimits and with runc + cgroupfs
  (docker/podman/containers.conf, passed as ``CONTAINERS_CONF``; nothing global changes);
- ``debian:12`` cannot be pulled: a Debian 12 root file system is made with mmdebstrap and
  imported as ``localhost/debian-base:12`` once (the compose file takes the base as a variable);
- apt, pip and Maven inside the build must reach the same mirrors through the same TLS proxy as
  the host: the host's apt options, pip.conf and local CA certificates are copied into
  docker/host/ (the build context) before a build.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import host
from .errors import LabError

# Debian releases the lab's images are built on: 12, and 13 for the DCs (samba-ad, and the bulk
# DC): its Samba (4.22) enforces TLS channel bindings as hardened Windows DCs do (ad_dc.strong_auth)
# and loads users about five times faster than 12's 4.17 (whose ldb copies every index list an
# entry joins on each add: a 100k-user database takes over an hour there).
SUITES = {"12": "bookworm", "13": "trixie"}
DC_RELEASE = "13"


def base_image(release: str) -> str:
    return f"localhost/debian-base:{release}"


BASE_IMAGE = base_image("12")


def engine() -> str:
    """``docker`` when a Docker engine answers, else ``podman``; LabError when neither exists."""
    if shutil.which("docker") and host.run(["docker", "info"], check=False, timeout=20).returncode == 0:
        return "docker"
    if shutil.which("podman"):
        return "podman"
    raise LabError("neither a Docker engine nor podman is available (scripts/bootstrap.sh installs podman)")


def environment(docker_dir: Path) -> dict[str, str]:
    """What compose and podman need in the environment on this kind of machine."""
    if engine() == "docker":
        return {}
    return {**_podman(docker_dir), "DIRKIT_BASE_IMAGE": BASE_IMAGE, "DIRKIT_DC_BASE_IMAGE": base_image(DC_RELEASE)}


def _podman(docker_dir: Path) -> dict[str, str]:
    return {"CONTAINERS_CONF": str(docker_dir / "podman" / "containers.conf")}


def compose_command() -> str:
    if engine() == "docker":
        return "docker compose"
    # podman-compose comes with dirkit's test extras, in the venv next to this interpreter.
    beside = Path(sys.executable).parent / "podman-compose"
    found = shutil.which("podman-compose") or (str(beside) if beside.exists() else None)
    if found is None:
        raise LabError("podman-compose not found (pip install '.[test]'; scripts/bootstrap.sh does)")
    return shlex.quote(found)


def prepare(docker_dir: Path, log: Path) -> list[str]:
    """Get a podman machine ready to build the lab images; return what was done."""
    done: list[str] = []
    if engine() == "docker":
        return done
    env = environment(docker_dir)
    for release in sorted({"12", DC_RELEASE}):
        if ensure_base_image(release, env, log):
            done.append(f"base image {base_image(release)} built with mmdebstrap")
    if copy_host_settings(docker_dir / "host"):
        done.append("host apt/pip/CA settings copied into docker/host/")
    return done


def ensure_base_image(release: str, env: dict[str, str], log: Path) -> bool:
    """Import a Debian ``release`` root made with mmdebstrap as :func:`base_image` (no registry
    here); True when it was built now."""
    image = base_image(release)
    if host.run(["podman", "image", "exists", image], env=env, check=False).returncode == 0:
        return False
    with tempfile.TemporaryDirectory(prefix="dirkit-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        host.require("mmdebstrap")
        host.run(
            ["mmdebstrap", "--variant=minbase", "--include=ca-certificates", SUITES[release], rootfs],
            log=log,
            timeout=900,
        )
        host.run(["podman", "import", rootfs, image], env=env, log=log, timeout=300)
    return True


BULK_DC = "dirkit-lab-bulk-dc1"  # the container's name


def bulk_dc(
    docker_dir: Path, lab_dir: Path, users: int, log: Path, release: str = DC_RELEASE, timeout: float = 3600
) -> dict[str, float]:
    """Run dc1 with ``users`` bulk users in a podman container on Debian ``release``'s Samba,
    with its own lab directory ``lab_dir`` (shared with the host at the same path, as the
    container lab does): built once and cached there like any lab database. The native dc1
    must be down (the same address). Returns the seconds each step took (image, start until
    ready: the provisioning, dc2's join and the cache, when the database is not cached yet)."""
    env = _podman(docker_dir)
    image = f"localhost/dirkit-lab-samba-ad:debian{release}"
    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    ensure_base_image(release, env, log)
    copy_host_settings(docker_dir / "host")
    build: list[str | Path] = ["podman", "build", "--network=host", "-f", docker_dir / "Containerfile"]
    build += ["--target", "samba-ad"]
    build += ["--build-arg", f"BASE_IMAGE={base_image(release)}", "-t", image, docker_dir.parent]
    host.run(build, env=env, log=log, timeout=1800)
    seconds["image"] = time.monotonic() - t0
    host.run(["podman", "rm", "-f", BULK_DC], env=env, log=log, check=False)
    lab_dir.mkdir(parents=True, exist_ok=True)
    # The container writes this marker once its databases are in place: provisioned, dc2 joined
    # and cached, or restored from that cache. dc1 answers long before (the join needs it up),
    # and a measure taken then competes with the join (and stopping the container then loses
    # the cache). Removed first, so that only this start's marker counts.
    marker = lab_dir / "ad-database"
    marker.unlink(missing_ok=True)
    run = ["podman", "run", "-d", "--name", BULK_DC, "--network=host", "--cap-add=NET_ADMIN", "--cap-add=SYS_ADMIN"]
    run += ["-e", f"DIRKIT_LAB_DIR={lab_dir}", "-e", f"DIRKIT_LAB_BULK={users}", "-v", f"{lab_dir}:{lab_dir}"]
    host.run([*run, image, "dc1"], env=env, log=log)
    t1 = time.monotonic()

    def ready() -> bool:
        state = host.run(["podman", "inspect", "-f", "{{.State.Running}}", BULK_DC], env=env, check=False)
        if state.stdout.strip() != "true":
            tail = host.run(["podman", "logs", "--tail", "20", BULK_DC], env=env, check=False).stdout
            raise LabError(f"the bulk DC container {BULK_DC} stopped before it was ready; its last log lines:\n{tail}")
        if not marker.exists():
            return False
        probe = ["podman", "exec", BULK_DC, "dirkit-lab", "serve", "--check", "dc1"]
        return host.run(probe, env=env, check=False, timeout=120).returncode == 0

    host.wait_until(ready, timeout, f"the bulk DC ({users} users, Debian {release})", 10)
    seconds["ready"] = time.monotonic() - t1
    return seconds


def stop_bulk_dc(docker_dir: Path, log: Path) -> None:
    env = _podman(docker_dir)
    host.run(["podman", "rm", "-f", "-t", "30", BULK_DC], env=env, log=log, check=False, timeout=120)


SHARED_STAGES = ("code", "jars", "pyspark")  # docker/Containerfile stages several images use


def prebuild(docker_dir: Path, log: Path) -> None:
    """Build the stages the images share, one after the other, before compose builds the images
    in parallel: podman-compose starts the four builds at once and each would redo the shared
    stages until the cache has them (on two CPUs, four pip/Maven runs at once). Docker's
    BuildKit shares them by itself."""
    if engine() == "docker":
        return
    env = environment(docker_dir)
    for stage in SHARED_STAGES:
        host.run(
            [
                "podman",
                "build",
                "--network=host",
                "-f",
                docker_dir / "Containerfile",
                "--target",
                stage,
                "--build-arg",
                f"BASE_IMAGE={BASE_IMAGE}",
                docker_dir.parent,
            ],
            env=env,
            log=log,
            timeout=1800,
        )


def copy_host_settings(dest: Path) -> bool:
    """The host's apt options, pip.conf and local CA certificates, for the build (the base image
    made by mmdebstrap already has the host's apt sources)."""
    files = {
        "apt/apt.conf.d": sorted(Path("/etc/apt/apt.conf.d").glob("99*")),
        "ca": sorted(Path("/usr/local/share/ca-certificates").glob("*.crt")),
        ".": [f for f in (Path("/etc/pip.conf"),) if f.exists()],
    }
    changed = False
    for sub, sources in files.items():
        for src in sources:
            target = dest / sub / src.name
            if not target.exists() or target.read_bytes() != src.read_bytes():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
                changed = True
    return changed


def apply_environment(docker_dir: Path) -> None:
    """Put :func:`environment` into this process's environment (for pytest-docker's commands)."""
    os.environ.update(environment(docker_dir))
