"""dirkit: Active Directory + Kerberos for multi-tenant Hadoop/EMR clusters."""

__version__ = "0.1.0"
