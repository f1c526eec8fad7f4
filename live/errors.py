"""Errors a user can cause and fix. ``str(error)`` is one line that says what to do.

The CLI prints it and exits non-zero; the TUI shows it as a notification. Anything else is a bug.
"""


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
    """The session folder cannot be created or written."""


class LLMError(LiveError):
    """The summary/question model failed in a way the user must know about."""
