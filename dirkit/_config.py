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
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from . import _reserved
from .errors import ConfigError, SecretError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CONFIG = Path("/etc/dirkit/dirkit.toml")
SECRET_SCHEMES = ("env:", "file:", "command:")
SECRET_COMMAND_TIMEOUT = 30


# C0 and C1 control characters and DEL: never meaningful in a config value, and a newline in a
# string that lands in a generated script or file could end a quoted block early. Surrogates,
# U+FFFE and U+FFFF: XML 1.0 forbids them (its Char production), so core-site.xml could not
# hold them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def _no_control(v: Any) -> Any:
    values = v if isinstance(v, list) else [v]
    for item in values:
        if not isinstance(item, str):
            continue
        # The value is not echoed: it may be (part of) a secret.
        if m := _CONTROL.search(item):
            raise ValueError(f"contains the control character U+{ord(m.group()):04X}; remove it")
        if m := _NOT_XML.search(item):
            raise ValueError(f"contains U+{ord(m.group()):04X}, a character XML 1.0 forbids; remove it")
    return v


def _ini_safe(key: str, value: str) -> None:
    # configobj (what Hue reads hue.ini with) quotes a value holding both quote characters with
    # triple quotes; one holding both kinds of triple quote cannot be written at all.
    if value != value.strip():
        raise ValueError(f"{key}: has leading or trailing whitespace, which hue.ini (configobj) would drop")
    if "'''" in value and '"""' in value:
        raise ValueError(f"{key}: holds both ''' and \"\"\", which hue.ini (configobj) cannot quote; remove one")


class _Model(BaseModel):
    # A typo in a key is an error, not silently ignored; "yes" is not a boolean nor "10" a
    # number (strict: TOML has real booleans and numbers).
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _strings(cls, v: Any) -> Any:
        return _no_control(v)


# Paths are written as TOML strings.
FilePath = Annotated[Path, Strict(False)]


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
                return Path(rest).read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                raise SecretError(f"secret file:{rest}: cannot read ({exc.strerror})") from exc
            except UnicodeDecodeError:
                # Not chained: the decode error holds the file's bytes, i.e. the secret.
                raise SecretError(f"secret file:{rest}: not UTF-8 text") from None
        if scheme == "command":
            # Errors name the program only: its arguments may carry secrets, and errors go to
            # logs and the state database.
            argv = shlex.split(rest)  # checked when the config was loaded
            program = argv[0]
            try:
                out = subprocess.run(argv, capture_output=True, timeout=SECRET_COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise SecretError(
                    f"secret command {program!r} did not finish within {SECRET_COMMAND_TIMEOUT}s"
                ) from None
            except OSError as exc:
                raise SecretError(f"secret command {program!r} could not run ({exc.strerror})") from None
            if out.returncode != 0:
                raise SecretError(f"secret command {program!r} exited {out.returncode}")
            try:
                return out.stdout.decode("utf-8").rstrip("\n")
            except UnicodeDecodeError:
                raise SecretError(f"secret command {program!r} printed no UTF-8 text") from None
        raise SecretError(f"unknown secret scheme {scheme!r}")  # unreachable: validated on load


def _secret(v: Any) -> SecretRef:
    if not isinstance(v, str) or not v.startswith(SECRET_SCHEMES) or len(v.split(":", 1)[1]) == 0:
        # Do not echo the value: it may be a plaintext password pasted by mistake.
        raise ValueError(
            "must be a secret reference: env:NAME, file:/path or command:/path/to/helper "
            "(plaintext passwords are not accepted)"
        )
    if v.startswith("command:"):
        try:
            argv = shlex.split(v.removeprefix("command:"))
        except ValueError as exc:  # e.g. an unclosed quote
            raise ValueError(f"the command: reference cannot be split into arguments ({exc})") from None
        if not argv:
            raise ValueError("the command: reference names no program")
    return SecretRef(v)


def _optional_secret(v: Any) -> SecretRef | None:
    return None if v is None else _secret(v)


# A config value that holds a secret: a reference to it (env:, file:, command:), never the
# secret itself. The validator runs on the whole value, so a bad one is one error, not a union's two.
Secret = Annotated[SecretRef, BeforeValidator(_secret)]
OptionalSecret = Annotated[SecretRef | None, BeforeValidator(_optional_secret)]


# An S3 bucket name (3-63 lowercase letters, digits, dots, hyphens; a letter or digit at each
# end), and an s3:// URI on one: the one spelling of both, for the config and the EMR step.
S3_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
S3_URI = rf"s3://{S3_BUCKET}(/.*)?"


def hdfs_path_problem(path: str) -> str | None:
    """Why ``path`` is not a clean absolute HDFS path (None: it is): the one check, for the
    config's prefix and for every path the homes code touches."""
    if not path.startswith("/") or "\x00" in path:
        return "not absolute"
    if path != "/" and any(part in ("", ".", "..") for part in path.split("/")[1:]):
        return "empty, '.' or '..' component"
    return None


def _port_ok(url: str) -> bool:
    try:
        port = urlparse(url).port  # raises ValueError above 65535 or for a malformed host
    except ValueError:
        return False
    return port != 0


def _one_filter(v: str) -> bool:
    """One parenthesised filter: depth never below zero and back to zero only at the end."""
    depth = 0  # parentheses inside values are escaped as \28 and \29, so every one counts
    for i, c in enumerate(v):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0 or (depth == 0 and i != len(v) - 1):
                return False
    return v.startswith("(") and depth == 0


def _realm(v: str) -> str:
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9.-]*", v):
        raise ValueError(f"{v!r} must be an upper-case Kerberos realm, e.g. EXAMPLE.COM")
    return v


def _role_arn(v: str) -> str:
    # IAM: a path of /-separated ASCII parts, then a name of 1-64 of [A-Za-z0-9+=,.@_-].
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}", v, re.ASCII):
        raise ValueError(f"{v!r} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)")
    return v


Realm = Annotated[str, AfterValidator(_realm)]
RoleArn = Annotated[str, AfterValidator(_role_arn)]


class LdapConfig(_Model):
    urls: Annotated[list[str], Field(min_length=1)]
    start_tls: bool = False
    ca_file: FilePath | None = None
    verify_tls: bool = True
    bind: Literal["kerberos", "simple"] = "kerberos"
    principal: str | None = None
    keytab: FilePath | None = None
    bind_dn: str | None = None
    password: OptionalSecret = None
    page_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # 0: take what the server sends and follow `member;range=` when it truncates (AD: 1500).
    # N > 0: always ask for ranges of N values (tests use it; some servers need it).
    member_range_size: Annotated[int, Field(ge=0)] = 0
    # Users are read as this many uSNChanged ranges on parallel connections (+1 for groups).
    read_connections: Annotated[int, Field(ge=1, le=8)] = 2
    # Delta reads (directory/delta.py): read only what changed on the same DC since the last
    # applied run; a full read still happens at least this often, and whenever the watermark is
    # older than its maximum age (or its DC, database, scope or names policy changed).
    delta: bool = True
    full_read_every_hours: Annotated[float, Field(gt=0, le=24 * 365)] = 24.0
    watermark_max_age_hours: Annotated[float, Field(gt=0, le=24 * 365)] = 168.0

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for i, url in enumerate(v):
            if not re.fullmatch(r"ldaps?://[^/\s:]+(:\d{1,5})?/?", url) or not _port_ok(url):
                raise ValueError(f"[{i}] {url!r} is not ldap://host[:port] or ldaps://host[:port] (port 1-65535)")
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
    krb5_conf: FilePath | None = None


class DirectoryConfig(_Model):
    base_dn: str
    realm: Realm
    user_bases: list[str] = []
    group_bases: list[str] = []
    user_filter: str = "(&(objectCategory=person)(objectClass=user))"
    group_filter: str = "(objectClass=group)"
    # Accounts AD marks isCriticalSystemObject (Administrator, Guest, krbtgt) are left out of
    # every user output (no HDFS home, not in EMRFS checks) unless this is true.
    include_system_accounts: bool = False

    @field_validator("user_filter", "group_filter")
    @classmethod
    def _filter(cls, v: str) -> str:
        if not _one_filter(v):
            raise ValueError(f"{v!r} is not one LDAP filter (RFC 4515): unbalanced parentheses")
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
    # Names no AD user or group may take on the cluster, on top of EMR's service users, the
    # superuser groups and the nodes' accounts (dirkit/_reserved.py): these extend the set,
    # never replace it. superuser_groups: the site's dfs.permissions.superusergroup and other
    # groups whose members are cluster admins (reserved too; reported with their members).
    reserved: list[str] = []
    superuser_groups: list[str] = []

    @field_validator("reserved", "superuser_groups")
    @classmethod
    def _reserved(cls, v: list[str], info: Any) -> list[str]:
        return _reserved.validate(v, f"names.{info.field_name}")

    @field_validator("allowed_pattern")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except (re.error, OverflowError, RecursionError) as exc:  # huge repeat counts, deep nesting
                raise ValueError(f"not a usable regular expression: {type(exc).__name__}: {exc}") from None
        return v


class StateConfig(_Model):
    path: FilePath = Path("/var/lib/dirkit/state.sqlite")
    keep_snapshots: Annotated[int, Field(ge=1, le=10_000)] = 10
    # Past keep_snapshots, the last snapshot of each UTC day is kept this long (for
    # `dirkit report --at/--since` and `verify --revoked`); 0 keeps only keep_snapshots.
    history_days: Annotated[int, Field(ge=0, le=3660)] = 400


class RunConfig(_Model):
    # A run's overall deadline: socket timeouts bound each read, not a run (a server sending a
    # byte a second never trips them). Past it the run stops (exit 5), applies nothing more, and
    # releases the lock. Well above a 100k-user first run; keep a systemd TimeoutStartSec above it.
    deadline_seconds: Annotated[float, Field(gt=0, le=24 * 3600)] = 1800.0


class WatchConfig(_Model):
    # `dirkit watch`: how it hears that AD changed (README "Revocation in seconds").
    # AD's change notifications (LDAP_SERVER_NOTIFICATION_OID) on a connection of their own,
    # when the DC allows them; deletions are not notified, so the rootDSE's
    # highestCommittedUSN (every change moves it) is polled besides, on one kept-open connection.
    notifications: bool = True
    poll_seconds: Annotated[float, Field(ge=0.2, le=3600)] = 2.0
    # Changes that come in a burst make one run: a run starts once this long passed without a
    # notification (at most 10 times this after the first one).
    debounce_seconds: Annotated[float, Field(ge=0, le=60)] = 0.5
    # A run at least this often even when AD is quiet, as cron would: documents edited by hand
    # and HDFS drift are repaired, a due full read (ldap.full_read_every_hours) happens.
    run_every_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 5.0


class SafetyConfig(_Model):
    # Users removed or disabled + groups removed, against the named users and groups known.
    max_removals: Annotated[int, Field(ge=0)] = 500
    max_removal_percent: Annotated[float, Field(ge=0, le=100)] = 20.0
    # Memberships removed (a user leaving a group), against the memberships known: a read in
    # which group member lists came back empty removes no user but empties every group.
    max_membership_removals: Annotated[int, Field(ge=0)] = 5000
    max_membership_removal_percent: Annotated[float, Field(ge=0, le=100)] = 20.0


HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*(:\d{1,5})?")


class RoleMappingConfig(_Model):
    """One EMRFS role mapping. Exactly one of users / groups / prefixes (EMR allows one
    identifier type per mapping). Order in the file = evaluation order (first match wins)."""

    role: RoleArn
    users: list[str] | None = None
    groups: list[str] | None = None
    prefixes: list[str] | None = None

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, v: list[str] | None) -> list[str] | None:
        for i, p in enumerate(v or []):
            if not re.fullmatch(S3_URI, p):
                raise ValueError(f"[{i}] {p!r} is not an s3://bucket[/prefix] URI")
        return v

    @model_validator(mode="after")
    def _one_type(self) -> RoleMappingConfig:
        given = [k for k in ("users", "groups", "prefixes") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of users, groups or prefixes (EMR allows one identifier type "
                f"per mapping), got {', '.join(given) or 'none'}"
            )
        if not getattr(self, given[0]):
            raise ValueError(f"{given[0]} is empty")
        return self

    @property
    def identifier_type(self) -> str:
        return "User" if self.users is not None else "Group" if self.groups is not None else "Prefix"

    @property
    def identifiers(self) -> list[str]:
        return self.users or self.groups or self.prefixes or []


class KerberosAttributesConfig(_Model):
    """Inputs of `aws emr create-cluster --kerberos-attributes`; passwords are secret references."""

    kdc_admin_password: Secret
    cross_realm_trust_principal_password: OptionalSecret = None
    ad_domain_join_user: str | None = None
    ad_domain_join_password: OptionalSecret = None


class ImdsConfig(_Model):
    minimum_version: Literal[1, 2] = 2
    hop_limit: Annotated[int, Field(ge=1, le=64)] = 1


class EmrConfig(_Model):
    cluster_realm: Realm
    kdc: Literal["cluster-dedicated", "external"] = "cluster-dedicated"
    ticket_lifetime_hours: Annotated[int, Field(ge=1, le=8760)] = 24
    # The AD side of the trust; defaults: the AD realm lower-cased, and the first LDAP URL's host.
    ad_domain: str | None = None
    ad_admin_server: str | None = None
    ad_kdc_server: str | None = None
    # kdc = "external": the cluster KDC on another cluster (host:749 / host:88).
    external_admin_server: str | None = None
    external_kdc_server: str | None = None
    ec2_role_arn: RoleArn
    role_mappings: list[RoleMappingConfig] = []
    buckets: list[str] = []  # for the S3 policy skeletons of `dirkit emr iam`
    imds: ImdsConfig | None = None
    # Passed through as the EncryptionConfiguration block (top-level keys checked).
    encryption: dict[str, Any] | None = None
    kerberos_attributes: KerberosAttributesConfig | None = None

    @field_validator("ad_domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        if v is not None and (v != v.lower() or not HOST_RE.fullmatch(v)):
            raise ValueError(f"{v!r} must be the AD DNS domain in lower case, e.g. ad.example.com")
        return v

    @field_validator("buckets")
    @classmethod
    def _buckets(cls, v: list[str]) -> list[str]:
        for i, b in enumerate(v):
            if not re.fullmatch(S3_BUCKET, b):
                raise ValueError(f"[{i}] {b!r} is not an S3 bucket name")
        return v

    @field_validator("encryption")
    @classmethod
    def _encryption(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        known = {
            "EnableInTransitEncryption",
            "EnableAtRestEncryption",
            "InTransitEncryptionConfiguration",
            "AtRestEncryptionConfiguration",
        }
        for k in v or {}:
            if k not in known:
                raise ValueError(f"unknown EncryptionConfiguration key {k!r} (known: {', '.join(sorted(known))})")
        return v

    @model_validator(mode="after")
    def _attributes(self) -> EmrConfig:
        # AWS's KerberosAttributes: CrossRealmTrustPrincipalPassword is required when a cross-realm
        # trust is set up, ADDomainJoinUser/Password when it is with an AD domain. The
        # cluster-dedicated form dirkit renders always sets one up with AD.
        ka = self.kerberos_attributes
        if ka is not None and self.kdc == "cluster-dedicated":
            missing = [
                k
                for k in ("cross_realm_trust_principal_password", "ad_domain_join_user", "ad_domain_join_password")
                if getattr(ka, k) is None
            ]
            if missing:
                raise ValueError(
                    f"kerberos_attributes needs {', '.join(missing)}: the security configuration sets up a "
                    "cross-realm trust with AD, and EMR requires them for it"
                )
        return self

    @model_validator(mode="after")
    def _role_names(self) -> EmrConfig:
        # IAM role names are unique in an account whatever their path and case: two ARNs that
        # differ only there cannot both exist, so a template or `emr apply` would fail half-way.
        seen: dict[str, str] = {}
        for i, m in enumerate(self.role_mappings):
            name = m.role.rsplit("/", 1)[1].lower()
            if seen.setdefault(name, m.role) != m.role:
                raise ValueError(
                    f"role_mappings[{i}].role {m.role!r} and {seen[name]!r} name the same IAM role (role names "
                    "are unique per account, whatever the path or case): use one ARN for both"
                )
        return self

    @model_validator(mode="after")
    def _external(self) -> EmrConfig:
        if self.kdc == "external":
            for key, port in (("external_admin_server", 749), ("external_kdc_server", 88)):
                value = getattr(self, key)
                if not value or not re.fullmatch(rf"[A-Za-z0-9][A-Za-z0-9.-]*:{port}", value):
                    raise ValueError(f"kdc = 'external' needs emr.{key} as host:{port}")
        return self


class HueConfig(_Model):
    server_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] = "ad"
    # Where Hue finds the CA file on the Hue host, and the script that prints the bind password.
    ldap_cert: str | None = None
    bind_dn: str  # Hue searches AD with a simple bind (search bind)
    bind_password_script: str  # Hue must not hold the bind password in hue.ini
    create_users_on_login: bool = True
    sync_groups_on_login: bool = True
    login_groups: list[str] = []


class HadoopConfig(_Model):
    # LdapGroupsMapping (core-site) on the cluster.
    bind_user: str  # a DN or user@domain
    bind_password_file: str  # path ON THE CLUSTER nodes; never the password itself
    # hadoop.security.auth_to_local.mechanism: "hadoop" (a result must be a simple name; no rule
    # matching is an error) or "mit" (an unmatched principal is kept whole, '@' and '/' allowed).
    auth_to_local_mechanism: Literal["hadoop", "mit"] = "hadoop"
    # How LdapGroupsMapping finds groups: "nested" (2 searches per lookup: the user, then every
    # group through nesting with AD's in-chain rule; names = sAMAccountName) or "memberof" (1
    # search: the user's memberOf; direct groups only, named by CN; dirkit reports who loses what).
    group_lookup: Literal["nested", "memberof"] = "nested"
    truststore: str | None = None
    truststore_password_file: str | None = None
    # auth_to_local maps AD principals with one component (user@AD). Two (user/host@AD) only
    # when this is true: `nn/anyhost@AD` would otherwise be `nn`, whoever made that principal.
    map_host_principals: bool = False
    # The user search skips accounts AD has disabled (userAccountControl's ACCOUNTDISABLE bit):
    # a disabled user has no groups on the cluster once its groups cache is refreshed
    # ([revocation] refresh_commands, else hadoop.security.groups.cache.secs later).
    hide_disabled_users: bool = True

    @field_validator("auth_to_local_mechanism", mode="before")
    @classmethod
    def _mechanism(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v  # Hadoop accepts any case (equalsIgnoreCase)


class QuotaRule(_Model):
    """Quotas for the homes of a group's members (first matching rule wins)."""

    group: str
    namespace: Annotated[int, Field(ge=1)] | None = None  # max files + directories
    space_bytes: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _some(self) -> QuotaRule:
        if self.namespace is None and self.space_bytes is None:
            raise ValueError("give namespace and/or space_bytes")
        return self


class HdfsConfig(_Model):
    # WebHDFS base URL of the NameNode (SPNEGO), and the HDFS superuser's principal + keytab.
    url: Annotated[str, Field(pattern=r"^https?://[^/\s]+/webhdfs/v1/?$")]
    principal: str
    keytab: FilePath
    prefix: str = "/user"
    # Group of each home: "user" (a same-named group: private, the safe default with 0750),
    # "primary" (the user's AD primary group, usually Domain Users), or "fixed" (group_name).
    group: Literal["user", "primary", "fixed"] = "user"
    group_name: str | None = None
    mode: Annotated[str, Field(pattern=r"^0?[0-7]{3}$")] = "0750"
    concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    quotas: list[QuotaRule] = []
    # https:// is expected: over http:// the cookie the NameNode issues after SPNEGO (the HDFS
    # superuser's identity) travels in clear on every request. Opt in; every run then warns.
    allow_insecure_http: bool = False
    ca_file: FilePath | None = None  # CA bundle for https:// (default: the system store)
    # Directories under the prefix dirkit never creates, renames, hands over or locks, whoever
    # owns them: these extend the reserved names (names.reserved), which are protected already.
    lock_exclude: list[str] = []
    # A departed user's home is kept and reported (with the date dirkit first saw them gone)
    # for this long before `--lock-departed` may lock it; 0 = at once.
    departed_grace_days: Annotated[float, Field(ge=0, le=3650)] = 30.0
    # Revocation: every run (sync, watch) locks the home of a user it finds disabled in AD at
    # once (mode 0; dirkit's homes only, never a protected name, within the removal limits), and
    # gives it its mode back when AD enables the user again. Off: homes are kept until
    # `--lock-departed` after the grace period.
    lock_on_disable: bool = False
    # After a delta, `sync` plans only the homes of the users it changed while the prefix's
    # listing has not moved; every home is planned again (drift reported) at least this often.
    # 0 = every run plans every home.
    full_check_hours: Annotated[float, Field(ge=0, le=8760)] = 24.0

    @field_validator("lock_exclude")
    @classmethod
    def _protected(cls, v: list[str]) -> list[str]:
        return _reserved.validate(v, "hdfs.lock_exclude")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not _port_ok(v):
            raise ValueError(f"{v!r} is not a valid URL (host, port 1-65535)")
        return v

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if hdfs_path_problem(v):
            raise ValueError(f"{v!r} must be a clean absolute HDFS path such as /user")
        return v.rstrip("/") or "/"

    @model_validator(mode="after")
    def _group(self) -> HdfsConfig:
        if self.group == "fixed" and not self.group_name:
            raise ValueError("group = 'fixed' needs hdfs.group_name")
        if self.url.startswith("http://") and not self.allow_insecure_http:
            raise ValueError(
                f"{self.url} is plain http: the NameNode's auth cookie (the HDFS superuser's identity) would "
                "travel in clear. Use https:// (hdfs.ca_file for a private CA), or set "
                "hdfs.allow_insecure_http = true to accept that"
            )
        return self

    @property
    def insecure(self) -> bool:
        return self.url.startswith("http://")

    @property
    def superuser(self) -> str:
        """The HDFS user dirkit acts as (the principal's first component): a home it made but
        did not hand over yet is owned by this user."""
        return self.principal.split("@", 1)[0].split("/", 1)[0]


class VerifyUser(_Model):
    """A test identity for `dirkit verify`: its AD name and a keytab or a password reference."""

    name: str
    keytab: FilePath | None = None
    password: OptionalSecret = None

    @model_validator(mode="after")
    def _one(self) -> VerifyUser:
        if (self.keytab is None) == (self.password is None):
            raise ValueError(f"verify user {self.name!r}: give exactly one of keytab or password")
        return self


class HiveCheckConfig(_Model):
    host: str  # a host name, not an IP: the service principal is hive/<host>
    port: Annotated[int, Field(ge=1, le=65535)] = 10000
    service_name: str = "hive"
    probe: str | None = None  # an optional statement run after SELECT current_user()


class VerifyConfig(_Model):
    # A cluster-realm service to obtain a ticket for through the trust (step 1).
    service_principal: str
    # The cluster realm, for auth_to_local's DEFAULT rule (default: emr.cluster_realm).
    cluster_realm: Realm | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 20.0
    s3_paths: list[str] = []
    hive: HiveCheckConfig | None = None
    users: list[VerifyUser] = []
    # How to run `id USER` on a cluster node (an argv prefix, e.g. ["ssh", "hadoop@node1"]);
    # unset: `id` here when this is a node (SSSD answers), else the check is skipped.
    node_command: list[str] | None = None


class OutputConfig(_Model):
    # `dirkit sync` renders the configured documents here as part of the same run.
    directory: FilePath | None = None


class MetricsConfig(_Model):
    # After every sync, a Prometheus text-format file written atomically (node_exporter's
    # textfile collector: --collector.textfile.directory, a name ending in .prom). Off when unset.
    textfile: FilePath | None = None


class NotifyConfig(_Model):
    # A program (argv list, no shell) that gets the run's JSON record on stdin when a run ends
    # in one of `on`. Its failure or timeout is logged and never fails the run.
    command: Annotated[list[str], Field(min_length=1)]
    on: list[Literal["threshold", "partial", "failed", "interrupted", "applied"]] = [
        "threshold",
        "partial",
        "failed",
        "interrupted",
    ]
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    # The notifier's environment is an allow-list (PATH, HOME, LANG, TZ, KRB5_CONFIG...), never
    # dirkit's own, which may hold secrets: name here any other variable it needs.
    pass_env: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = []


class RevocationConfig(_Model):
    # After a run that disabled or removed users, or took users out of groups (sync or watch):
    # what makes the cluster forget its cached answers at once, instead of within its cache
    # times. Each command is bounded by timeout_seconds and recorded in the run's record; a
    # failure is reported, never fails the run. Argv lists, no shell.
    # Hadoop's group caches (hadoop.security.groups.cache.secs, 300 s by default), as a Hadoop
    # admin, e.g. ["hdfs", "dfsadmin", "-refreshUserToGroupsMappings"] and the `yarn rmadmin` one.
    refresh_commands: list[Annotated[list[str], Field(min_length=1)]] = []
    # The Kerberos identity they run as: a ticket from this keytab, in a private credential
    # cache (KRB5CCNAME) removed afterwards. Unset: the commands get no ticket from dirkit.
    principal: str | None = None
    keytab: FilePath | None = None
    # Each cluster node's SSSD cache, as an argv prefix per node (e.g. ["ssh", "hadoop@node1",
    # "sudo"]): `sss_cache -u USER` / `-g GROUP` runs through it for what the run revoked (past
    # MAX_INVALIDATIONS names, `sss_cache -U -G`: every user and group).
    node_commands: list[Annotated[list[str], Field(min_length=1)]] = []
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    pass_env: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = []
    # What the cluster is set to, for the revocation budget (`dirkit report`, `verify
    # --revoked`): how long each layer may keep a revoked user's old answer. The defaults are
    # the services' own: hadoop.security.groups.cache.secs, AD's maximum user ticket lifetime,
    # dfs.namenode.delegation.token.max-lifetime, Hue's [desktop] [[session]] ttl.
    groups_cache_seconds: Annotated[int, Field(ge=0)] = 300
    ticket_lifetime_hours: Annotated[float, Field(gt=0)] = 10.0
    delegation_token_days: Annotated[float, Field(gt=0)] = 7.0
    hue_session_days: Annotated[float, Field(gt=0)] = 14.0

    @model_validator(mode="after")
    def _both(self) -> RevocationConfig:
        if (self.principal is None) != (self.keytab is None):
            raise ValueError("revocation.principal and revocation.keytab: give both, or neither")
        return self


class SssdConfig(_Model):
    """What the cluster nodes' SSSD is set to (EMR joins every node to AD and runs SSSD's AD
    provider with ID mapping): dirkit predicts what the nodes will see from it. The defaults
    are SSSD's own, except the two the EMR reference scripts set (case-insensitive, short names)."""

    domain: str | None = None  # the [domain/...] name; default: directory.realm in lower case
    # sssd-ldap(5): groups with a member SSSD cannot read (a contact, a foreign security
    # principal) fail to resolve unless this is true.
    ignore_unreadable_references: bool = False
    case_sensitive: bool = False
    use_fully_qualified_names: bool = False
    # sssd-ad(5) ID mapping: a slice of ``idmap_range_size`` ids per domain in [min, max).
    idmap_range_min: Annotated[int, Field(ge=1)] = 200000
    idmap_range_max: Annotated[int, Field(ge=2)] = 2000200000
    idmap_range_size: Annotated[int, Field(ge=1)] = 200000
    # sssd.conf(5) filter_users / filter_groups as the nodes have them (SSSD's default: root).
    # The rendered block adds every reserved name (names.reserved), so that no AD account is
    # `hdfs` or `supergroup` on a node; these are what the prediction assumes without it.
    filter_users: list[str] = ["root"]
    filter_groups: list[str] = ["root"]
    # Whether the nodes' user search skips accounts AD has disabled (a filter on
    # ldap_user_search_base; SSSD resolves them by default: its access control is separate).
    # The rendered block sets it, so that a disabled user has no groups on a node.
    hide_disabled_users: bool = False
    # sssd.conf(5): how long a node answers from its cache (the revocation budget's SSSD layer).
    entry_cache_timeout: Annotated[int, Field(ge=0)] = 5400
    memcache_timeout: Annotated[int, Field(ge=0)] = 300

    @model_validator(mode="after")
    def _range(self) -> SssdConfig:
        span = self.idmap_range_max - self.idmap_range_min
        if span < self.idmap_range_size or span % self.idmap_range_size:
            raise ValueError(
                "idmap_range_max - idmap_range_min must be a positive multiple of idmap_range_size "
                "(SSSD refuses the domain otherwise)"
            )
        return self


# A CapacityScheduler queue by its full path (queue names: no dots, no spaces, no commas).
QUEUE_PATH = r"root(\.[A-Za-z0-9_-]+)+"
QueuePath = Annotated[str, Field(pattern=f"^{QUEUE_PATH}$")]


def _rule_name(v: str) -> str:
    # A name inside a legacy queue-mappings rule (`u:NAME:QUEUE`, comma-separated): Hadoop
    # splits on ',' and ':', trims each part and reads a leading '%' as a variable.
    if not v or v != v.strip() or any(c in v for c in ",:") or v.startswith("%"):
        raise ValueError(
            f"{v!r} cannot be written in yarn.scheduler.capacity.queue-mappings (no ',' or ':', no leading "
            "'%' or surrounding spaces)"
        )
    return v


RuleName = Annotated[str, AfterValidator(_rule_name)]


class QueueMappingConfig(_Model):
    """One YARN placement rule: users or groups (normalised names, as the ResourceManager's
    group mapping gives them) to a leaf queue. Order in the file = evaluation order (first
    match wins), as CapacityScheduler's queue-mappings."""

    queue: QueuePath
    users: list[RuleName] | None = None
    groups: list[RuleName] | None = None

    @model_validator(mode="after")
    def _one_type(self) -> QueueMappingConfig:
        given = [k for k in ("users", "groups") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of users or groups, got {', '.join(given) or 'none'}")
        if not getattr(self, given[0]):
            raise ValueError(f"{given[0]} is empty")
        return self

    @property
    def kind(self) -> Literal["user", "group"]:
        return "user" if self.users is not None else "group"

    @property
    def names(self) -> list[str]:
        return self.users or self.groups or []


class YarnConfig(_Model):
    """YARN queue placement (CapacityScheduler) from AD groups and users: `dirkit yarn config`.
    The hierarchy and its capacities are the admin's; dirkit checks them as CapacityScheduler
    does (each parent's children sum to 100) and that every mapped queue is a leaf."""

    # Every queue below root by its full path -> its capacity, in percent of its parent.
    queues: dict[QueuePath, Annotated[float, Field(gt=0, le=100)]]
    mappings: list[QueueMappingConfig] = []
    # Where an application goes when no mapping matches (the last rule, for every user).
    default_queue: QueuePath = "root.default"
    # queue-mappings-override.enable: a mapping decides even when the application names a queue
    # (false: a user can pick any queue they may submit to). The tenant boundary needs true.
    override: bool = True

    @model_validator(mode="after")
    def _hierarchy(self) -> YarnConfig:
        paths = set(self.queues)
        for q in self.queues:
            parent = q.rsplit(".", 1)[0]
            if parent != "root" and parent not in paths:
                raise ValueError(f"queues: {q!r} has no parent queue {parent!r}: add it with its capacity")
        for parent in {"root", *paths}:
            children = [q for q in self.queues if q.rsplit(".", 1)[0] == parent]
            total = sum(self.queues[q] for q in children)
            if children and abs(total - 100) > 0.0005:  # CapacityScheduler's own precision
                raise ValueError(
                    f"queues: the children of {parent} ({', '.join(children)}) have capacities summing to "
                    f"{total:g}, not 100 (CapacityScheduler refuses that hierarchy)"
                )
        leaves = {q for q in paths if not any(o.startswith(q + ".") for o in paths)}
        for where, q in [("default_queue", self.default_queue)] + [
            (f"mappings[{i}].queue", m.queue) for i, m in enumerate(self.mappings)
        ]:
            if q not in leaves:
                why = "is not in yarn.queues" if q not in paths else "has child queues (applications go to leaves)"
                raise ValueError(f"{where}: {q!r} {why}")
        return self


class ReportConfig(_Model):
    """`dirkit report`: the S3 prefixes to report each user's role on (default: every prefix a
    role mapping names, and each configured bucket's root)."""

    s3_paths: list[str] = []

    @field_validator("s3_paths")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        for i, p in enumerate(v):
            if not re.fullmatch(S3_URI, p):
                raise ValueError(f"[{i}] {p!r} is not an s3://bucket[/prefix] URI")
        return v


class Config(_Model):
    """The whole validated config file: one typed section per table (see config/dirkit.example.toml)."""

    ldap: LdapConfig
    directory: DirectoryConfig
    kerberos: KerberosConfig = KerberosConfig()
    names: NamesConfig = NamesConfig()
    state: StateConfig = StateConfig()
    run: RunConfig = RunConfig()
    watch: WatchConfig = WatchConfig()
    safety: SafetyConfig = SafetyConfig()
    emr: EmrConfig | None = None
    hue: HueConfig | None = None
    hadoop: HadoopConfig | None = None
    hdfs: HdfsConfig | None = None
    verify: VerifyConfig | None = None
    output: OutputConfig = OutputConfig()
    metrics: MetricsConfig = MetricsConfig()
    notify: NotifyConfig | None = None
    revocation: RevocationConfig = RevocationConfig()
    report: ReportConfig | None = None
    sssd: SssdConfig | None = None  # absent: SSSD as EMR leaves it (SssdConfig()), and no sssd document
    yarn: YarnConfig | None = None
    source: FilePath | None = None  # where it was loaded from (set by load())

    @model_validator(mode="after")
    def _across_sections(self) -> Config:
        # Checks that need two sections; each message names the key to change.
        if self.emr is not None and self.emr.cluster_realm == self.directory.realm:
            raise ValueError(
                "emr.cluster_realm: must differ from directory.realm: a cross-realm trust needs two "
                f"realm names (both are {self.directory.realm})"
            )
        if self.hue is not None:  # every string that lands in hue.ini
            h, d = self.hue, self.directory
            for key, value in (
                ("hue.bind_dn", h.bind_dn),
                ("hue.bind_password_script", h.bind_password_script),
                ("hue.ldap_cert", h.ldap_cert or ""),
                ("hue.login_groups", ",".join(h.login_groups)),
                ("directory.base_dn", d.base_dn),
                ("directory.user_filter", d.user_filter),
                ("directory.group_filter", d.group_filter),
            ):
                _ini_safe(key, value)
        if self.hadoop is not None and any(not u.startswith("ldaps://") for u in self.ldap.urls):
            raise ValueError(
                "ldap.urls: Hadoop's LdapGroupsMapping ([hadoop]) cannot use StartTLS; list ldaps:// "
                "URLs so the bind password never crosses the network in clear"
            )
        return self


@dataclass(frozen=True)
class AdSite:
    """What every generated document needs to know about AD: where it is, what is in scope,
    and how names look. Small on purpose: a renderer gets its own section plus this."""

    urls: tuple[str, ...]
    directory: DirectoryConfig
    lower_case: bool
    reserved: _reserved.Reserved = _reserved.Reserved()
    map_host_principals: bool = False  # hadoop.map_host_principals

    @property
    def realm(self) -> str:
        return self.directory.realm


@dataclass(frozen=True)
class Timeouts:
    """Every timeout dirkit applies, in seconds, in one value object (httpx's Timeout, for dirkit):
    the configured ones from their sections, the fixed ones named here instead of as bare numbers."""

    ldap: float  # connect, and each LDAP answer (ldap.timeout_seconds)
    webhdfs: float  # each WebHDFS request (hdfs.timeout_seconds)
    verify_check: float  # each `dirkit verify` check (verify.timeout_seconds)
    hive_process_start: float = 5.0  # added for the Hive check: it starts its own Python process
    klist: float = 10.0  # listing a verify user's tickets
    secret_command: float = SECRET_COMMAND_TIMEOUT  # a command: secret reference

    @property
    def hive_check(self) -> float:
        return self.verify_check + self.hive_process_start


def timeouts(cfg: Config) -> Timeouts:
    return Timeouts(
        ldap=cfg.ldap.timeout_seconds,
        webhdfs=cfg.hdfs.timeout_seconds if cfg.hdfs else HdfsConfig.model_fields["timeout_seconds"].default,
        verify_check=cfg.verify.timeout_seconds if cfg.verify else VerifyConfig.model_fields["timeout_seconds"].default,
    )


def ad_site(cfg: Config) -> AdSite:
    h = cfg.hadoop
    return AdSite(
        tuple(cfg.ldap.urls),
        cfg.directory,
        cfg.names.case == "lower",
        reserved_names(cfg),
        h.map_host_principals if h else False,
    )


def reserved_names(cfg: Config) -> _reserved.Reserved:
    """EMR's reserved names, ``names.reserved``, and what this config implies: the HDFS
    superuser dirkit acts as, ``hdfs.lock_exclude``, the services ``dirkit verify`` checks."""
    n = cfg.names
    sources: list[tuple[list[str], str]] = []
    if cfg.hdfs is not None:
        sources += [([cfg.hdfs.superuser], "the HDFS superuser (hdfs.principal)")]
        sources += [(cfg.hdfs.lock_exclude, "protected by hdfs.lock_exclude")]
    if cfg.verify is not None:
        service = cfg.verify.service_principal.split("@", 1)[0].split("/", 1)[0]
        sources += [([service], "a cluster service principal (verify.service_principal)")]
        if cfg.verify.hive is not None:
            sources += [([cfg.verify.hive.service_name], "HiveServer2's service principal (verify.hive)")]
    return _reserved.defaults(n.reserved, n.superuser_groups).extended(*sources)


_Section = TypeVar("_Section")


def required(cfg: Config, name: str, section: _Section | None) -> _Section:
    """``section`` (``cfg.<name>``) for a command that needs it; ConfigError when the file has none."""
    if section is None:
        raise ConfigError(f"{cfg.source or 'config'}: [{name}] section is missing (see config/dirkit.example.toml)")
    return section


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
        # Not chained: pydantic's error repeats the input, which may be a pasted password.
        raise ConfigError(f"{where}{key + ': ' if key else ''}{msg}{more}") from None


def load(path: Path | str | None = None) -> Config:
    """Load and validate the config: ``path``, else $DIRKIT_CONFIG, else /etc/dirkit/dirkit.toml."""
    p = Path(path or os.environ.get("DIRKIT_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config ({exc.strerror}); pass --config FILE or set DIRKIT_CONFIG") from exc
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    except RecursionError:  # tomllib recurses per nesting level
        raise ConfigError(f"{p}: not a usable config: tables or arrays nested too deeply") from None
    return from_dict(data, source=p)
