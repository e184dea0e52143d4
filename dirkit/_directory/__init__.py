"""Active Directory -> an immutable ``Directory`` snapshot.

``source.py`` says what a directory source is; ``reader.LdapSource`` (the only ldap3 user,
with ``ldap.py``) is the real one, ``source.MemorySource`` serves a ready snapshot (tests, and
commands working from the last applied state).
"""

from .model import Directory, Group, Issue, Membership, User
from .names import NamePolicy
from .source import DirectorySource, MemorySource

__all__ = ["Directory", "DirectorySource", "Group", "Issue", "MemorySource", "Membership", "NamePolicy", "User"]
