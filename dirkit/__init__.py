"""dirkit: Active Directory + Kerberos for multi-tenant Hadoop/EMR clusters.

The public API is everything in ``__all__`` and nothing else: ``Dirkit`` (one object per
config; every CLI command is one call on it), the config loader, every type its methods take
or return, and the exception tree of ``dirkit.errors``. Modules whose names start with ``_``
are internal and may change.
"""

__version__ = "0.1.0"

import typing as _typing  # not `from typing import ...`: the module's names are its API

if _typing.TYPE_CHECKING:
    from . import errors
    from ._api import CoreSiteFormat, Dirkit, HueFormat, Progress, SnapshotView
    from ._budget import Budget, Layer
    from ._config import Config
    from ._config import load as load_config
    from ._deploy import AwsChange, DeployPlan
    from ._directory.model import Directory, Group, Issue, Membership, ReadInfo, User
    from ._directory.source import DirectorySource, MemorySource
    from ._homes.plan import Adoption, HomeAction, HomeReport, HomesPlan
    from ._homes.provision import HomesResult, HomesTarget
    from ._outputs.documents import Document
    from ._outputs.files import FileChange
    from ._outputs.role_mappings import Decision
    from ._outputs.yarn import Placement
    from ._plan import Change, Plan
    from ._report import Access, AccessReport, Changes, Revoked, UserAccess
    from ._run_record import ActionRecord, HomeActionCounts, PlanRecord, ReadRecord, RunRecord
    from ._sssd.view import ClusterView, NodeGroup, NodeUser
    from ._state import HeldPlan, HomeRecord, Revocation, Run, SnapshotRow
    from ._sync import SyncResult
    from ._verify.checks import Check, UserReport
    from ._watch import Watcher, WatchStats
    from .errors import DirkitError

# Public name -> (module, attribute; None: the module itself). Imported on first use: `import
# dirkit` (and the CLI, for a cron run with nothing to do) loads none of ldap3, requests,
# boto3 or configobj until needed.
_PUBLIC: dict[str, tuple[str, str | None]] = {
    "Adoption": ("_homes.plan", "Adoption"),
    "AwsChange": ("_deploy", "AwsChange"),
    "Budget": ("_budget", "Budget"),
    "Layer": ("_budget", "Layer"),
    "Change": ("_plan", "Change"),
    "Check": ("_verify.checks", "Check"),
    "Config": ("_config", "Config"),
    "CoreSiteFormat": ("_api", "CoreSiteFormat"),
    "Decision": ("_outputs.role_mappings", "Decision"),
    "Placement": ("_outputs.yarn", "Placement"),
    "DeployPlan": ("_deploy", "DeployPlan"),
    "Directory": ("_directory.model", "Directory"),
    "DirectorySource": ("_directory.source", "DirectorySource"),
    "Dirkit": ("_api", "Dirkit"),
    "DirkitError": ("errors", "DirkitError"),
    "Document": ("_outputs.documents", "Document"),
    "FileChange": ("_outputs.files", "FileChange"),
    "Group": ("_directory.model", "Group"),
    "HeldPlan": ("_state", "HeldPlan"),
    "HomeAction": ("_homes.plan", "HomeAction"),
    "HomeReport": ("_homes.plan", "HomeReport"),
    "HomesPlan": ("_homes.plan", "HomesPlan"),
    "HomesResult": ("_homes.provision", "HomesResult"),
    "HomesTarget": ("_homes.provision", "HomesTarget"),
    "HueFormat": ("_api", "HueFormat"),
    "Issue": ("_directory.model", "Issue"),
    "Membership": ("_directory.model", "Membership"),
    "MemorySource": ("_directory.source", "MemorySource"),
    "Plan": ("_plan", "Plan"),
    "Progress": ("_api", "Progress"),
    "Run": ("_state", "Run"),
    "SnapshotView": ("_api", "SnapshotView"),
    "SyncResult": ("_sync", "SyncResult"),
    "User": ("_directory.model", "User"),
    "UserReport": ("_verify.checks", "UserReport"),
    "errors": ("errors", None),
    "load_config": ("_config", "load"),
    "ActionRecord": ("_run_record", "ActionRecord"),
    "HomeActionCounts": ("_run_record", "HomeActionCounts"),
    "PlanRecord": ("_run_record", "PlanRecord"),
    "ReadRecord": ("_run_record", "ReadRecord"),
    "RunRecord": ("_run_record", "RunRecord"),
    "ReadInfo": ("_directory.model", "ReadInfo"),
    "ClusterView": ("_sssd.view", "ClusterView"),
    "NodeGroup": ("_sssd.view", "NodeGroup"),
    "NodeUser": ("_sssd.view", "NodeUser"),
    "Access": ("_report", "Access"),
    "AccessReport": ("_report", "AccessReport"),
    "UserAccess": ("_report", "UserAccess"),
    "Changes": ("_report", "Changes"),
    "Revoked": ("_report", "Revoked"),
    "HomeRecord": ("_state", "HomeRecord"),
    "Revocation": ("_state", "Revocation"),
    "SnapshotRow": ("_state", "SnapshotRow"),
    "Watcher": ("_watch", "Watcher"),
    "WatchStats": ("_watch", "WatchStats"),
}


def __getattr__(name: str) -> _typing.Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'dirkit' has no attribute {name!r}")
    import importlib

    module, attr = _PUBLIC[name]
    imported = importlib.import_module(f".{module}", __name__)
    value = imported if attr is None else getattr(imported, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Access",
    "AccessReport",
    "ActionRecord",
    "Adoption",
    "AwsChange",
    "Budget",
    "Change",
    "Changes",
    "Check",
    "ClusterView",
    "Config",
    "CoreSiteFormat",
    "Decision",
    "DeployPlan",
    "Directory",
    "DirectorySource",
    "Dirkit",
    "DirkitError",
    "Document",
    "FileChange",
    "Group",
    "HeldPlan",
    "HomeAction",
    "HomeActionCounts",
    "HomeRecord",
    "HomeReport",
    "HomesPlan",
    "HomesResult",
    "HomesTarget",
    "HueFormat",
    "Issue",
    "Layer",
    "Membership",
    "MemorySource",
    "NodeGroup",
    "NodeUser",
    "Placement",
    "Plan",
    "PlanRecord",
    "Progress",
    "ReadInfo",
    "ReadRecord",
    "Revocation",
    "Revoked",
    "Run",
    "RunRecord",
    "SnapshotRow",
    "SnapshotView",
    "SyncResult",
    "User",
    "UserAccess",
    "UserReport",
    "WatchStats",
    "Watcher",
    "errors",
    "load_config",
]
