"""The SSSD domain block for the cluster nodes: the settings under which a node sees what
dirkit predicts (`dirkit snapshot`'s cluster view with no difference from AD's).

EMR writes /etc/sssd/sssd.conf itself when it joins a node to AD, and does not publish it
(emr-hue-hadoop-facts.md); these keys are meant to be merged into that file's
``[domain/...]`` section (then ``systemctl restart sssd``), by a step on running nodes or a
bootstrap action that waits for EMR's file.
"""

from __future__ import annotations

from .._config import SssdConfig
from .._directory.model import NOT_DISABLED
from .._reserved import Reserved


def domain_name(cfg: SssdConfig | None, realm: str) -> str:
    """The SSSD domain's name: ``[sssd] domain``, else the AD realm in lower case."""
    return (cfg.domain if cfg and cfg.domain else None) or realm.lower()


def fixed(cfg: SssdConfig | None, reserved: Reserved) -> SssdConfig:
    """The settings the rendered block gives the nodes: the configured ones (or SSSD's as EMR
    leaves them), with unreadable references ignored, so that every group resolves, and every
    reserved name filtered (SSSD's own mechanism), so that no AD account is a service there,
    and disabled accounts not fetched, so that a disabled user has no groups on a node."""
    s = cfg or SssdConfig()
    return s.model_copy(
        update={
            "ignore_unreadable_references": True,
            "hide_disabled_users": True,
            "filter_users": sorted({*s.filter_users, *reserved.names()}),
            "filter_groups": sorted({*s.filter_groups, *reserved.names()}),
        }
    )


def render(cfg: SssdConfig | None, realm: str, reserved: Reserved) -> str:
    """The ``[domain/...]`` block, in sssd.conf(5) syntax."""
    s = fixed(cfg, reserved)
    flag = {True: "true", False: "false"}
    return (
        "# SSSD settings for the cluster nodes, from dirkit (`dirkit sssd config`). Merge them into the\n"
        "# [domain/...] section EMR writes in /etc/sssd/sssd.conf, then `systemctl restart sssd`:\n"
        "# the nodes then see every user's groups as `dirkit snapshot --user NAME` shows them.\n"
        f"[domain/{domain_name(cfg, realm)}]\n"
        "ldap_id_mapping = true\n"
        "# A group with a contact or a foreign security principal among its members resolves too\n"
        "# (without this, its members get it under its SID and nothing that names it matches).\n"
        f"ldap_ignore_unreadable_references = {flag[s.ignore_unreadable_references]}\n"
        f"case_sensitive = {flag[s.case_sensitive]}\n"
        f"use_fully_qualified_names = {flag[s.use_fully_qualified_names]}\n"
        f"ldap_idmap_range_min = {s.idmap_range_min}\n"
        f"ldap_idmap_range_max = {s.idmap_range_max}\n"
        f"ldap_idmap_range_size = {s.idmap_range_size}\n"
        "# Names reserved for the cluster (EMR's service users, superuser and admin groups, dirkit's\n"
        "# names.reserved): an AD user or group of that name is not fetched, so `id hdfs` is never AD's.\n"
        f"filter_users = {', '.join(s.filter_users)}\n"
        f"filter_groups = {', '.join(s.filter_groups)}\n"
        "# Accounts AD has disabled are not fetched (SSSD resolves them otherwise: its access control\n"
        "# is separate, SSSD/sssd#5582): once a node's cache is invalidated (`sss_cache -u USER`, what\n"
        "# [revocation] node_commands run) or expires, a disabled user is unknown there, without groups.\n"
        f"ldap_user_search_base = {domain_dn(realm)}?subtree?{NOT_DISABLED}\n"
    )


def domain_dn(realm: str) -> str:
    """The AD domain's naming context (SSSD's default search base for the AD provider), from its
    DNS name: AD.EXAMPLE.COM -> DC=ad,DC=example,DC=com."""
    return ",".join(f"DC={label}" for label in realm.lower().split("."))
