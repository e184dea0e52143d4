"""dirkit: Active Directory + Kerberos for multi-tenant Hadoop/EMR clusters.

The public API is small: ``Dirkit`` (one object per config; every CLI command is one call on
it), the config loader, the value objects its methods return, and the exception tree of
``dirkit.errors``. Everything else is internal and may change.
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Dirkit, Document
    from .config import Config
    from .config import load as load_config
    from .directory.model import Directory, Group, User
    from .directory.source import DirectorySource, MemorySource
    from .errors import DirkitError
    from .homes.provision import HomesResult, HomesTarget
    from .outputs.role_mappings import Decision
    from .plan import Change, Plan
    from .state import Run
    from .sync import SyncResult
    from .verify.checks import UserReport

# Public name -> (module, attribute). Imported on first use: `import dirkit` (and the CLI, for
# a cron run with nothing to do) loads none of ldap3, requests, boto3 or configobj until needed.
_PUBLIC = {
    "Change": ("plan", "Change"),
    "Config": ("config", "Config"),
    "Decision": ("outputs.role_mappings", "Decision"),
    "Directory": ("directory.model", "Directory"),
    "DirectorySource": ("directory.source", "DirectorySource"),
    "DirkitError": ("errors", "DirkitError"),
    "Dirkit": ("api", "Dirkit"),
    "Document": ("api", "Document"),
    "Group": ("directory.model", "Group"),
    "HomesResult": ("homes.provision", "HomesResult"),
    "HomesTarget": ("homes.provision", "HomesTarget"),
    "MemorySource": ("directory.source", "MemorySource"),
    "Plan": ("plan", "Plan"),
    "Run": ("state", "Run"),
    "SyncResult": ("sync", "SyncResult"),
    "User": ("directory.model", "User"),
    "UserReport": ("verify.checks", "UserReport"),
    "load_config": ("config", "load"),
}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'dirkit' has no attribute {name!r}")
    import importlib

    module, attr = _PUBLIC[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Change",
    "Config",
    "Decision",
    "Directory",
    "DirectorySource",
    "DirkitError",
    "Dirkit",
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
