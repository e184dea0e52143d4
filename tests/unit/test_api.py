"""The public API is small and pinned; the CLI sits on it and nothing below it."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import subprocess
import sys
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import dirkit

PKG = Path(dirkit.__file__).parent


def test_the_three_lists_of_public_names_agree() -> None:
    """``__all__``, the lazy imports and the TYPE_CHECKING imports (what mypy sees) name the
    same things, and each resolves: derived from ``__all__``, not a fourth copy of it."""
    assert dirkit.__all__ == sorted(dirkit.__all__)
    assert set(dirkit.__all__) == set(dirkit._PUBLIC)
    checked: set[str] = set()
    for node in ast.walk(ast.parse((PKG / "__init__.py").read_text())):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                checked |= {a.asname or a.name for a in imp.names}
    assert checked == set(dirkit.__all__)
    for name in dirkit.__all__:
        assert getattr(dirkit, name) is not None


def _every_module() -> list[ModuleType]:
    return [
        importlib.import_module(m.name)
        for m in pkgutil.walk_packages(dirkit.__path__, "dirkit.")
        if not m.name.endswith("hive_probe")  # a program, run as a child process
    ]


def test_the_names_dirkit_exposes_are_exactly_all() -> None:
    """In httpx's manner: with every module imported and every name used, what ``dirkit``
    holds that does not start with ``_`` is ``__all__``: internal modules are private."""
    _every_module()
    for name in dirkit.__all__:
        getattr(dirkit, name)
    public = sorted(n for n in vars(dirkit) if not n.startswith("_"))
    assert public == dirkit.__all__


def _dirkit_types(hint: Any, found: set[type], ns: dict[str, Any]) -> None:
    if typing.get_origin(hint) is not None:
        for arg in typing.get_args(hint):
            _dirkit_types(arg, found, ns)
    elif isinstance(hint, type) and hint.__module__.startswith("dirkit") and hint not in found:
        found.add(hint)
        hints = typing.get_type_hints(hint, localns=ns) if dataclasses.is_dataclass(hint) else {}
        for prop in (m for _, m in inspect.getmembers(hint) if isinstance(m, property) and m.fget):
            hints[prop.fget.__name__] = typing.get_type_hints(prop.fget, localns=ns).get("return")
        for h in hints.values():
            _dirkit_types(h, found, ns)


def test_every_type_a_dirkit_method_takes_or_returns_is_exported() -> None:
    # Issue 22: Dirkit methods returned HeldPlan, DeployPlan, Check, FileChange, HomeAction...
    # which `dirkit` did not export. Walked through dataclass fields and properties.
    ns = {k: v for mod in _every_module() for k, v in vars(mod).items() if isinstance(v, type)}
    found: set[type] = set()
    for name, fn in inspect.getmembers(dirkit.Dirkit, inspect.isfunction):
        if not name.startswith("_") or name == "__init__":
            for hint in typing.get_type_hints(fn, localns=ns).values():
                _dirkit_types(hint, found, ns)
    assert len(found) > 20
    for t in found:
        assert getattr(dirkit, t.__name__, None) is t, f"{t.__module__}.{t.__name__} is not exported"


def test_cli_imports_nothing_below_the_api() -> None:
    allowed = {"_api", "errors", "_log", ""}
    for node in ast.walk(ast.parse((PKG / "_cli.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            assert (node.module or "") in allowed, f"_cli.py imports .{node.module}"


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


def test_every_public_name_has_a_docstring() -> None:
    # Issue 22: 167 of 355 public names had none. Every export, and each of its public
    # methods and properties, says what it is (a dataclass's generated signature is not one).
    missing = []
    for name in dirkit.__all__:
        obj = getattr(dirkit, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # the errors module and the type aliases
        doc = obj.__doc__ or ""
        if not doc or doc.startswith(f"{name}("):
            missing.append(name)
        for member, value in vars(obj).items() if inspect.isclass(obj) else ():
            fn = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
            if not member.startswith("_") and callable(fn) and not fn.__doc__:
                missing.append(f"{name}.{member}")
    assert missing == []


def test_importing_dirkit_changes_nothing_global() -> None:
    # Issue 22: `import dirkit` flipped ldap3's CASE_INSENSITIVE_ATTRIBUTE_NAMES for the whole
    # process. In a fresh interpreter, importing every module leaves the environment and
    # ldap3's global settings as they were.
    code = """
import importlib, os, pkgutil
from ldap3.utils import config as c
def ldap3_settings():
    return {k: c.get_config_parameter(k) for k in ("CASE_INSENSITIVE_ATTRIBUTE_NAMES", "CASE_INSENSITIVE_SCHEMA_NAMES",
            "ATTRIBUTES_EXCLUDED_FROM_CHECK", "ADDITIONAL_SERVER_ENCODINGS", "RESPONSE_WAITING_TIMEOUT")}
env, settings = dict(os.environ), ldap3_settings()
import dirkit
for m in pkgutil.walk_packages(dirkit.__path__, "dirkit."):
    if not m.name.endswith("hive_probe"):
        importlib.import_module(m.name)
assert dict(os.environ) == env, set(os.environ.items()) ^ set(env.items())
assert ldap3_settings() == settings
print("unchanged")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "unchanged", r.stderr
