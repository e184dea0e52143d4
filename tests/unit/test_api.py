"""The public API is small and pinned; the CLI sits on it and nothing below it."""

from __future__ import annotations

import ast
from pathlib import Path

import dirkit

PKG = Path(dirkit.__file__).parent


def test_public_api_is_pinned() -> None:
    assert sorted(dirkit.__all__) == [
        "Change",
        "Config",
        "Decision",
        "Directory",
        "DirectorySource",
        "Dirkit",
        "DirkitError",
        "Document",
        "Group",
        "HomesResult",
        "HomesTarget",
        "MemorySource",
        "Plan",
        "Run",
        "SyncResult",
        "User",
        "UserReport",
        "load_config",
    ]
    for name in dirkit.__all__:
        assert getattr(dirkit, name) is not None


def test_cli_imports_nothing_below_the_api() -> None:
    allowed = {"api", "errors", "log", "lab", ""}  # lab: the lab's own API object
    for node in ast.walk(ast.parse((PKG / "cli.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            assert (node.module or "") in allowed, f"cli.py imports .{node.module}"
