"""The digest's readers: kept in the store, seeded from feeds.yaml, leaving with one click.

An administrator adds and removes readers in the web app; ``digest.recipients`` and
``digest.recipients_file`` still name readers too, as a seed.  Every address anyone has added or
removed has an entry in the store's meta (:data:`META_KEY`): ``subscribed`` or
``unsubscribed``.  A seeded address with an ``unsubscribed`` entry stays out, so removing a
reader sticks even though feeds.yaml still lists them.

Each digest carries a link to ``<publish.base_url>/unsubscribe/<token>``.  The token is the
reader's address signed with the server's secret key (:mod:`curator.secret_key`, under its own
salt), so the link needs no sign-in and cannot be made for somebody else's address.  Over https
it is also the RFC 8058 one-click address mailbox providers POST to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeSerializer

from curator import digest
from curator.config import Config
from curator.exceptions import DigestError, UserError
from curator.store import Store

__all__ = [
    "META_KEY",
    "Subscriber",
    "add",
    "one_click_url",
    "readers",
    "remove",
    "seeds",
    "subscribers",
    "token_address",
    "unsubscribe_token",
]

META_KEY = "subscribers"  # {folded address: {"address", "status", "since", "by"}}
_SALT = "curator.unsubscribe"

Origin = Literal["store", "feeds.yaml"]


@dataclass(frozen=True)
class Subscriber:
    """One reader of the digest: where they came from, and since when (None for a seed)."""

    address: str
    origin: Origin
    since: datetime | None = None
    by: str | None = None


def _entries(store: Store) -> dict[str, dict[str, Any]]:
    value = store.get_meta(META_KEY, {})
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(v, dict) and "address" in v}


def subscribers(config: Config, store: Store) -> list[Subscriber]:
    """Every current reader: those added in the web app, then the feeds.yaml seeds nobody
    removed, each address once, in that order.

    Raises DigestError (from the seed) when feeds.yaml names an address that is not one."""
    out: dict[str, Subscriber] = {}
    entries = _entries(store)
    for key, entry in entries.items():
        if entry.get("status") == "subscribed":
            since = entry.get("since")
            out[key] = Subscriber(
                address=str(entry["address"]),
                origin="store",
                since=datetime.fromisoformat(since) if isinstance(since, str) else None,
                by=entry.get("by") if isinstance(entry.get("by"), str) else None,
            )
    for address in seeds(config):
        key = digest.address_of(address).casefold()
        if key not in out and key not in entries:
            out[key] = Subscriber(address=address, origin="feeds.yaml")
    return list(out.values())


def readers(config: Config, store: Store) -> list[str]:
    """The addresses the next digest goes to."""
    return [s.address for s in subscribers(config, store)]


def add(store: Store, address: str, *, now: datetime, by: str | None = None) -> str:
    """Subscribe ``address`` (again, after an unsubscribe); the bare address stored."""
    value = address.strip()
    try:
        bare = digest.check_address(value, "address")
    except DigestError as e:  # this is the administrator's typo, not a config error
        raise UserError(str(e).removeprefix("address: ")) from None
    with store.transaction():
        entries = _entries(store)
        entries[bare.casefold()] = {
            "address": value,
            "status": "subscribed",
            "since": now.isoformat(),
            "by": by,
        }
        store.put_meta(META_KEY, entries)
    return bare


def remove(
    config: Config, store: Store, address: str, *, now: datetime, by: str | None = None
) -> bool:
    """Unsubscribe ``address``; False when it was not a reader.  Recorded in the store, so a
    feeds.yaml seed does not bring it back."""
    key = digest.address_of(address.strip()).casefold() or address.strip().casefold()
    with store.transaction():
        current = {digest.address_of(s.address).casefold(): s for s in subscribers(config, store)}
        entries = _entries(store)
        found = current.get(key)
        if found is None:
            return False
        entries[key] = {
            "address": found.address,
            "status": "unsubscribed",
            "since": now.isoformat(),
            "by": by,
        }
        store.put_meta(META_KEY, entries)
    return True


def seeds(config: Config) -> list[str]:
    """The readers, from ``digest.recipients`` then ``digest.recipients_file``, each once.

    Raises DigestError naming the key (or file and line) of an address that is not one, so a
    typo stops the digest before it is recorded rather than after.
    """
    out: dict[str, str] = {}
    for i, value in enumerate(config.digest.recipients):
        addr = digest.check_address(value, f"digest.recipients[{i}]")
        out.setdefault(addr.casefold(), value.strip())
    name = config.digest.recipients_file
    if name:
        path = Path(config.path).parent / name
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise DigestError(f"{path}: cannot read digest.recipients_file: {e}") from e
        for n, line in enumerate(lines, 1):
            value = line.split("#", 1)[0].strip()
            if value:
                addr = digest.check_address(value, f"{path}:{n}")
                out.setdefault(addr.casefold(), value)
    return list(out.values())


# --------------------------------------------------------------------------- links


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT)


def unsubscribe_token(secret: str, address: str) -> str:
    """The signed token in a reader's unsubscribe link (URL-safe, no expiry: an old digest's
    link keeps working)."""
    return _serializer(secret).dumps(digest.address_of(address).casefold() or address)


def token_address(secret: str, token: str) -> str | None:
    """The address a token was made for, or None when it is not one of ours."""
    try:
        value = _serializer(secret).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def one_click_url(config: Config, secret: str, address: str) -> str:
    """``<publish.base_url>/unsubscribe/<token>``: what the digest links to for ``address``."""
    base = config.publish.base_url.rstrip("/")
    return f"{base}/unsubscribe/{unsubscribe_token(secret, address)}"
