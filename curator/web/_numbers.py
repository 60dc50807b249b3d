"""The one way the web app reads a number from a query, a form field or a header.

``str.isdigit`` accepts ``²`` and ``٣`` and ``int`` accepts those, spaces and underscores, and
raises on 5,000 digits: each was a 500 somewhere.  :func:`strict_int` takes ASCII digits only,
a bounded number of them, and a range, and says in its error what the client must send.
"""

from __future__ import annotations

__all__ = ["BadNumber", "strict_int"]

_MAX_DIGITS = 18  # fits an int64; no number the app reads comes near it


class BadNumber(ValueError):
    """A number the client must fix; the message names the field and the range (a 400)."""


def strict_int(text: str, *, name: str, low: int = 0, high: int = 10**_MAX_DIGITS - 1) -> int:
    """``text`` as a whole number from ``low`` to ``high``: ASCII digits only, no sign, no
    spaces, at most 18 digits.  BadNumber otherwise."""
    if not (0 < len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit()):
        raise BadNumber(f"{name} must be a whole number from {low} to {high}, not {_shown(text)}")
    value = int(text)
    if not low <= value <= high:
        raise BadNumber(f"{name} must be a whole number from {low} to {high}, not {value}")
    return value


def _shown(text: str) -> str:
    """The offending value, short enough to echo back."""
    return repr(text if len(text) <= 40 else text[:40] + "…")
