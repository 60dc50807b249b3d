"""Accounts, passwords, sessions and the sign-in throttle, through ``curator.auth`` on a real
store.  The web tests show these at work; these pin the edges the mutation run
(``bench/mutation.py auth``) found unguarded: the limits to the character, who counts as an
administrator in an old store, the session and unlock counters, and which names the throttle
forgets first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from argon2 import PasswordHasher

from curator import auth
from curator.exceptions import UserError
from curator.store import Store, TinyDBStore
from curator.types import User

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return TinyDBStore(tmp_path / "store")


def _put(store: Store, name: str, minutes: int, *, admin: bool = False) -> User:
    """An account as a store from before the admin flag holds it: written directly."""
    user = User(name, FAST.hash("x" * 12), T0 + timedelta(minutes=minutes), admin=admin)
    with store.transaction():
        store.put_user(user)
    return user


def test_password_length_limits_fall_exactly_where_they_say() -> None:
    auth.validate_password("p" * auth.MIN_PASSWORD)
    with pytest.raises(UserError, match=f"too short: use at least {auth.MIN_PASSWORD} char"):
        auth.validate_password("p" * (auth.MIN_PASSWORD - 1))
    auth.validate_password("p" * auth.MAX_PASSWORD)
    with pytest.raises(UserError, match=f"too long: use at most {auth.MAX_PASSWORD} characters"):
        auth.validate_password("p" * (auth.MAX_PASSWORD + 1))
    with pytest.raises(UserError, match="only spaces"):
        auth.validate_password(" " * auth.MIN_PASSWORD)


def test_the_default_hasher_is_argon2id_and_checks_what_it_hashed() -> None:
    hashed = auth.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    user = User("alice", hashed, T0)
    assert auth.check_password(user, "correct horse battery")
    assert not auth.check_password(user, "correct horse batterY")
    assert not auth.check_password(None, "correct horse battery")
    assert not auth.needs_rehash(user)


def test_in_a_store_without_admin_flags_the_oldest_account_is_the_administrator(
    store: Store,
) -> None:
    assert auth.admins(store) == []
    bob = _put(store, "bob", 5)
    alice = _put(store, "alice", 1)
    carol = _put(store, "carol", 1)  # as old as alice: the name decides
    assert [u.name for u in auth.admins(store)] == ["alice"]
    assert auth.is_admin(store, alice)
    assert not auth.is_admin(store, bob) and not auth.is_admin(store, carol)
    flagged = _put(store, "dave", 9, admin=True)
    assert [u.name for u in auth.admins(store)] == ["dave"]  # a flag ends the fallback
    assert auth.is_admin(store, flagged) and not auth.is_admin(store, alice)


def test_the_last_administrator_cannot_be_removed_while_others_remain(store: Store) -> None:
    _put(store, "alice", 1)
    _put(store, "bob", 5)
    with pytest.raises(UserError, match="'alice' is the last administrator"):
        auth.remove_user(store, "alice")
    auth.remove_user(store, "bob")
    auth.remove_user(store, "alice")  # the only account left: nobody is stranded
    assert store.users() == []


@pytest.mark.parametrize(
    "action",
    [
        lambda s: auth.remove_user(s, "nobody"),
        lambda s: auth.change_password(s, "nobody", "a long new password", hasher=FAST),
        lambda s: auth.unlock(s, "nobody"),
        lambda s: auth.set_password_hash(s, "nobody", "x"),
    ],
)
def test_an_unknown_editor_is_named_in_the_error(store: Store, action: object) -> None:
    _put(store, "alice", 1)
    with pytest.raises(UserError, match="no editor named 'nobody'"):
        action(store)  # type: ignore[operator]


def test_session_generations_start_at_zero_and_only_move_on(store: Store) -> None:
    assert auth.session_generation(store, "alice") == 0
    assert auth.end_sessions(store, "alice") == 1
    assert auth.end_sessions(store, "alice") == 2
    assert auth.end_sessions(store, "alice", after=7) == 8  # past one ended in memory only
    assert auth.end_sessions(store, "alice", after=3) == 9
    with store.transaction():
        store.put_meta(auth.SESSION_GEN_PREFIX + "bob", True)  # not a number: read as 0
    assert auth.session_generation(store, "bob") == 0


def test_unlock_and_a_new_password_each_give_the_account_a_fresh_epoch(store: Store) -> None:
    alice = _put(store, "alice", 1)
    first = auth.signin_epoch(store, alice)
    assert first.startswith("0.")
    assert auth.unlock(store, "ALICE").name == "alice"  # names compare case-folded
    second = auth.signin_epoch(store, alice)
    assert second.startswith("1.") and second != first
    auth.unlock(store, "alice")
    assert auth.signin_epoch(store, alice).startswith("2.")
    changed = auth.change_password(store, "alice", "another long password", hasher=FAST)
    assert auth.signin_epoch(store, changed).split(".")[1] != second.split(".")[1]
    assert auth.signin_epoch(store, None) == ""


def test_a_setup_link_works_once_and_only_while_nobody_exists(store: Store) -> None:
    token = auth.setup_link_token(store, now=T0)
    assert token and auth.check_setup_token(store, token)
    meta = store.get_meta(auth.SETUP_META_KEY)
    assert isinstance(meta, dict) and meta["created_at"] == T0.isoformat()
    assert token not in str(meta)  # only its digest is kept
    user = auth.complete_setup(store, token, "alice", FAST.hash("x" * 12), now=T0)
    assert user.admin
    with pytest.raises(UserError, match="not valid: it was used already or replaced"):
        auth.complete_setup(store, token, "bob", FAST.hash("x" * 12), now=T0)
    assert auth.setup_link_token(store) is None
    assert store.get_meta(auth.SETUP_META_KEY) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_forgets_the_names_least_recently_failed_first() -> None:
    clock = Clock()
    throttle = auth.SignInThrottle(max_keys=5, clock=clock)  # pair, account + one address
    throttle.failed("a", "10.0.0.1")
    throttle.failed("b", "10.0.0.1")
    throttle.failed("a", "10.0.0.1")  # a is the most recent again
    throttle.failed("c", "10.0.0.1")
    assert throttle.failures("a") == 2 and throttle.failures("c") == 1
    assert throttle.failures("b") == 0  # forgotten: the least recently failed name


def test_failures_from_one_address_lock_only_that_pair_for_the_window() -> None:
    clock = Clock()
    throttle = auth.SignInThrottle(per_pair=5, free=10, clock=clock)
    for _ in range(5):
        assert throttle.attempt("alice", "10.0.0.1").allowed
    refused = throttle.attempt("alice", "10.0.0.1")
    assert not refused.allowed and refused.wait == pytest.approx(900.0)
    assert throttle.attempt("alice", "10.0.0.2").allowed  # the editor, elsewhere
    clock.now += 900.0
    assert throttle.attempt("alice", "10.0.0.1").allowed


# ------------------------------------------------ several instances on one database (issue 13)


def two_instances(
    database_url: str, store_at: Callable[..., Store], clock: Clock, **limits: Any
) -> list[auth.SharedSignInThrottle]:
    """The throttles of two instances behind one load balancer, on one database."""
    return [
        auth.SharedSignInThrottle(
            cast(auth.FailureLedger, store_at(database_url)), clock=clock, **limits
        )
        for _ in range(2)
    ]


def test_failures_on_one_instance_count_on_the_other(
    database_url: str, store_at: Callable[..., Store]
) -> None:
    clock = Clock()
    a, b = two_instances(database_url, store_at, clock, per_pair=5, free=10)
    for throttle in (a, b, a, b, a):  # a guesser spread across instances
        assert throttle.attempt("alice", "10.0.0.1").allowed
    refused = b.attempt("alice", "10.0.0.1")
    assert not refused.allowed and refused.wait == pytest.approx(900.0)
    assert a.failures("alice") == 5 == b.failures("alice")
    assert a.attempt("alice", "10.0.0.2").allowed  # the editor, elsewhere
    clock.now += 900.0
    good = b.attempt("alice", "10.0.0.1")
    assert good.allowed
    a.succeeded(good)  # the other instance takes the success back
    assert b.failures("alice") == 0  # the window passed for the five; the sixth refunded


def test_the_shared_slowdown_doubles_as_the_memory_one_does(
    database_url: str, store_at: Callable[..., Store]
) -> None:
    clock = Clock()
    limits: dict[str, Any] = {"per_pair": 100, "per_address": 100, "window": 3600, "free": 2}
    shared = two_instances(database_url, store_at, clock, **limits)
    alone = auth.SignInThrottle(clock=clock, **limits)
    waits: list[tuple[float, float]] = []
    for n in range(6):
        waits.append((shared[n % 2].retry_after("a", "1.2.3.4"), alone.retry_after("a", "1.2.3.4")))
        shared[n % 2].failed("a", "1.2.3.4")
        alone.failed("a", "1.2.3.4")
    assert waits == [(w, w) for w in (0.0, 0.0, 0.0, 1.0, 2.0, 4.0)]
    refund = shared[0].attempt("z", "5.5.5.5")
    shared[1].refund(refund)
    assert shared[0].failures("z") == 0
