from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dirkit import _config as config
from dirkit.errors import ConfigError, SecretError

REPO = Path(__file__).resolve().parents[2]


def _base(**ldap: Any) -> dict[str, Any]:
    return {
        "ldap": {"urls": ["ldaps://dc1.example.com"], "principal": "svc@EXAMPLE.COM", "keytab": "/k", **ldap},
        "directory": {"base_dn": "DC=example,DC=com", "realm": "EXAMPLE.COM"},
    }


def test_example_config_is_valid_and_documents_every_key() -> None:
    cfg = config.load(REPO / "config" / "dirkit.example.toml")
    text = (REPO / "config" / "dirkit.example.toml").read_text()
    sections = [getattr(cfg, name) for name in type(cfg).model_fields if name != "source"]
    assert cfg.emr is not None
    sections += [cfg.emr.role_mappings[0], cfg.emr.kerberos_attributes, config.ImdsConfig()]
    assert cfg.verify is not None
    sections += [cfg.verify.hive, cfg.verify.users[0]]
    for section in sections:
        assert section is not None
        for key in type(section).model_fields:
            documented = f"{key} =" in text or f"[{key}]" in text or f".{key}]" in text
            assert documented, f"{type(section).__name__}.{key} is not documented in the example config"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"directory": {"base_dn": "x", "realm": "X"}}, "ldap: is required"),
        (_base(urls=["http://dc"]), "ldap.urls: [0] 'http://dc' is not"),
        (_base(urls=[]), "ldap.urls"),
        (_base(page_sise=10), "ldap.page_sise: is not a known key"),
        (_base(page_size=0), "ldap.page_size"),
        (_base(urls=["ldap://dc"]), "use ldaps:// or set ldap.start_tls"),
        (_base(bind="simple"), "needs ldap.bind_dn and ldap.password"),
        (_base(bind="ntlm"), "ldap.bind"),
        (
            {**_base(), "directory": {"base_dn": "x", "realm": "example.com"}},
            "directory.realm: 'example.com' must be an upper-case",
        ),
        (
            {**_base(), "directory": {"base_dn": "x", "realm": "X", "user_filter": "(objectClass=user"}},
            "directory.user_filter",
        ),
        ({**_base(), "names": {"allowed_pattern": "[a-"}}, "names.allowed_pattern: not a usable regular expression"),
        ({**_base(), "safety": {"max_removal_percent": 120}}, "safety.max_removal_percent"),
    ],
)
def test_bad_config_names_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config.from_dict(data)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)  # one message


def test_plaintext_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as exc:
        config.from_dict(_base(bind="simple", bind_dn="svc", password="hunter2"))
    assert "ldap.password: must be a secret reference" in str(exc.value)
    assert "hunter2" not in str(exc.value)


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DK_PW", "from-env")
    (tmp_path / "pw").write_text("from-file\n")
    for ref, want in (
        ("env:DK_PW", "from-env"),
        (f"file:{tmp_path / 'pw'}", "from-file"),
        ("command:/bin/echo from-command", "from-command"),
    ):
        cfg = config.from_dict(_base(bind="simple", bind_dn="svc", password=ref))
        assert cfg.ldap.password is not None and cfg.ldap.password.resolve() == want
    with pytest.raises(SecretError, match="DK_MISSING is not set"):
        config.from_dict(_base(bind="simple", bind_dn="svc", password="env:DK_MISSING")).ldap.password.resolve()
    with pytest.raises(SecretError, match="exited 1"):
        config.from_dict(_base(bind="simple", bind_dn="svc", password="command:/bin/false")).ldap.password.resolve()
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xffS3cret\xfe")
    with pytest.raises(SecretError, match="not UTF-8 text") as exc:
        config.from_dict(_base(bind="simple", bind_dn="svc", password=f"file:{binary}")).ldap.password.resolve()
    assert exc.value.__cause__ is None and "S3cret" not in str(exc.value)  # never the secret's bytes


def test_required_keys_of_a_section_are_required_at_load() -> None:
    data = {**_base(), "hue": {"server_name": "ad"}, "hadoop": {"bind_user": "svc@example.com"}}
    with pytest.raises(ConfigError, match=r"hue.bind_dn: is required \(and 2 more problem"):
        config.from_dict(data)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        config.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[ldap\nurls = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(bad)


def test_no_config_given_says_how_to_give_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIRKIT_CONFIG", raising=False)
    monkeypatch.setattr(config, "DEFAULT_CONFIG", tmp_path / "etc" / "dirkit.toml")
    with pytest.raises(ConfigError, match="pass --config FILE or set DIRKIT_CONFIG"):
        config.load()


def test_every_timeout_in_one_object() -> None:
    cfg = config.from_dict(
        {
            **_base(timeout_seconds=7),
            "verify": {"service_principal": "HTTP/nn@EXAMPLE.COM", "timeout_seconds": 3},
        }
    )
    t = config.timeouts(cfg)
    assert (t.ldap, t.verify_check, t.hive_check, t.webhdfs) == (7, 3, 8, 30.0)
    assert t.secret_command == config.SECRET_COMMAND_TIMEOUT and t.klist == 10.0


# -- issue 19, item 9: a value no generated document can hold is refused at load, by key --------


def test_a_character_xml_forbids_is_refused_naming_the_key() -> None:
    from seed_fixture import seed_config

    for ch in ("\ufffe", "\uffff"):
        with pytest.raises(ConfigError, match=r"hadoop.bind_user: contains U\+FFF[EF], a character XML 1.0 forbids"):
            seed_config(hadoop={"bind_user": f"svc{ch}@ad.dirkit.test"})


def test_a_hue_value_configobj_cannot_quote_is_refused_naming_the_key() -> None:
    from seed_fixture import seed_config

    with pytest.raises(ConfigError, match="hue.bind_dn: holds both ''' and \"\"\"") as exc:
        seed_config(hue={"bind_dn": "CN=a'''b\"\"\"c,DC=x"})
    assert "\n" not in str(exc.value)


_PRINTABLE = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffe\uffff"), min_size=1)


@given(value=_PRINTABLE)
@settings(max_examples=300, deadline=None)
def test_every_value_the_config_accepts_renders_documents_that_parse_back(value: str) -> None:
    import io
    import xml.etree.ElementTree as ET

    from configobj import ConfigObj
    from seed_fixture import seed_config

    from dirkit._config import ad_site
    from dirkit._outputs import hadoop, hue

    try:
        cfg = seed_config(hue={"bind_dn": value}, hadoop={"bind_user": value})
    except ConfigError:
        assert ("'''" in value and '"""' in value) or value != value.strip()
        return
    assert cfg.hue is not None and cfg.hadoop is not None
    ini = ConfigObj(io.StringIO(hue.render_ini(cfg.hue, ad_site(cfg))))
    server = ini["desktop"]["ldap"]["ldap_servers"]["dirkit_ad"]
    assert server["bind_dn"] == value
    root = ET.fromstring(hadoop.render_xml(cfg.hadoop, ad_site(cfg)).encode("utf-8"))
    props = {p.findtext("name"): p.findtext("value") for p in root.iter("property")}
    assert props["hadoop.security.group.mapping.ldap.bind.user"] == value
