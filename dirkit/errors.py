"""One exception hierarchy. Each class carries a stable exit code and a message that says what
happened and what to check; the CLI prints ``str(exc)`` and exits with ``exc.exit_code``."""

from __future__ import annotations

# Exit codes are part of the public contract (cron wrappers and scripts test them); see README.
EXIT_OK = 0
EXIT_FAILURE = 1  # unexpected internal error
EXIT_USAGE = 2  # bad command line (click's own code)
EXIT_CHANGES = 3  # `dirkit plan`: changes are pending
EXIT_CONFIG = 4
EXIT_DIRECTORY = 5  # AD unreachable, bind failed, incomplete read
EXIT_LOCKED = 6  # another run holds the lock
EXIT_THRESHOLD = 7  # removal safety threshold exceeded, nothing applied
EXIT_PARTIAL = 8  # applied, but some items failed
EXIT_LAB = 9  # the local lab could not be brought up
EXIT_CHECKS_FAILED = 10  # `dirkit verify`: at least one check failed


class DirkitError(Exception):
    """Base class: an error dirkit understands and can explain."""

    exit_code = EXIT_FAILURE


class ConfigError(DirkitError):
    """The config file is missing, unreadable or invalid. The message names the key."""

    exit_code = EXIT_CONFIG


class SecretError(ConfigError):
    """A secret reference (env:, file:, command:) could not be resolved."""


class DirectoryError(DirkitError):
    """Talking to AD failed: connection, TLS, bind, or a read that could not be completed."""

    exit_code = EXIT_DIRECTORY


class DirectoryUnreachable(DirectoryError):
    pass


class DirectoryAuthError(DirectoryError):
    pass


class DirectoryTLSError(DirectoryError):
    pass


class IncompleteReadError(DirectoryError):
    """A read ended early (limit, timeout, lost connection). Nothing may be planned from it."""


class KerberosError(DirkitError):
    exit_code = EXIT_DIRECTORY


class LockedError(DirkitError):
    exit_code = EXIT_LOCKED


class ThresholdError(DirkitError):
    exit_code = EXIT_THRESHOLD


class PartialFailure(DirkitError):
    exit_code = EXIT_PARTIAL


class LabError(DirkitError):
    exit_code = EXIT_LAB
