"""Changes the program makes to ``feeds.yaml`` (the rules editor, the sources page, OPML
import) keep the file a person wrote: its comments, key order, blank lines and quoting.

PyYAML, which :mod:`curator.config` reads with, drops comments, so edits go through
ruamel.yaml's round-trip mode.  Every edit is validated exactly as ``curator check`` would
(:func:`curator.config.loads`, then :func:`curator.match.check`) before anything is written,
and written by rename, so a change that would break the configuration never reaches the disk
and a crash mid-write leaves the old file.  ``serve`` notices the new file by its hash
(:mod:`curator.reload`), as it does a hand edit.

Two editors saving at once: each edit names the :func:`version` of the text it was made from,
and a file changed since is refused (:class:`ConfigChanged`) rather than overwritten.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock, Timeout
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from curator import config, match
from curator.exceptions import ConfigError, CuratorError, Problem

#: A change to the parsed document, made in place (ruamel's CommentedMap/CommentedSeq keep
#: comments attached to the keys and items they follow).
Change = Callable[[Any], None]

LOCK_TIMEOUT = 10.0  # seconds to wait for another save of the file to finish


class ConfigChanged(CuratorError):
    """The file changed since the version an edit was made from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"{path} was changed by someone else since you opened it; reload and make your "
            "change again"
        )


@dataclass(frozen=True)
class Edited:
    """The outcome of an edit: the new text, its validated configuration, and its version."""

    text: str
    config: config.Config
    version: str
    changed: bool  # False when the change left the text as it was


def version(text: str) -> str:
    """The SHA-256 of the text: what an edit form carries to detect a concurrent save."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 1_000_000  # never re-wrap: a change to one source must not move other lines
    y.indent(mapping=2, sequence=4, offset=2)
    # ruamel writes a null as nothing ("contact:"); the file says "null", so keep saying it.
    y.representer.add_representer(type(None), _represent_null)
    y.representer.add_representer(str, _represent_str)
    return y


def _represent_null(representer: Any, _data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


_STR = "tag:yaml.org,2002:str"
_YAML11 = yaml.resolver.Resolver()


def _represent_str(representer: Any, data: str) -> Any:
    """A new string value quoted whenever :mod:`curator.config`'s reader would take it for
    something else.  ruamel follows YAML 1.2 and writes ``NO`` (Norway), ``On`` or ``12:30``
    plain; PyYAML reads YAML 1.1, where those are false, true and the number 750."""
    if _YAML11.resolve(yaml.ScalarNode, data, (True, False)) != _STR:  # type: ignore[no-untyped-call]
        return representer.represent_scalar(_STR, data, style="'")
    return representer.represent_str(data)


def load_document(text: str, name: str = "feeds.yaml") -> Any:
    """The round-trip document of ``text``; a syntax error is a :class:`ConfigError`."""
    try:
        return _yaml().load(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([Problem(name, line, "", f"not valid YAML: {e}")]) from None


def dump_document(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def append_entries(seq: Any, items: Sequence[Any]) -> None:
    """Append mappings to a block sequence (``sources:``) and keep what followed it after them.

    ruamel files the blank lines and comments between a sequence's last entry and the next
    section (``# ---- research`` above ``research:``) under that entry's last key; appended
    as they are, new entries would land between the next section and its heading.  So that
    trailing text is moved to the new last entry, leaving the old last key's own end-of-line
    comment where it was.
    """
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.tokens import CommentToken

    trailing: CommentToken | None = None
    if len(seq) and isinstance(seq[-1], CommentedMap) and len(seq[-1]):
        last = seq[-1]
        slot = last.ca.items.get(list(last.keys())[-1])
        token = slot[2] if slot and len(slot) > 2 else None
        if isinstance(token, CommentToken) and "\n" in token.value:
            own, rest = token.value.split("\n", 1)
            if rest:
                trailing = CommentToken(rest, token.start_mark, None)
                if own.strip():
                    token.value = own + "\n"  # in place: it keeps its column
                else:
                    slot[2] = None
    for item in items:
        seq.append(item)
    new_last = seq[-1] if len(seq) else None
    if trailing is not None and isinstance(new_last, CommentedMap) and len(new_last):
        key = list(new_last.keys())[-1]
        slot = new_last.ca.items.setdefault(key, [None, None, None, None])
        slot[2] = CommentToken("\n" + trailing.value, trailing.start_mark, None)


def validate(text: str, name: str = "feeds.yaml") -> config.Config:
    """The same checks as ``curator check``: raises :class:`ConfigError` listing problems."""
    cfg = config.loads(text, name)
    problems = match.check(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def preview(path: Path, change: Change) -> Edited:
    """What ``change`` would make of the file, validated, without writing anything."""
    text = read_text(path)
    return _apply(path, text, change)


def edit(path: Path, change: Change, *, expected_version: str | None = None) -> Edited:
    """Apply ``change`` to the file and write it if the result is a valid configuration.

    Raises :class:`ConfigError` (nothing written) when the result would not load or the file
    cannot be written, and :class:`ConfigChanged` when ``expected_version`` no longer
    matches the file.
    """
    path = path.resolve()  # a symlinked feeds.yaml: write its target, keep the link
    with _locked(path):
        text = read_text(path)
        if expected_version is not None and version(text) != expected_version:
            raise ConfigChanged(path)
        edited = _apply(path, text, change)
        if edited.changed:
            _write(path, edited.text)
        return edited


def replace_text(path: Path, new_text: str, *, expected_version: str | None = None) -> Edited:
    """Replace the whole file (the rules editor's text box), validated first."""
    path = path.resolve()
    with _locked(path):
        text = read_text(path)
        if expected_version is not None and version(text) != expected_version:
            raise ConfigChanged(path)
        cfg = validate(new_text, str(path))
        if new_text != text:
            _write(path, new_text)
        return Edited(new_text, cfg, version(new_text), new_text != text)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer at a time (two editors, an import); what stops it is a ConfigError."""
    try:
        with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT):
            yield
    except Timeout:
        raise ConfigError(
            [Problem(str(path), None, "", "another change to it is being saved: try again")]
        ) from None
    except OSError as e:  # the lock file cannot be made: the folder is not writable
        raise _unwritable(path, e) from None


def _write(path: Path, text: str) -> None:
    try:
        write_text(path, text)
    except OSError as e:
        raise _unwritable(path, e) from None


def _unwritable(path: Path, e: OSError) -> ConfigError:
    why = e.strerror or str(e)
    return ConfigError(
        [
            Problem(
                str(path),
                None,
                "",
                f"cannot be written ({why}): the service needs write access to the file and "
                "its folder to save changes; edit it by hand meanwhile",
            )
        ]
    )


def read_text(path: Path) -> str:
    """The file's text; a missing or unreadable file is a :class:`ConfigError` naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([Problem(str(path), None, "", f"cannot read it: {e}")]) from None


def _apply(path: Path, text: str, change: Change) -> Edited:
    doc = load_document(text, str(path))
    change(doc)
    new_text = dump_document(doc)
    cfg = validate(new_text, str(path))
    return Edited(new_text, cfg, version(new_text), new_text != text)


def write_text(path: Path, text: str) -> None:
    """Write by rename in the same folder, keeping the file's permissions."""
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
