"""Issue 31, item 5: `verify.node_command` over ssh. ssh joins its arguments with spaces and
the remote shell parses them again, so a user name holding shell metacharacters must reach the
remote `id` as one quoted argument. The "ssh" here does exactly what ssh does with a command
(the host dropped, the rest joined by spaces and given to `sh -c`), and the node's `id` records
the arguments it got."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from seed_fixture import BASE, _g, _u, seed_config

from dirkit._config import VerifyUser
from dirkit._directory.build import build
from dirkit._directory.names import NamePolicy
from dirkit._verify import checks
from dirkit._verify.checks import node_argv, subject

HOSTILE = ["x;touch pwned", "$(touch pwned)", "a b`touch pwned`", "it's"]


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text('#!/bin/sh\nshift\nexec sh -c "$*"\n')  # ssh HOST COMMAND...
    (bin_dir / "id").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path / "id-args"}\nexit 1\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)  # where a `touch pwned` that escaped would land
    return bin_dir


@pytest.mark.parametrize("name", HOSTILE)
def test_a_name_with_shell_metacharacters_reaches_the_remote_id_as_one_argument(
    node: Path, tmp_path: Path, name: str
) -> None:
    mark = tmp_path / "pwned"
    d = build([_u(name, 1101), _u("dataeng1", 1102)], [_g("Domain Users", 513)], NamePolicy(), [BASE])
    assert d.user_by_name(name.lower()) is not None  # the names policy lets it through
    cfg = seed_config(
        verify={"service_principal": "HTTP/nn@EMR.DIRKIT.TEST", "node_command": [str(node / "ssh"), "hadoop@node1"]}
    )
    with subject(cfg, d, VerifyUser(name=name, password="env:UNUSED")) as user:
        check = checks.node(user, None)
    assert not mark.exists(), "the remote shell ran part of the name"
    assert (tmp_path / "id-args").read_text().splitlines() == ["--", name.lower()]
    assert check.status == "fail"  # this node's `id` knows nobody


def test_a_local_node_command_passes_the_name_as_it_is() -> None:
    assert node_argv(["chroot", "/srv/node"], "a;b") == ["chroot", "/srv/node", "id", "--", "a;b"]
    assert node_argv(["/usr/bin/ssh", "-o", "BatchMode=yes", "node1"], "a;b") == [
        "/usr/bin/ssh",
        "-o",
        "BatchMode=yes",
        "node1",
        "id -- 'a;b'",
    ]
