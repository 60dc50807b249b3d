"""Editor accounts, the first-run setup link and sign-in throttling.

Editors live in the store (:class:`~curator.types.User`); passwords are kept only as Argon2id
hashes made by argon2-cffi's :class:`~argon2.PasswordHasher`.  The CLI (``curator user …``)
and the web app both go through the functions here, so the rules for names and passwords are
the same everywhere.

Hashing takes about a tenth of a second on purpose.  The web app runs :func:`check_password`
in a worker thread so the event loop (scheduler and every other request) does not wait.

First run: while no editor exists, :func:`setup_link_token` makes a one-time token and keeps
only its SHA-256 in the store's meta, so a copy of the store does not hand out the link.  The
web page ``/setup?token=…`` calls :func:`complete_setup`, which creates the first editor and
burns the token in the same transaction.

Administrators (issue #10) manage the other accounts and the digest's subscribers in the web
app.  The first account a store gets is one, and so is every account made with
``curator user add --admin``.  A store made before the flag existed has no administrator; its
oldest account (by creation time, then name) counts as one until an account is flagged, so an
upgrade never leaves nobody able to manage the rest (:func:`is_admin`).  Removing the last
administrator while other accounts remain is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from curator.exceptions import UserError
from curator.store import Store
from curator.types import User

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "SESSION_GEN_PREFIX",
    "SETUP_META_KEY",
    "UNLOCK_PREFIX",
    "Attempt",
    "SignInThrottle",
    "add_user",
    "admins",
    "change_password",
    "check_password",
    "check_setup_token",
    "complete_setup",
    "create_user",
    "end_sessions",
    "find_user",
    "has_editors",
    "hash_password",
    "is_admin",
    "needs_rehash",
    "remove_user",
    "replace_outdated_hash",
    "session_fingerprint",
    "session_generation",
    "set_password_hash",
    "setup_link_token",
    "signin_epoch",
    "unlock",
    "validate_name",
    "validate_password",
    "verify",
]

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # hashing cost grows with length: refuse absurd input before hashing it
SETUP_META_KEY = "setup_token"
SESSION_GEN_PREFIX = "session_gen:"  # + editor name: meta key of the editor's session generation
UNLOCK_PREFIX = "signin_unlock:"  # + editor name: meta key counting `curator user unlock`
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_DEFAULT_HASHER = PasswordHasher()


def _hasher(hasher: PasswordHasher | None) -> PasswordHasher:
    return hasher if hasher is not None else _DEFAULT_HASHER


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- validation


def validate_name(name: str) -> str:
    """An editor name: letters, digits, ``. _ @ -``; it appears in every audit line."""
    if not _NAME.fullmatch(name):  # fullmatch: "$" would let a trailing newline through
        raise UserError(
            f"{name!r} is not a usable editor name: use 1 to 64 letters, digits, '.', '_', '@' "
            "or '-', starting with a letter or digit"
        )
    return name


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"the password is too long: use at most {MAX_PASSWORD} characters")
    if not password.strip():
        raise UserError("the password cannot be only spaces")


# --------------------------------------------------------------------------- passwords


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    """A hash no password matches, made with the same cost as real ones."""
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    return hasher.hash(secrets.token_urlsafe(32))


def check_password(
    user: User | None, password: str, *, hasher: PasswordHasher | None = None
) -> bool:
    """True when ``password`` is the user's.  Pure CPU, no store access: safe in a thread.

    An unknown user costs the same as a known one, so timing does not tell which names
    exist.
    """
    h = _hasher(hasher)
    if user is None or len(password) > MAX_PASSWORD:
        dummy = _dummy_hash(h.time_cost, h.memory_cost, h.parallelism)
        with contextlib.suppress(VerificationError):
            h.verify(dummy, password[:MAX_PASSWORD])
        return False
    try:
        return h.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def session_fingerprint(user: User) -> str:
    """Changes whenever the user's password does, which ends every older session."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def session_generation(store: Store, name: str) -> int:
    """The editor's session generation: a session cookie carries the number it was made
    under and stops working once this moves on (:func:`end_sessions`).

    The web app's cookies are signed, not stored, so this number is what lets signing out
    revoke a copy of a cookie.
    """
    value = store.get_meta(SESSION_GEN_PREFIX + name, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def end_sessions(store: Store, name: str, *, after: int = 0) -> int:
    """End every session of this editor (sign-out, a new password); the new generation.

    ``after`` is a generation already ended elsewhere (the web app's memory, when an earlier
    sign-out could not be written): the new one is past it too."""
    with store.transaction():
        generation = max(session_generation(store, name), after) + 1
        store.put_meta(SESSION_GEN_PREFIX + name, generation)
    return generation


# --------------------------------------------------------------------------- accounts


def has_editors(store: Store) -> bool:
    return bool(store.users())


def hash_password(password: str, *, hasher: PasswordHasher | None = None) -> str:
    """Check the password against the rules and hash it.  Pure CPU: safe in a thread."""
    validate_password(password)
    return _hasher(hasher).hash(password)


def needs_rehash(user: User, *, hasher: PasswordHasher | None = None) -> bool:
    return _hasher(hasher).check_needs_rehash(user.password_hash)


def find_user(store: Store, name: str) -> User | None:
    """The editor whose name case-folds to ``name``'s (``Alice`` signs in as ``alice``)."""
    user = store.get_user(name)
    if user is not None:
        return user
    folded = name.casefold()
    return next((u for u in store.users() if u.name.casefold() == folded), None)


def _refuse_taken(store: Store, name: str) -> None:
    taken = find_user(store, name)
    if taken is not None:
        raise UserError(
            f"an editor named {taken.name!r} already exists; names differing only in case "
            "are the same editor"
        )


def create_user(
    store: Store,
    name: str,
    password_hash: str,
    *,
    now: datetime | None = None,
    admin: bool = False,
) -> User:
    """Store a new editor whose password is already hashed (see :func:`hash_password`).

    The store's first account is an administrator whatever ``admin`` says."""
    validate_name(name)
    with store.transaction():
        _refuse_taken(store, name)
        first = not store.users()
        user = User(
            name=name, password_hash=password_hash, created_at=now or _now(), admin=admin or first
        )
        store.put_user(user)
    return user


def admins(store: Store) -> list[User]:
    """The administrators: the flagged accounts, else (a store from before the flag) the
    oldest account, else nobody."""
    users = store.users()
    flagged = [u for u in users if u.admin]
    if flagged or not users:
        return flagged
    return [min(users, key=lambda u: (u.created_at, u.name))]


def is_admin(store: Store, user: User) -> bool:
    """True when ``user`` may manage accounts and subscribers (see :func:`admins`)."""
    return user.admin or any(u.name == user.name for u in admins(store))


def set_password_hash(store: Store, name: str, password_hash: str) -> User:
    """Replace an editor's hash; every session of theirs so far stops working, and so do
    the failed sign-ins counted against the account (:func:`signin_epoch`)."""
    with store.transaction():
        current = find_user(store, name)
        if current is None:
            raise UserError(f"no editor named {name!r}")
        new = dataclasses.replace(current, password_hash=password_hash)
        store.put_user(new)
        end_sessions(store, current.name)
    return new


def add_user(
    store: Store,
    name: str,
    password: str,
    *,
    now: datetime | None = None,
    hasher: PasswordHasher | None = None,
    admin: bool = False,
) -> User:
    """Create an editor (an administrator with ``admin``, or when it is the first account).
    UserError when the name is taken or the name/password unusable."""
    validate_name(name)
    validate_password(password)
    _refuse_taken(store, name)  # say so before spending the hashing time
    return create_user(store, name, hash_password(password, hasher=hasher), now=now, admin=admin)


def verify(
    store: Store, name: str, password: str, *, hasher: PasswordHasher | None = None
) -> User | None:
    """The user when the password is right, else None.  Upgrades an outdated hash in place."""
    user = find_user(store, name)
    if not check_password(user, password, hasher=hasher):
        return None
    assert user is not None
    if not needs_rehash(user, hasher=hasher):
        return user
    return replace_outdated_hash(store, user, _hasher(hasher).hash(password))


def replace_outdated_hash(store: Store, user: User, password_hash: str) -> User:
    """Store a re-made hash after a successful check, unless the account changed meanwhile."""
    with store.transaction():
        current = store.get_user(user.name)
        if current is None or current.password_hash != user.password_hash:
            return current or user
        new = dataclasses.replace(current, password_hash=password_hash)
        store.put_user(new)
    return new


def change_password(
    store: Store, name: str, password: str, *, hasher: PasswordHasher | None = None
) -> User:
    """Set a new password; sessions signed in with the old one stop working."""
    if find_user(store, name) is None:
        raise UserError(f"no editor named {name!r}")
    return set_password_hash(store, name, hash_password(password, hasher=hasher))


def remove_user(store: Store, name: str) -> None:
    """Delete an editor.  Their past decisions keep their name in each item's history.

    UserError when there is no such editor, or when they are the last administrator and
    other accounts remain (nobody could manage those any more)."""
    with store.transaction():
        user = find_user(store, name)
        if user is None:
            raise UserError(f"no editor named {name!r}")
        others = [u for u in store.users() if u.name != user.name]
        if others and [a.name for a in admins(store)] == [user.name]:
            raise UserError(
                f"{user.name!r} is the last administrator: make another one first "
                "(`curator user add --admin`)"
            )
        if not store.delete_user(user.name):
            raise UserError(f"no editor named {name!r}")


# --------------------------------------------------------------------------- first run


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def setup_link_token(store: Store, *, now: datetime | None = None) -> str | None:
    """A fresh one-time token for ``/setup?token=…`` while no editor exists, else None.

    Each call replaces the previous token (a restarted ``serve`` prints a new link and the old
    one stops working).  Only the token's SHA-256 is stored.
    """
    with store.transaction():
        if has_editors(store):
            if store.get_meta(SETUP_META_KEY) is not None:
                store.put_meta(SETUP_META_KEY, None)
            return None
        token = secrets.token_urlsafe(32)
        created = (now or _now()).isoformat()
        store.put_meta(SETUP_META_KEY, {"sha256": _token_digest(token), "created_at": created})
    return token


def check_setup_token(store: Store, token: str) -> bool:
    """True while the token is the current one and no editor exists yet."""
    meta: Any = store.get_meta(SETUP_META_KEY)
    if not token or not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
        return False
    if not hmac.compare_digest(meta["sha256"], _token_digest(token)):
        return False
    return not has_editors(store)


def complete_setup(
    store: Store, token: str, name: str, password_hash: str, *, now: datetime | None = None
) -> User:
    """Create the first editor with the one-time token and burn the token, in one
    transaction.  Single use: a second call, or any once an editor exists, raises UserError.
    The password is hashed beforehand (:func:`hash_password`), outside the store's lock."""
    validate_name(name)
    with store.transaction():
        if not check_setup_token(store, token):
            raise UserError("this setup link is not valid: it was used already or replaced")
        user = create_user(store, name, password_hash, now=now)
        store.put_meta(SETUP_META_KEY, None)
    return user


# --------------------------------------------------------------------------- throttling


def signin_epoch(store: Store, user: User | None) -> str:
    """What the throttle files an account's failures under: it moves on when the password
    changes or ``curator user unlock`` runs (:func:`unlock`), so either one clears the
    account's failures in a running ``serve`` without touching its memory."""
    if user is None:
        return ""
    generation = store.get_meta(UNLOCK_PREFIX + user.name, 0)
    if not isinstance(generation, int) or isinstance(generation, bool):
        generation = 0
    return f"{generation}.{session_fingerprint(user)}"


def unlock(store: Store, name: str) -> User:
    """Forget the failed sign-ins against this editor (``curator user unlock NAME``)."""
    with store.transaction():
        user = find_user(store, name)
        if user is None:
            raise UserError(f"no editor named {name!r}")
        key = UNLOCK_PREFIX + user.name
        current = store.get_meta(key, 0)
        store.put_meta(key, (current if isinstance(current, int) else 0) + 1)
    return user


@dataclass(frozen=True)
class Attempt:
    """What :meth:`SignInThrottle.attempt` decided: go ahead (``wait == 0``, counted at
    ``at`` under ``keys``) or wait ``wait`` seconds first."""

    wait: float
    at: float | None
    keys: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.at is not None


class SignInThrottle:
    """Failed sign-ins counted three ways, in memory; an attempt waits for the longest of:

    * **one account from one address** (``per_pair`` within ``window``): the guesser is
      locked out of that account for the window, and only from their address;
    * **one address, any names** (``per_address`` within ``window``): a guesser trying many
      names;
    * **one account, every address** (``per_account`` within ``window``): never a lock-out,
      only a pace of one attempt per ``pace`` seconds, so guesses spread over many
      addresses slow down while the editor, from a new address, still gets in.

    The first two also slow down exponentially: after ``free`` failures, each further attempt
    waits ``base_delay * 2**(n - free - 1)`` seconds (capped at ``max_delay``) after the last.

    Five wrong passwords from anywhere used to lock the editor out everywhere, renewable
    forever by anyone who knew the name; the per-pair rule is what replaced that.

    ``epoch`` (:func:`signin_epoch`) is part of the account's keys, so a new password or
    :func:`unlock` starts the account afresh; the address keeps its count.  The process
    forgets everything on restart; ``max_keys`` bounds the state against a flood of names.

    The web app calls :meth:`attempt` before it checks a password: the attempt is counted as
    a failure at once, and :meth:`succeeded` refunds it.  Checking first and counting after
    the (slow, awaited) hash check would let many concurrent requests all pass the check.
    """

    def __init__(
        self,
        *,
        per_pair: int = 5,
        per_address: int = 20,
        per_account: int = 100,
        window: float = 900.0,
        pace: float = 5.0,
        free: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_pair = per_pair
        self.per_address = per_address
        self.per_account = per_account
        self.window = window
        self.pace = pace
        self.free = free
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _keys(account: str, address: str, epoch: str) -> tuple[str, str, str]:
        """(pair, address, account) keys; the name is compared case-folded."""
        name = account.casefold()
        return f"p:{epoch}:{name}\0{address}", f"a:{address}", f"u:{epoch}:{name}"

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def _locking(self, times: deque[float], limit: int, now: float) -> float:
        n = len(times)
        wait = 0.0
        if n >= limit:
            wait = times[0] + self.window - now
        if n > self.free:
            delay = min(self.base_delay * 2 ** (n - self.free - 1), self.max_delay)
            wait = max(wait, times[-1] + delay - now)
        return max(wait, 0.0)

    def _pacing(self, times: deque[float], now: float) -> float:
        if len(times) < self.per_account:
            return 0.0
        return max(times[-1] + self.pace - now, 0.0)

    def _wait(self, keys: tuple[str, str, str], now: float) -> float:
        pair, address, account = keys
        return max(
            self._locking(self._recent(pair, now), self.per_pair, now),
            self._locking(self._recent(address, now), self.per_address, now),
            self._pacing(self._recent(account, now), now),
        )

    def failures(self, account: str, epoch: str = "") -> int:
        """Failed sign-ins against ``account`` (from any address) within the window: what the
        administrators' page shows beside its Unlock button."""
        now = self._clock()
        key = self._keys(account, "", epoch)[2]
        with self._holding((key,)):
            return len(self._recent(key, now))

    def retry_after(self, account: str, address: str, epoch: str = "") -> float:
        """Seconds to wait before this attempt may be checked; 0.0 when it may be now."""
        now = self._clock()
        keys = self._keys(account, address, epoch)
        with self._holding(keys):
            return self._wait(keys, now)

    def attempt(self, account: str, address: str, epoch: str = "") -> Attempt:
        """Admit an attempt and count it as a failure now, or say how long to wait.

        Check and count are one step under the lock, so concurrent attempts cannot all pass
        on the same count.  Report a success with :meth:`succeeded` to take the count back;
        a failure needs nothing more.
        """
        now = self._clock()
        keys = self._keys(account, address, epoch)
        with self._holding(keys):
            wait = self._wait(keys, now)
            if wait > 0:
                return Attempt(wait=wait, at=None)
            self._record(keys, now)
        return Attempt(wait=0.0, at=now, keys=keys)

    def failed(self, account: str, address: str, epoch: str = "") -> None:
        now = self._clock()
        keys = self._keys(account, address, epoch)
        with self._holding(keys):
            self._record(keys, now)

    def _record(self, keys: tuple[str, ...], now: float) -> None:
        for key in keys:
            times = self._recent(key, now)
            if key not in self._failures:
                self._failures[key] = times
            self._failures.move_to_end(key)
            times.append(now)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, attempt: Attempt) -> None:
        """Take back the attempt's count and forget the pair's failures (the editor is back);
        the address and the account keep the rest of theirs (one good sign-in must not reset
        a guessing run against other names, or from other addresses)."""
        with self._holding(attempt.keys):
            self._take_back(attempt)
            if attempt.keys:
                self._failures.pop(attempt.keys[0], None)

    def refund(self, attempt: Attempt) -> None:
        """Take back an attempt that was never decided (the check itself failed)."""
        with self._holding(attempt.keys):
            self._take_back(attempt)

    def _holding(self, keys: tuple[str, ...]) -> contextlib.AbstractContextManager[Any]:
        """The failures of *keys* in ``_failures``, for one check-and-count: here the
        process's own, under its lock (:class:`SharedSignInThrottle` loads them)."""
        return self._lock

    def _take_back(self, attempt: Attempt) -> None:
        for key in attempt.keys:
            times = self._failures.get(key)
            if times is None:
                continue
            with contextlib.suppress(ValueError):  # already out of the window
                times.remove(attempt.at)  # type: ignore[arg-type]
            if not times:
                del self._failures[key]


class FailureLedger(Protocol):
    """Where :class:`SharedSignInThrottle` keeps failed sign-ins: a database every instance
    reads (:meth:`curator.store.postgres.PostgresStore.signin_failures`)."""

    def transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def signin_failures(self, keys: tuple[str, ...], since: float) -> dict[str, list[float]]: ...

    def set_signin_failures(self, times: dict[str, list[float]], since: float) -> None: ...


class SharedSignInThrottle(SignInThrottle):
    """The same three limits, counted across every instance on one database.

    Behind a load balancer an in-memory count would give a guesser one budget per instance;
    here each decision loads the keys' failures from the ledger, applies
    :class:`SignInThrottle`'s own rules to them, and writes back what changed, all in one store
    transaction (serialised with every other), so concurrent attempts on different instances
    cannot pass on the same count.  Times are wall-clock seconds (instances share no
    monotonic clock).
    """

    def __init__(
        self, ledger: FailureLedger, *, clock: Callable[[], float] = time.time, **limits: Any
    ) -> None:
        super().__init__(clock=clock, **limits)
        self._ledger = ledger

    @contextlib.contextmanager
    def _holding(self, keys: tuple[str, ...]) -> Iterator[None]:
        """Load *keys*' failures from the ledger, let :class:`SignInThrottle`'s rules read
        and change them, and write back what changed, in one store transaction."""
        if not keys:
            yield
            return
        since = self._clock() - self.window
        with self._ledger.transaction(), self._lock:
            found = self._ledger.signin_failures(keys, since)
            self._failures = OrderedDict((k, deque(found.get(k, ()))) for k in keys)
            yield
            after = {k: list(self._failures.get(k, ())) for k in keys}
            if after != {k: found.get(k, []) for k in keys}:
                self._ledger.set_signin_failures(after, since)
            self._failures = OrderedDict()
