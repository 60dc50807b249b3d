"""Every error Curator raises on purpose, rooted at :class:`CuratorError`.

::

    CuratorError
     ├── ConfigError            feeds.yaml is unreadable or invalid (carries every Problem)
     ├── SecretKeyError         the session key file is unusable (carries its path)
     ├── StoreError             the store cannot be read or written
     │    ├── StoreCorrupt      a data file does not load (carries its path); never overwritten
     │    └── StoreLocked       another process holds the store (e.g. a second ``serve``)
     ├── SourceError            about one source (carries ``source_id``)
     │    ├── FetchError        the HTTP poll failed (``status``, ``retry_after``)
     │    │    ├── SourceGone   410 Gone: not polled again until its configuration changes
     │    │    └── BodyTooLarge the body passed the size cap and was abandoned
     │    ├── ParseError        the document is not a feed we can read (or took too long)
     │    ├── SourceBug         an unexpected exception while polling it (a bug; logged)
     │    └── UnknownSource     no source in feeds.yaml has that id
     ├── ItemError              about one item (carries ``item_id``)
     │    ├── UnknownItem       no item has that id
     │    └── ItemChanged       changed since the editor looked (carries the current item)
     ├── UserError              about an editor account
     ├── PortInUse              `curator serve` cannot listen where it was told to
     ├── DigestError            building or sending a digest failed
     │    └── MailError         the SMTP server refused us (auth, connection, all recipients)
     ├── PublishError           an export could not be written
     ├── OpmlError              an OPML subscription list cannot be read (file, line)
     └── ModelError             the learned ranking cannot train or load (too few decisions)

The CLI maps these to clean messages and exit codes; anything else is a bug and propagates.

Every error survives pickling (it crosses from worker processes back to the poll): the
root's ``__reduce__`` rebuilds it from its arguments and attributes, whatever its
``__init__`` takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curator.types import Item


def _rebuild(cls: type[CuratorError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class CuratorError(Exception):
    """Root of every deliberate Curator error."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce calls ``cls(*self.args)``, which fails for every subclass
        # whose __init__ takes other arguments than its message (ParseError broke the pool).
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration file, located for a human to fix."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(CuratorError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SecretKeyError(CuratorError):
    """``<store>/secret_key``, the web app's session key, cannot be read, made or used."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class StoreError(CuratorError):
    pass


class StoreCorrupt(StoreError):
    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(
            f"{path}: the file does not load ({reason}). It was left untouched; "
            "`curator store repair` moves it aside and restores what it can from it and "
            "from the newest backup."
        )


class StoreLocked(StoreError):
    pass


class SchemaError(StoreError):
    """A PostgreSQL database whose schema is not the one this version of Curator uses."""


class SourceError(CuratorError):
    def __init__(self, source_id: str, message: str) -> None:
        self.source_id = source_id
        super().__init__(message)


class FetchError(SourceError):
    def __init__(
        self,
        source_id: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(source_id, message)
        self.status = status
        self.retry_after = retry_after


class SourceGone(FetchError):
    pass


class BodyTooLarge(FetchError):
    pass


class ParseError(SourceError):
    pass


class SourceBug(SourceError):
    """An unexpected exception while polling one source: a bug in Curator, but that source's
    bug.  It is logged with its traceback and recorded on the source; the run goes on."""

    def __init__(self, source_id: str, stage: str, error: BaseException) -> None:
        super().__init__(
            source_id,
            f"unexpected {type(error).__name__} in {stage}: {error} "
            "(a bug in Curator; the log has the traceback)",
        )
        self.stage = stage


class UnknownSource(SourceError):
    def __init__(self, source_id: str, known: list[str]) -> None:
        hint = ", ".join(known[:10]) + (" …" if len(known) > 10 else "")
        super().__init__(
            source_id, f"no source with id {source_id!r} in the configuration (known: {hint})"
        )


class ItemError(CuratorError):
    def __init__(self, item_id: str, message: str) -> None:
        self.item_id = item_id
        super().__init__(message)


class ItemChanged(ItemError):
    """The item is no longer what the editor saw: acting on it would undo or overwrite a
    change they never looked at.  ``current`` is the item as it is now."""

    def __init__(self, item_id: str, current: Item) -> None:
        super().__init__(
            item_id,
            "This item has changed since the page was loaded: reload it to see the change, "
            "then try again if you still want to.",
        )
        self.current = current


class UnknownItem(ItemError):
    def __init__(self, item_id: str) -> None:
        super().__init__(item_id, f"no item with id {item_id!r} (see `curator items --status all`)")


class UserError(CuratorError):
    pass


class PortInUse(CuratorError):
    pass


class DigestError(CuratorError):
    pass


class MailError(DigestError):
    pass


class PublishError(CuratorError):
    pass


class OpmlError(CuratorError):
    """An OPML file that cannot be read: its name, the line where known, and why."""

    def __init__(self, name: str, line: int | None, message: str) -> None:
        self.name = name
        self.line = line
        self.message = message
        where = f"{name}:{line}" if line else name
        super().__init__(f"{where}: {message}")


class ModelError(CuratorError):
    """The learned ranking cannot be trained (too few decisions) or its stored model is not
    usable; the message says what to do."""
