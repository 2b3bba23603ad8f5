"""The one exception type that rec raises for bad input.

Every malformed bitstream, unreadable image, unknown model or invalid
parameter surfaces as :class:`RecError` or a subclass, with a message that
names the problem.
"""

__all__ = ["RecError", "FormatError"]


class RecError(Exception):
    """Base class of every error rec raises on bad input."""


class FormatError(RecError):
    """A bitstream is malformed, truncated, corrupted or foreign."""
