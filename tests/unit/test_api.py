"""The public API is small and pinned; the CLI sits on it and nothing below it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

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
    allowed = {"api", "errors", "log", ""}
    for node in ast.walk(ast.parse((PKG / "cli.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            assert (node.module or "") in allowed, f"cli.py imports .{node.module}"


def test_an_unknown_document_format_is_a_usage_error() -> None:
    # Issue 22: a format the API does not know used to give the classification silently.
    from seed_fixture import seed_config

    from dirkit.errors import UsageError

    kit = dirkit.Dirkit(seed_config())
    untyped: Any = "yaml"  # what a caller without type checking can pass
    for call in (kit.hue_config, kit.core_site):
        with pytest.raises(UsageError, match="unknown format 'yaml'"):
            call(untyped)
    assert kit.hue_config("ini").text.startswith("# Hue LDAP configuration")
