"""Typed configuration, loaded from one TOML file.

Every problem is reported as one ``ConfigError`` naming the key (``ldap.urls[0]``) and what
is wrong. Secrets are never stored in the file: ``password = "env:NAME" | "file:/path" |
"command:/path/to/helper args"`` is resolved only when needed, and never logged.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, SecretError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CONFIG = Path("/etc/dirkit/dirkit.toml")
SECRET_SCHEMES = ("env:", "file:", "command:")


class _Model(BaseModel):
    # A typo in a key is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class SecretRef(str):
    """A reference to a secret; ``resolve()`` reads it. ``str()`` never shows the value."""

    def resolve(self) -> str:
        scheme, _, rest = self.partition(":")
        if scheme == "env":
            value = os.environ.get(rest)
            if value is None:
                raise SecretError(f"secret env:{rest}: environment variable {rest} is not set")
            return value
        if scheme == "file":
            try:
                return Path(rest).read_text().rstrip("\n")
            except OSError as exc:
                raise SecretError(f"secret file:{rest}: cannot read ({exc.strerror})") from None
        if scheme == "command":
            try:
                out = subprocess.run(shlex.split(rest), capture_output=True, text=True, timeout=30)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SecretError(f"secret command {shlex.split(rest)[0]!r} could not run: {exc}") from None
            if out.returncode != 0:
                raise SecretError(f"secret command {shlex.split(rest)[0]!r} exited {out.returncode}")
            return out.stdout.rstrip("\n")
        raise SecretError(f"unknown secret scheme {scheme!r}")  # unreachable: validated on load


def _secret(v: Any) -> SecretRef:
    if not isinstance(v, str) or not v.startswith(SECRET_SCHEMES) or len(v.split(":", 1)[1]) == 0:
        # Do not echo the value: it may be a plaintext password pasted by mistake.
        raise ValueError("must be a secret reference: env:NAME, file:/path or command:/path/to/helper "
                         "(plaintext passwords are not accepted)")  # fmt: skip
    return SecretRef(v)


class LdapConfig(_Model):
    urls: Annotated[list[str], Field(min_length=1)]
    start_tls: bool = False
    ca_file: Path | None = None
    verify_tls: bool = True
    bind: Literal["kerberos", "simple"] = "kerberos"
    principal: str | None = None
    keytab: Path | None = None
    bind_dn: str | None = None
    password: SecretRef | None = None
    page_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # 0: take what the server sends and follow `member;range=` when it truncates (AD: 1500).
    # N > 0: always ask for ranges of N values (tests use it; some servers need it).
    member_range_size: Annotated[int, Field(ge=0)] = 0
    # Users are read as this many uSNChanged ranges on parallel connections (+1 for groups).
    read_connections: Annotated[int, Field(ge=1, le=8)] = 2

    @field_validator("password", mode="before")
    @classmethod
    def _password(cls, v: Any) -> SecretRef | None:
        return None if v is None else _secret(v)

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for i, url in enumerate(v):
            if not re.fullmatch(r"ldaps?://[^/\s:]+(:\d{1,5})?/?", url):
                raise ValueError(f"[{i}] {url!r} is not ldap://host[:port] or ldaps://host[:port]")
        return v

    @model_validator(mode="after")
    def _bind(self) -> LdapConfig:
        if self.bind == "kerberos":
            if not self.principal or not self.keytab:
                raise ValueError("bind = 'kerberos' needs ldap.principal and ldap.keytab")
        elif not self.bind_dn or not self.password:
            raise ValueError("bind = 'simple' needs ldap.bind_dn and ldap.password (a secret reference)")
        plain = [u for u in self.urls if u.startswith("ldap://")]
        if plain and not self.start_tls:
            # Never send a bind over clear text: AD refuses it anyway, and ldap3 cannot sign/seal.
            raise ValueError(f"{plain[0]} is plain LDAP: use ldaps:// or set ldap.start_tls = true")
        return self


class KerberosConfig(_Model):
    krb5_conf: Path | None = None


class DirectoryConfig(_Model):
    base_dn: str
    realm: str
    user_bases: list[str] = []
    group_bases: list[str] = []
    user_filter: str = "(&(objectCategory=person)(objectClass=user))"
    group_filter: str = "(objectClass=group)"

    @field_validator("realm")
    @classmethod
    def _realm(cls, v: str) -> str:
        if v != v.upper() or not re.fullmatch(r"[A-Z0-9.-]+", v):
            raise ValueError(f"{v!r} must be an upper-case Kerberos realm, e.g. AD.EXAMPLE.COM")
        return v

    @field_validator("user_filter", "group_filter")
    @classmethod
    def _filter(cls, v: str) -> str:
        if not (v.startswith("(") and v.endswith(")")) or v.count("(") != v.count(")"):
            raise ValueError(f"{v!r} is not an LDAP filter (RFC 4515): unbalanced parentheses")
        return v

    def users_search_bases(self) -> list[str]:
        return self.user_bases or [self.base_dn]

    def groups_search_bases(self) -> list[str]:
        return self.group_bases or [self.base_dn]


class NamesConfig(_Model):
    case: Literal["lower", "preserve"] = "lower"
    max_length: Annotated[int, Field(ge=1, le=255)] = 64
    # Optional stricter policy, e.g. "[a-z_][a-z0-9_.-]*" for POSIX-style names only.
    allowed_pattern: str | None = None

    @field_validator("allowed_pattern")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class StateConfig(_Model):
    path: Path = Path("/var/lib/dirkit/state.sqlite")
    keep_snapshots: Annotated[int, Field(ge=1)] = 10


class SafetyConfig(_Model):
    max_removals: Annotated[int, Field(ge=0)] = 500
    max_removal_percent: Annotated[float, Field(ge=0, le=100)] = 20.0


class Config(_Model):
    ldap: LdapConfig
    directory: DirectoryConfig
    kerberos: KerberosConfig = KerberosConfig()
    names: NamesConfig = NamesConfig()
    state: StateConfig = StateConfig()
    safety: SafetyConfig = SafetyConfig()
    source: Path | None = None  # where it was loaded from (set by load())


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after", "function-before") and not str(part).startswith("function"):
            out += ("." if out else "") + str(part)
    return out


def from_dict(data: dict[str, Any], source: Path | None = None) -> Config:
    where = f"{source}: " if source else ""
    try:
        return Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = _loc(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known key (typo?)"
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{where}{key or 'config'}: {msg}{more}") from None


def load(path: Path | str | None = None) -> Config:
    """Load and validate the config: ``path``, else $DIRKIT_CONFIG, else /etc/dirkit/dirkit.toml."""
    p = Path(path or os.environ.get("DIRKIT_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config ({exc.strerror}); pass --config FILE") from None
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return from_dict(data, source=p)
