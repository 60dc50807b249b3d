"""The key that signs session cookies and unsubscribe links.

``CURATOR_SECRET_KEY`` when set, else a key generated once and kept in ``<store>/secret_key``.
Below both the web app and the digest sender (``curator digest send`` signs each reader's
unsubscribe link with it; ``serve`` checks it), so neither imports the other.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import Protocol

from curator.exceptions import SecretKeyError

__all__ = ["SECRET_ENV", "key_file", "session_secret"]

log = logging.getLogger("curator.web")

SECRET_ENV = "CURATOR_SECRET_KEY"


class _KeptSecret(Protocol):
    def session_key(self) -> str: ...


def session_secret(store: _KeptSecret) -> str:
    """The key that signs session cookies: ``CURATOR_SECRET_KEY``, else the key the store
    keeps (generated once, so sessions survive a restart and every instance on one database
    signs alike: :meth:`curator.store.Store.session_key`)."""
    env = os.environ.get(SECRET_ENV, "").strip()
    if env:
        if len(env) < 32:
            log.warning("%s is shorter than 32 characters; use a long random value", SECRET_ENV)
        return env
    return store.session_key()


def key_file(store_path: Path) -> str:
    """The key kept in ``<store>/secret_key`` (mode 0600), made there the first time.

    Raises SecretKeyError, naming the file and the remedy, when that file cannot be read or
    made, or holds too short a key (``curator serve`` prints it instead of a traceback).
    """
    path = store_path / "secret_key"
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read_key(path)
    except OSError as e:
        raise SecretKeyError(
            path,
            f"cannot create the session key ({e.strerror or e}): make the store directory "
            f"writable by the user running curator, or set {SECRET_ENV} (see README)",
        ) from e
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        with contextlib.suppress(OSError):
            path.unlink()  # a half-written key would only fail the next start
        raise SecretKeyError(
            path, f"cannot write the session key ({e.strerror or e}); set {SECRET_ENV} instead"
        ) from e
    log.warning(
        "%s is not set: generated a session key in %s (keep that file private, "
        "or set %s; see README)",
        SECRET_ENV,
        path,
        SECRET_ENV,
    )
    return key


def _read_key(path: Path) -> str:
    """The key kept in ``path``; FileNotFoundError when there is none yet."""
    try:
        key = path.read_text(encoding="ascii").strip()
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise SecretKeyError(
            path,
            f"cannot read the session key ({reason}): give the user running curator read "
            f"access to it (chmod 600, owned by that user), delete it to have a new one made "
            f"(everyone is signed out), or set {SECRET_ENV} (see README)",
        ) from e
    if len(key) < 32:
        raise SecretKeyError(
            path,
            f"the session key is too short ({len(key)} characters, at least 32 needed): delete "
            f"the file to have a new one made at the next start (everyone is signed out), "
            f"or set {SECRET_ENV} (see README)",
        )
    if mode & 0o077:
        log.warning("%s is readable by other users; chmod 600 it", path)
    return key
