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
from pathlib import Path

from ..errors import LabError
from . import host

BASE_IMAGE = "localhost/debian-base:12"


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
    return {"CONTAINERS_CONF": str(docker_dir / "podman" / "containers.conf"), "DIRKIT_BASE_IMAGE": BASE_IMAGE}


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
    exists = host.run(["podman", "image", "exists", BASE_IMAGE], env=env, check=False)
    if exists.returncode != 0:
        with tempfile.TemporaryDirectory(prefix="dirkit-rootfs-") as tmp:
            rootfs = Path(tmp) / "rootfs.tar"
            host.require("mmdebstrap")
            host.run(
                ["mmdebstrap", "--variant=minbase", "--include=ca-certificates", "bookworm", rootfs],
                log=log,
                timeout=900,
            )
            host.run(["podman", "import", rootfs, BASE_IMAGE], env=env, log=log, timeout=300)
        done.append(f"base image {BASE_IMAGE} built with mmdebstrap")
    if copy_host_settings(docker_dir / "host"):
        done.append("host apt/pip/CA settings copied into docker/host/")
    return done


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
