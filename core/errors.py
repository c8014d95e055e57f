"""Errors a user can act on: each carries a message fit to show as it is."""


class IntrexError(Exception):
    """A refusal with a clear, specific message for the person who asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(IntrexError):
    """The named thing does not exist (or is not visible to the caller)."""


class ConflictError(IntrexError):
    """The change would duplicate something that must be unique."""


class ValidationError(IntrexError):
    """The input is malformed or out of range."""


class ConfigurationError(IntrexError):
    """The deployment is missing a setting or a privilege it needs."""


class PermissionDeniedError(IntrexError):
    """The user is known, but may not do this: their role, or an account no longer active."""
