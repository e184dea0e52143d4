"""Files dirkit writes as root, in directories other software owns (node_exporter's textfile
directory, an output directory) or that must stay its own (the state directory).

Every write goes through ``write_atomic``: a temp file created exclusively and never through a
symlink (``O_CREAT|O_EXCL|O_NOFOLLOW``), given its mode on the descriptor (a chmod by name can
be redirected by whoever can rename entries in the directory), written, synced, then renamed
over the target, so readers see the old file or the new one, never half of one. Reads of files
dirkit may replace go through ``read_nofollow``. ``check_private_dir`` and ``open_private``
refuse, the way ssh refuses a loose ``~/.ssh``, a place another user could swap files in.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from . import _faults as faults
from .errors import LocalFileError, OutputError

_TEMP_ATTEMPTS = 100


def _create_temp(dir_fd: int, name: str, mode: int) -> tuple[int, str]:
    # The suffix keeps the temp file out of globs such as node_exporter's *.prom.
    for _ in range(_TEMP_ATTEMPTS):
        tmp = f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            return os.open(tmp, flags, mode, dir_fd=dir_fd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp name for {name} after {_TEMP_ATTEMPTS} tries")


def write_atomic(path: Path, data: bytes | Iterable[bytes], mode: int = 0o644, *, key: str = "") -> None:
    """Replace ``path`` with ``data`` (bytes, or chunks of them, written as they come)
    atomically, ``mode`` set on the descriptor (the umask cannot narrow or widen it). ``key`` (a config key, ``--out``) starts the error message.
    Raises OutputError. A temp file (``.<name>.<hex>.tmp``) a killed writer left behind is
    removed by ``remove_stale_temps``, which writers that hold the run lock call first (another
    concurrent writer's temp file would be removed under it)."""
    where = f"{key} {path}" if key else str(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise OutputError(f"{where}: cannot write ({exc.strerror or exc})") from exc
    try:
        fd, tmp = _create_temp(dir_fd, path.name, mode)
        try:
            try:
                os.fchmod(fd, mode)
                for chunk in [data] if isinstance(data, bytes) else data:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            faults.point("file-temp")
            os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise OutputError(f"{where}: cannot write ({exc.strerror or exc})") from exc
    finally:
        os.close(dir_fd)


def remove_stale_temps(path: Path) -> None:
    """Remove the temp files a killed writer of ``path`` left (unlink never follows a symlink)."""
    for stale in path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def read_nofollow(path: Path) -> bytes | None:
    """The bytes of the regular file ``path``; None if it does not exist. A symlink or a
    non-regular file raises OSError (callers treat it as a file to replace, never to read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        return f.read()


def _loose(st: os.stat_result, what: str, path: Path, fix: str) -> str | None:
    uid = os.geteuid()
    if st.st_uid != uid:
        return f"{what} {path} is owned by uid {st.st_uid}, not by the user running dirkit (uid {uid}): {fix}"
    if st.st_mode & 0o022:
        return f"{what} {path} is writable by other users (mode {stat.S_IMODE(st.st_mode):04o}): {fix}"
    return None


def check_private_dir(path: Path, key: str, error: type[LocalFileError] = LocalFileError) -> None:
    """Create ``path`` (0700) if missing; refuse (LocalFileError, exit 4) a symlink, or a
    directory that another user owns or may write, where files could be swapped under us."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        raise error(f"{key}: cannot use the directory {path} ({exc.strerror or exc})") from exc
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise error(f"{key}: {path} is not a directory (a symlink?): point {key} at a real directory")
    problem = _loose(st, f"{key}: the directory", path, f"chown root {path} && chmod go-w {path}")
    if problem:
        raise error(problem)


def open_private(path: Path, key: str, error: type[LocalFileError] = LocalFileError) -> int:
    """Open (creating it 0600) the file ``path`` in a private directory: never through a
    symlink, refused if another user owns it or may write it; its mode is set to 0600 on the
    descriptor. Returns the descriptor (read-write). Refusals raise ``error``."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        hint = " (a symlink: dirkit never follows one there; remove it)" if os.path.islink(path) else ""
        raise error(f"{key}: cannot open {path} ({exc.strerror or exc}){hint}") from exc
    try:
        st = os.fstat(fd)
        problem = "" if stat.S_ISREG(st.st_mode) else f"{key}: {path} is not a regular file"
        problem = problem or _loose(st, key + ":", path, f"chown root {path} && chmod 600 {path}") or ""
        if problem:
            raise error(problem)
        if stat.S_IMODE(st.st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd
