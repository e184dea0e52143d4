"""Active Directory -> an immutable ``Directory`` snapshot."""

from .model import Directory, Group, Issue, Membership, User
from .names import NamePolicy

__all__ = ["Directory", "Group", "Issue", "Membership", "NamePolicy", "User"]
