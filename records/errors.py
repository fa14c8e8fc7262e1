"""Errors a user can act on.

Every error that reaches the command line or the web is one of these: it carries a
message written for a clerk, an officer or an IT person, and the exit code of cli.md.
Anything else that escapes is a bug, reported as such without a stack trace.
"""

from __future__ import annotations


class RecordsError(Exception):
    """A failure the user can understand and act on (exit code 1)."""

    exit_code = 1


class UsageError(RecordsError):
    """The command was given something it cannot parse (exit code 2)."""

    exit_code = 2


class NotFound(RecordsError):
    """The record, user, batch or file named does not exist."""


class Refused(RecordsError):
    """A rule refused the action: a role, separation of duties, a hold, a confirmation."""


class ConfigurationError(RecordsError):
    """The installation is not set up as the command needs (no catalog, no key store)."""
