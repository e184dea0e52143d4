import pytest

from dirkit._config import NamesConfig
from dirkit._directory.names import NamePolicy
from dirkit._directory.reader import escape

P = NamePolicy(realm="AD.EXAMPLE.COM")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("DataEng1", "dataeng1"),
        ("dataeng1@AD.EXAMPLE.COM", "dataeng1"),
        ("dataeng1@ad.example.com", "dataeng1"),
        ("DIRKIT\\DataEng1", "dataeng1"),
        ("odd space", "odd space"),
        ("odd#hash", "odd#hash"),
        ("odd%pct", "odd%pct"),
        ("Zoë.Müller", "zoë.müller"),
        ("zoe\u0308.müller", "zoë.müller"),  # NFD -> NFC
        ("a..b", "a..b"),
    ],
)
def test_normalised(raw: str, name: str) -> None:
    assert P.normalise(raw).name == name


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("a/b", "forbidden character '/'"),
        ("..", "path component"),
        (".", "path component"),
        ("-rf", "starts with '-'"),
        ("bad\nname", "forbidden character"),
        ("bell\x07", "forbidden character"),
        ("c1\x85", "forbidden character"),
        ("a:b", "forbidden character ':'"),
        (" lead", "whitespace"),
        ("x" * 65, "max_length=64"),
        ("", "empty"),
    ],
)
def test_unsafe(raw: str, reason: str) -> None:
    r = P.normalise(raw)
    assert r.name is None and reason in r.reason


def test_other_realm_is_not_stripped() -> None:
    # user@OTHER.REALM is another realm's principal: no name of ours (and not "bob").
    r = P.normalise("bob@OTHER.COM")
    assert r.name is None and "'@'" in r.reason
    assert P.directory_name("bob@AD.EXAMPLE.COM").name is None  # a sAMAccountName: nothing stripped


def test_preserve_case_and_pattern() -> None:
    p = NamePolicy(NamesConfig(case="preserve", allowed_pattern="[A-Za-z_][A-Za-z0-9_.-]*"))
    assert p.normalise("Mixed.Case").name == "Mixed.Case"
    assert "allowed_pattern" in p.normalise("odd space").reason


def test_filter_values_are_escaped() -> None:
    assert escape("a*b(c)d\\e\x00") == "a\\2ab\\28c\\29d\\5ce\\00"
