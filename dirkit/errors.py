"""Every exception dirkit raises, and the exit code each one means.

The tree (exit code in brackets)::

    DirkitError [1]            base: an error dirkit understands and can explain
    ├── ConfigError [4]        the config file is missing, unreadable or invalid (names the key)
    │   └── SecretError        a secret reference (env:, file:, command:) could not be resolved
    ├── LocalFileError [4]     a local file dirkit keeps could not be used (names the key)
    │   ├── StateError         state.path: the SQLite state database
    │   └── OutputError        output.directory / --out: a generated document could not be written
    ├── ServiceError [5]       a service dirkit talks to failed
    │   ├── DirectoryError     AD over LDAP
    │   │   ├── DirectoryUnreachable
    │   │   ├── DirectoryAuthError
    │   │   ├── DirectoryTLSError
    │   │   └── IncompleteReadError   a read ended early: nothing may be planned from it
    │   │       └── DirectoryConnectionLost   the DC went away mid-read (the read fails over)
    │   ├── KerberosError      classified from the GSSAPI major/minor codes (``.reason``)
    │   ├── HdfsError          a WebHDFS call failed
    │   │   └── HdfsUnavailable     the NameNode could not be reached or stopped answering
    │   ├── AwsError           an AWS API call failed (EMR, IAM: `dirkit emr apply/diff`)
    │   └── DeadlineExceeded   the run passed run.deadline_seconds (a service too slow to answer)
    ├── NotFoundError [1]      nothing to work from: no applied snapshot yet, an unknown user
    ├── AuthToLocalError [1]   an auth_to_local rule is malformed or maps to an invalid name
    │   ├── NoMatchingRule     no rule applies to the principal (Hadoop's own error)
    │   └── MalformedPrincipal not a principal Hadoop accepts ("Malformed Kerberos name")
    ├── UsageError [2]         an argument passed to the API is invalid (the CLI's exit 2)
    ├── LockedError [6]        another run holds the lock
    ├── ThresholdError [7]     a safety limit was exceeded; nothing was applied
    └── PartialFailure [8]     applied, but some items failed; a re-run converges

Third-party errors (ldap3, gssapi, requests, sqlite3, configobj, OSError,
UnicodeDecodeError) are wrapped where they occur; the original stays attached as
``__cause__`` (and ``.original``). Any other exception reaching the CLI is a bug: exit 1
with one line asking to report it (the traceback only with ``-v``).
"""

from __future__ import annotations

from typing import Literal

# Exit codes are part of the public contract (cron wrappers and scripts test them); see README.
EXIT_OK = 0
EXIT_FAILURE = 1  # unexpected internal error, or nothing to work from (NotFoundError)
EXIT_USAGE = 2  # bad command line (click's own code)
EXIT_CHANGES = 3  # `dirkit plan`: changes are pending
EXIT_CONFIG = 4  # config file, or a local file it names (state database, output directory)
EXIT_SERVICE = 5  # AD, Kerberos or the NameNode: unreachable, refused, incomplete
EXIT_DIRECTORY = EXIT_SERVICE  # the name before HDFS joined; kept for scripts importing it
EXIT_LOCKED = 6  # another run holds the lock
EXIT_THRESHOLD = 7  # safety threshold exceeded, nothing applied
EXIT_PARTIAL = 8  # applied, but some items failed
EXIT_CHECKS_FAILED = 10  # `dirkit verify`: at least one check failed


class DirkitError(Exception):
    """Base class: an error dirkit understands and can explain. ``str()`` says what happened
    and what to check; ``exit_code`` is the documented code for it."""

    exit_code = EXIT_FAILURE

    @property
    def original(self) -> BaseException | None:
        """The third-party exception this one wraps, if any."""
        return self.__cause__


class ConfigError(DirkitError):
    """The config file is missing, unreadable or invalid. The message names the key."""

    exit_code = EXIT_CONFIG


class SecretError(ConfigError):
    """A secret reference (env:, file:, command:) could not be resolved. Never shows the value."""


class LocalFileError(DirkitError):
    """A local file or directory dirkit keeps could not be used. The message names the key."""

    exit_code = EXIT_CONFIG


class StateError(LocalFileError):
    """The state database (state.path) cannot be opened, read or written."""


class OutputError(LocalFileError):
    """A generated document could not be written (output.directory, --out, --out-dir)."""


class ServiceError(DirkitError):
    """A service dirkit talks to (AD, a KDC, the NameNode) failed or could not be reached."""

    exit_code = EXIT_SERVICE


class DirectoryError(ServiceError):
    """Talking to AD failed: connection, TLS, bind, or a read that could not be completed."""


class DirectoryUnreachable(DirectoryError):
    """No domain controller answered (each URL tried is named)."""


class DirectoryAuthError(DirectoryError):
    """The bind was refused (AD's sub-code turned into words: wrong password, disabled...)."""


class DirectoryTLSError(DirectoryError):
    """The DC's certificate is not trusted or does not match its name; StartTLS refused."""


class IncompleteReadError(DirectoryError):
    """A read ended early (limit, timeout, lost connection). Nothing may be planned from it."""


class DirectoryConnectionLost(IncompleteReadError):
    """The DC went away in the middle of a read: the read starts again on the next DC."""


# Why a Kerberos step failed, from the GSSAPI codes (never from message text; _kerberos.py maps them).
KerberosReason = Literal[
    "bad_key",
    "stale_key",
    "no_key",
    "revoked",
    "expired",
    "unknown_principal",
    "unknown_service",
    "enctype",
    "unreachable",
    "clock_skew",
    "other",
]


class KerberosError(ServiceError):
    """A Kerberos step failed. ``reason`` is a KerberosReason (from the GSSAPI codes, never from
    message text); ``major``/``minor`` are the raw GSSAPI status codes."""

    def __init__(
        self, message: str, reason: KerberosReason = "other", major: int | None = None, minor: int | None = None
    ):
        super().__init__(message)
        self.reason = reason
        self.major = major
        self.minor = minor


class HdfsError(ServiceError):
    """A WebHDFS call failed: the message names the operation, the path and the server's reason."""


class HdfsUnavailable(HdfsError):
    """The NameNode could not be reached or stopped answering."""


class AwsError(ServiceError):
    """An AWS API call (EMR, IAM) failed or was refused; the AWS error code is in the message."""


class DeadlineExceeded(ServiceError):
    """The run passed ``run.deadline_seconds`` (a service answering too slowly, or not at all,
    within each socket timeout) and was stopped; the message says what was applied."""


class DeadlineSignal(BaseException):
    """Internal, not an error of the tree: raised by the deadline's alarm wherever the main
    thread is blocked (dirkit/_deadline.py), a BaseException so that no library's
    ``except Exception`` swallows it; ``deadline.limit`` turns it into DeadlineExceeded."""


class NotFoundError(DirkitError):
    """Nothing to work from: no applied snapshot in the state database yet, an unknown user."""


class AuthToLocalError(DirkitError):
    """An auth_to_local rule is malformed, or gives a name Hadoop refuses."""


class NoMatchingRule(AuthToLocalError):
    """No auth_to_local rule applies to the principal (Hadoop: "No rules applied to ...")."""


class MalformedPrincipal(AuthToLocalError):
    """Not a Kerberos principal name Hadoop accepts (e.g. two '@' or three components)."""


class UsageError(DirkitError):
    """An argument passed to the API is invalid."""

    exit_code = EXIT_USAGE


class LockedError(DirkitError):
    """Another dirkit run holds the state lock; this run did nothing."""

    exit_code = EXIT_LOCKED


class ThresholdError(DirkitError):
    """A safety limit was exceeded; nothing was applied."""

    exit_code = EXIT_THRESHOLD


class PartialFailure(DirkitError):
    """Applied, but some items failed; the others are done and a re-run converges."""

    exit_code = EXIT_PARTIAL


__all__ = [
    "AuthToLocalError",
    "AwsError",
    "ConfigError",
    "DeadlineExceeded",
    "DirectoryAuthError",
    "DirectoryConnectionLost",
    "DirectoryError",
    "DirectoryTLSError",
    "DirectoryUnreachable",
    "DirkitError",
    "HdfsError",
    "HdfsUnavailable",
    "IncompleteReadError",
    "KerberosError",
    "LocalFileError",
    "LockedError",
    "MalformedPrincipal",
    "NoMatchingRule",
    "NotFoundError",
    "OutputError",
    "PartialFailure",
    "SecretError",
    "ServiceError",
    "StateError",
    "ThresholdError",
    "UsageError",
]
