"""Every generated document, defined once: its name, format, file name, the config section it
is made from, and one render returning the text with the warnings found checking it against the
AD snapshot. `dirkit sync` (the output directory), the ``Dirkit`` methods and so the CLI all loop
over ``DOCUMENTS``, so a document gets the same checks and warnings wherever it is made; adding
one is one render function and one line in ``DOCUMENTS``.

The EMR security configuration's content is ``emr.security_configuration``, which `emr apply`
and the CloudFormation template embed as it is; the checks against AD (AWS Managed AD refused,
role-mapping and cluster-view warnings, superuser groups) are made here, where a snapshot is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._config import Config, ad_site, required, reserved_names
from .._directory.model import Directory
from .._directory.names import NamePolicy
from .._sssd import view as sssd_view
from ..errors import UsageError
from . import emr, hadoop, hue, role_mappings, sssd, yarn


@dataclass(frozen=True)
class Document:
    """A generated document and the warnings found while checking it against AD."""

    text: str
    warnings: tuple[str, ...] = ()
    secret: bool = False  # holds resolved secrets: written 0600 whatever the umask


Render = Callable[[Config, Directory | None], Document]


@dataclass(frozen=True)
class DocumentDef:
    """One document: what the CLI calls it (``name``, ``fmt``), its file in output.directory,
    the config section it needs, and its render (``directory`` None: no AD checks)."""

    name: str
    fmt: str
    file: str
    section: str
    render: Render
    applies: Callable[[Config], bool] = lambda cfg: True  # e.g. emr-iam: only with role mappings


def security_configuration(cfg: Config, d: Directory | None) -> Document:
    """The EMR security configuration; with a snapshot, AWS Managed AD is refused and the role
    mappings, the nodes' view and superuser groups are checked."""
    e, site = required(cfg, "emr", cfg.emr), ad_site(cfg)
    text = emr.dumps(emr.security_configuration(e, site))
    if d is None:
        return Document(text)
    emr.refuse_aws_managed_ad(d)
    view = sssd_view.predict(d, cfg.sssd, cfg.directory.realm, reserved=site.reserved)
    policy = NamePolicy(cfg.names, cfg.directory.realm, site.reserved)
    warnings = role_mappings.warnings(e, d, policy, view) if e.role_mappings else []
    return Document(text, (*warnings, *view.warnings(d), *d.superuser_warnings()))


def iam(cfg: Config, d: Directory | None) -> Document:
    return Document(emr.dumps(emr.iam_documents(required(cfg, "emr", cfg.emr))))


def hue_ini(cfg: Config, d: Directory | None) -> Document:
    h = required(cfg, "hue", cfg.hue)
    return Document(hue.render_ini(h, ad_site(cfg), d), tuple(hue.warnings(h)))


def hue_classification(cfg: Config, d: Directory | None) -> Document:
    h = required(cfg, "hue", cfg.hue)
    return Document(emr.dumps(hue.render_classification(h, ad_site(cfg), d)), tuple(hue.warnings(h)))


def core_site_xml(cfg: Config, d: Directory | None) -> Document:
    h = required(cfg, "hadoop", cfg.hadoop)
    return Document(hadoop.render_xml(h, ad_site(cfg), d), _core_site_warnings(cfg, d))


def core_site_classification(cfg: Config, d: Directory | None) -> Document:
    h = required(cfg, "hadoop", cfg.hadoop)
    return Document(emr.dumps(hadoop.render_classification(h, ad_site(cfg), d)), _core_site_warnings(cfg, d))


def _core_site_warnings(cfg: Config, d: Directory | None) -> tuple[str, ...]:
    """Reserved CNs a memberOf lookup lets in; users whose groups LdapGroupsMapping cannot see."""
    h = required(cfg, "hadoop", cfg.hadoop)
    if d is None:
        return ()
    warnings = []
    if h.group_lookup == "memberof":
        for dn in hadoop.reserved_cn_groups(d, reserved_names(cfg)):
            warnings.append(
                f"{dn}: its CN is a reserved name, and with hadoop.group_lookup = memberof Hadoop names groups "
                "by CN and filters none: its members get that group on the cluster. Rename it in AD, or use "
                "group_lookup = nested (its group filter leaves reserved names out)"
            )
    gaps = hadoop.mapping_gaps(d, h.group_lookup)
    if gaps:
        user, groups = next(iter(gaps.items()))
        why = "a primary group is never in member/memberOf"
        if h.group_lookup == "memberof":
            why += "; memberOf lists direct groups only, and names them by CN"
        warnings.append(
            f"{len(gaps)} user(s) have groups Hadoop's LdapGroupsMapping (hadoop.group_lookup = "
            f"{h.group_lookup}) will not return ({why}), e.g. {user}: {', '.join(groups)}. "
            "SSSD (EMR's default group mapping) does return them."
        )
    return tuple(warnings)


def sssd_conf(cfg: Config, d: Directory | None) -> Document:
    return Document(sssd.render(cfg.sssd, cfg.directory.realm, reserved_names(cfg)))


def capacity_scheduler_xml(cfg: Config, d: Directory | None) -> Document:
    y = required(cfg, "yarn", cfg.yarn)
    return Document(yarn.render_xml(y), _yarn_warnings(cfg, d))


def capacity_scheduler_classification(cfg: Config, d: Directory | None) -> Document:
    y = required(cfg, "yarn", cfg.yarn)
    return Document(emr.dumps(yarn.render_classification(y)), _yarn_warnings(cfg, d))


def _yarn_warnings(cfg: Config, d: Directory | None) -> tuple[str, ...]:
    """Queue mappings that never match, match fewer users on the cluster than in AD, or never decide."""
    y = required(cfg, "yarn", cfg.yarn)
    if d is None:
        return ()
    reserved = reserved_names(cfg)
    mapped = {n for m in y.mappings if m.kind == "group" for n in m.names}
    sees, source = yarn.resourcemanager_members(cfg, d, mapped)
    return tuple(yarn.warnings(y, d, NamePolicy(cfg.names, cfg.directory.realm, reserved), reserved, sees, source))


DOCUMENTS: tuple[DocumentDef, ...] = (
    DocumentDef("emr-security-configuration", "json", "emr-security-configuration.json", "emr", security_configuration),
    DocumentDef("emr-iam", "json", "emr-iam.json", "emr", iam, lambda cfg: bool(cfg.emr and cfg.emr.role_mappings)),
    DocumentDef("hue", "ini", "hue.ini", "hue", hue_ini),
    DocumentDef("hue", "classification", "hue-ini-classification.json", "hue", hue_classification),
    DocumentDef("core-site", "xml", "core-site.xml", "hadoop", core_site_xml),
    DocumentDef("core-site", "classification", "core-site-classification.json", "hadoop", core_site_classification),
    DocumentDef("sssd", "conf", "sssd-domain.conf", "sssd", sssd_conf),
    DocumentDef("capacity-scheduler", "xml", "capacity-scheduler.xml", "yarn", capacity_scheduler_xml),
    DocumentDef(
        "capacity-scheduler",
        "classification",
        "capacity-scheduler-classification.json",
        "yarn",
        capacity_scheduler_classification,
    ),
)


def configured(cfg: Config) -> list[DocumentDef]:
    """The documents this config has a section for (what `dirkit sync` writes)."""
    return [doc for doc in DOCUMENTS if getattr(cfg, doc.section) is not None and doc.applies(cfg)]


def find(name: str, fmt: str) -> DocumentDef:
    """The document ``name`` in format ``fmt``; UsageError naming the formats it has."""
    formats = [doc.fmt for doc in DOCUMENTS if doc.name == name]
    for doc in DOCUMENTS:
        if (doc.name, doc.fmt) == (name, fmt):
            return doc
    raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(formats)}")
