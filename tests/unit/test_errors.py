"""The exception tree: one module, exit codes as documented, Kerberos classified by codes."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from gssapi.raw.misc import GSSError

import dirkit
from dirkit import _kerberos as kerberos
from dirkit import errors

PKG = Path(dirkit.__file__).parent
GSS_S_FAILURE = 0xD0000


def _minor(code: int) -> int:
    return code & 0xFFFFFFFF  # python-gssapi hands minor codes over unsigned


def test_no_exception_class_outside_the_errors_module() -> None:
    for f in PKG.rglob("*.py"):
        if f.name == "errors.py" and f.parent == PKG:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b) for b in node.bases}
                assert not any(b.endswith(("Error", "Exception")) for b in bases), f"{f}: class {node.name}"


def test_every_error_has_a_documented_exit_code_and_is_in_the_tree() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.DirkitError)
        assert name in doc, f"{name} is not drawn in the errors module docstring"
        assert cls.exit_code in (1, 2, 4, 5, 6, 7, 8), name
    assert errors.HdfsUnavailable.exit_code == errors.EXIT_SERVICE == 5  # the CLI help promises 5


@pytest.mark.parametrize(
    ("minor", "source", "reason", "words"),
    [
        (-1765328360, "with a password", "bad_key", "wrong password"),
        (-1765328360, "from keytab /k", "bad_key", "re-export the keytab"),
        (-1765328203, "from keytab /k", "no_key", "has no key for"),
        (-1765328366, "with a password", "revoked", "disabled or locked out"),
        (-1765328361, "with a password", "expired", "has expired"),
        (-1765328228, "with a password", "unreachable", "no KDC could be reached"),
        (-1765328378, "with a password", "unknown_principal", "does not exist"),
        (12345, "with a password", "other", "check the keytab or password"),
    ],
)
def test_login_failures_are_classified_by_minor_code(minor: int, source: str, reason: str, words: str) -> None:
    exc = GSSError(GSS_S_FAILURE, _minor(minor))
    err = kerberos.login_error("u@AD.EXAMPLE", source, exc)
    assert (err.reason, err.minor, err.major) == (reason, minor, GSS_S_FAILURE)
    assert words in str(err) and err.exit_code == 5


def test_ticket_failures_name_the_trust_problem() -> None:
    err = kerberos.ticket_error("HTTP/nn@EMR", GSSError(GSS_S_FAILURE, _minor(-1765328377)))
    assert err.reason == "unknown_service" and "no trust key" in str(err)


def test_classification_does_not_read_message_text() -> None:
    assert "lower()" not in inspect.getsource(kerberos)
