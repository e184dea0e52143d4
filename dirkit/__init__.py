"""dirkit: Active Directory + Kerberos for multi-tenant Hadoop/EMR clusters.

The public API is small: ``Dirkit`` (one object per config; every CLI command is one call on
it), the config loader, the value objects its methods return, and the exception tree of
``dirkit.errors``. Everything else is internal and may change.
"""

__version__ = "0.1.0"

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
