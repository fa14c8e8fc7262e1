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


class DiskFull(RecordsError):
    """A volume filled during a write: nothing half-written was kept, nothing held changed."""

    def __init__(self, volume: str, where: object, *, file: object | None = None) -> None:
        self.volume = volume  # "store", "key store"
        self.where = str(where)
        self.file = str(file) if file is not None else None
        super().__init__(self._message())

    def _message(self) -> str:
        about = f" while storing {self.file}" if self.file else ""
        return (
            f"the {self.volume} at {self.where} is full (no space left on device){about}: nothing of this batch "
            "was kept and nothing stored before was changed; free space on that volume (or move it to a "
            "bigger one) and run the same command again"
        )

    def for_file(self, file: object) -> DiskFull:
        """The same error, naming the file being stored when it filled."""
        return DiskFull(self.volume, self.where, file=file)


def is_disk_full(exc: BaseException | None) -> bool:
    """ENOSPC or EDQUOT, however deep in the chain of causes (Tink wraps its stream's errors)."""
    import errno

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
