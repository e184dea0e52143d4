"""A run has one overall deadline (issue 19, item 5). Stand-in servers on 127.0.0.1 that drip
one byte a second never trip a socket timeout; the run must still end at run.deadline_seconds
(exit 5), apply nothing, and leave the lock free for the next run. The real services' version
(a dripping NameNode after a real AD read) is in tests/integration/test_hdfs.py."""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from seed_fixture import simple_config_file

from dirkit import _deadline as deadline
from dirkit._state import StateStore
from dirkit.errors import DeadlineExceeded

DIRKIT = [sys.executable, "-m", "dirkit._cli"]


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def dripping_ldaps(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An LDAPS server that answers the bind by announcing a 1 MiB message, then sends one
    byte of it a second (each socket read gets its byte well within ldap.timeout_seconds)."""
    cert, key = _certificate(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(4096)  # the bind request
                tls.sendall(bytes([0x30, 0x83, 0x10, 0x00, 0x00]))  # SEQUENCE of 1 MiB
                while not stop.wait(1.0):
                    tls.sendall(b"\x02")
        except OSError:
            pass

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], cert
    stop.set()
    listener.close()


def _config(tmp_path: Path, url: str, password: str, ca: Path | None = None, deadline_seconds: float = 3) -> Path:
    extra = f"[run]\ndeadline_seconds = {deadline_seconds}\n"
    f = simple_config_file(tmp_path / "dirkit.toml", tmp_path / "state" / "state.sqlite", url, password, extra)
    if ca is not None:  # the stand-in's own certificate
        f.write_text(f.read_text().replace("timeout_seconds = 2\n", f'timeout_seconds = 2\nca_file = "{ca}"\n'))
    return f


def _sync(cfg: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "DIRKIT_TEST_PW": "x"}
    t0 = time.monotonic()
    r = subprocess.run([*DIRKIT, "sync", "-c", str(cfg)], capture_output=True, text=True, timeout=120, env=env)
    return r, time.monotonic() - t0


def test_a_dripping_ldap_server_cannot_hold_the_run_or_its_lock(
    tmp_path: Path, dripping_ldaps: tuple[int, Path]
) -> None:
    port, ca = dripping_ldaps
    cfg = _config(tmp_path, f"ldaps://localhost:{port}", "env:DIRKIT_TEST_PW", ca)
    for _ in range(2):  # the second run gets the lock: the first released it
        r, took = _sync(cfg)
        assert r.returncode == 5, r.stderr
        assert "passed its deadline (run.deadline_seconds = 3): nothing was applied" in r.stderr
        assert took < 3 + 10, f"the run took {took:.1f}s with a 3 s deadline"
    with StateStore(tmp_path / "state" / "state.sqlite") as store:
        runs = store.runs()
        assert [run.outcome for run in runs] == ["failed", "failed"]
        assert "deadline" in runs[0].message and store.last_meta()[1] is None  # nothing applied
        with store.lock():
            pass


def test_a_hanging_secret_command_cannot_hold_the_run(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "ldaps://127.0.0.1:1", "command:/bin/sleep 60", deadline_seconds=2)
    r, took = _sync(cfg)
    assert r.returncode == 5 and "passed its deadline" in r.stderr, r.stderr
    assert took < 2 + 10
    assert not _processes("/bin/sleep\x0060"), "the secret command outlived the run"


def _processes(cmdline: str) -> list[str]:
    """PIDs whose command line is exactly ``cmdline`` (arguments separated by NUL)."""
    found = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and (d / "cmdline").read_bytes().rstrip(b"\0").decode() == cmdline:
                found.append(d.name)
        except OSError:  # the process ended while we looked
            continue
    return found


def test_shielded_work_finishes_and_the_deadline_is_raised_after_it() -> None:
    done: list[str] = []
    with pytest.raises(DeadlineExceeded, match="run.deadline_seconds = 0.2"):
        with deadline.limit(0.2):
            with deadline.shielded():
                time.sleep(0.5)  # the alarm fires here, and waits
                done.append("state saved")
            done.append("not reached")
    assert done == ["state saved"]


def test_outside_the_main_thread_no_alarm_is_armed() -> None:
    box: list[bool] = []

    def run() -> None:
        with deadline.limit(0.1):
            time.sleep(0.3)
        box.append(True)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert box == [True]
