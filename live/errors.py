"""Errors a user can cause and fix. ``str(error)`` is one line that says what to do.

The CLI prints it and exits non-zero; the TUI shows it as a notification. Anything else is a bug.
"""

import errno as _errno

# A write refused for want of room: a full disk, a quota, or a file size limit (RLIMIT_FSIZE).
STORAGE_FULL = frozenset({_errno.ENOSPC, _errno.EDQUOT, _errno.EFBIG})


class LiveError(Exception):
    """Base of every error whose message is meant for the user."""

    exit_code = 2


class ConfigError(LiveError):
    """A bad flag, environment variable or config file value."""


class InputError(LiveError):
    """An --input file that is missing, empty, corrupt or has no audio."""


class DeviceError(LiveError):
    """No microphone, an unknown --device, or a device that went away."""


class ModelError(LiveError):
    """A model that is missing, incomplete, of the wrong kind, or cannot be downloaded."""


class SessionError(LiveError):
    """The session folder cannot be created or written. ``errno``: the OS error behind it, if any."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno

    @property
    def disk_full(self) -> bool:
        """No space (or quota, or file size) left for it: the fix is room on the disk, not another folder."""
        return self.errno in STORAGE_FULL


class LLMError(LiveError):
    """The summary/question model failed in a way the user must know about."""
