"""subscribers.py: readers kept in the store, seeded from feeds.yaml, and the signed link in
every digest (received by a real SMTP server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from curator import digests, subscribers
from curator.exceptions import DigestError, UserError
from curator.mailer import Mailer
from curator.secret_key import session_secret
from curator.store import Store, TinyDBStore
from tests.smtpserver import SmtpServer, smtp_server
from tests.test_digests import WEDNESDAY, Clock, make_config, make_item, put

SECRET = "s" * 40
LINK = re.compile(r"https://curator\.example\.org/unsubscribe/[A-Za-z0-9_.\-]+")


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with smtp_server() as s:
        yield s


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return TinyDBStore(tmp_path / "store")


def test_seeds_then_the_store(store: Store, tmp_path: Path) -> None:
    config = make_config(None, tmp_path)  # feeds.yaml names a@ and "Bé Reader <b@>"
    assert subscribers.readers(config, store) == ["a@example.org", "Bé Reader <b@example.org>"]
    assert subscribers.add(store, " New <New@Example.org> ", now=WEDNESDAY, by="ed") == (
        "New@Example.org"
    )
    found = subscribers.subscribers(config, store)
    assert [(s.address, s.origin, s.by) for s in found] == [
        ("New <New@Example.org>", "store", "ed"),
        ("a@example.org", "feeds.yaml", None),
        ("Bé Reader <b@example.org>", "feeds.yaml", None),
    ]
    assert found[0].since == WEDNESDAY


def test_removing_a_seed_sticks_and_adding_brings_it_back(store: Store, tmp_path: Path) -> None:
    config = make_config(None, tmp_path)
    assert subscribers.remove(config, store, "B@example.org", now=WEDNESDAY)
    assert subscribers.readers(config, TinyDBStore(store.path)) == ["a@example.org"]  # re-read
    assert not subscribers.remove(config, store, "b@example.org", now=WEDNESDAY)
    assert not subscribers.remove(config, store, "nobody@example.org", now=WEDNESDAY)
    subscribers.add(store, "b@example.org", now=WEDNESDAY)
    assert subscribers.readers(config, store) == ["b@example.org", "a@example.org"]


@pytest.mark.parametrize("bad", ["", "not an address", "a@b\n.org", "ü@example.org"])
def test_a_bad_address_is_the_administrators_error(store: Store, bad: str) -> None:
    with pytest.raises(UserError):
        subscribers.add(store, bad, now=WEDNESDAY)
    assert subscribers.readers(make_config(None, store.path.parent, recipients=[]), store) == []


def test_a_bad_seed_still_names_its_key(store: Store, tmp_path: Path) -> None:
    config = make_config(None, tmp_path, recipients=["nope"])
    with pytest.raises(DigestError, match=r"digest\.recipients\[0\]"):
        subscribers.readers(config, store)


def test_tokens_name_their_address_and_cannot_be_forged() -> None:
    token = subscribers.unsubscribe_token(SECRET, "Bé Reader <B@example.org>")
    assert subscribers.token_address(SECRET, token) == "b@example.org"
    assert subscribers.token_address("t" * 40, token) is None
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert subscribers.token_address(SECRET, tampered) is None
    assert subscribers.token_address(SECRET, "garbage") is None


def test_every_digest_carries_its_readers_own_one_click_link(
    server: SmtpServer, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURATOR_SECRET_KEY", SECRET)
    config = make_config(server, tmp_path, editors=["ed@example.org"])
    config = config.model_copy(
        update={
            "publish": config.publish.model_copy(
                update={"base_url": "https://curator.example.org/"}
            )
        }
    )
    put(store, make_item(1))
    result = digests.send_due(
        config, store, Mailer(config.digest.smtp), clock=Clock(WEDNESDAY), force=True
    )
    assert result.outcome == "sent"
    by_to = {m.rcpt_tos[0]: m.message for m in server.messages}
    assert set(by_to) == {"a@example.org", "b@example.org", "ed@example.org"}
    for address in ("a@example.org", "b@example.org"):
        msg = by_to[address]
        header = str(msg["List-Unsubscribe"])
        url = LINK.search(header)
        assert url is not None and header.startswith(f"<{url.group(0)}>, <mailto:")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        token = url.group(0).rsplit("/", 1)[1]
        assert subscribers.token_address(session_secret(store), token) == address
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        assert text is not None and html is not None
        assert url.group(0) in text.get_content()
        assert f'href="{url.group(0)}"' in html.get_content()
    note = by_to["ed@example.org"]  # the editors' note is not a list: no link
    assert note["List-Unsubscribe"] is None and note["List-Unsubscribe-Post"] is None


def test_an_http_base_url_links_in_the_body_but_claims_no_one_click(
    server: SmtpServer, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURATOR_SECRET_KEY", SECRET)
    config = make_config(server, tmp_path, recipients=["a@example.org"])
    put(store, make_item(1))
    digests.send_due(config, store, Mailer(config.digest.smtp), clock=Clock(WEDNESDAY), force=True)
    [received] = server.messages
    msg = received.message
    assert msg["List-Unsubscribe-Post"] is None  # RFC 8058 one-click needs https
    assert "http://127.0.0.1:8080/unsubscribe/" in str(msg["List-Unsubscribe"])


def test_previews_carry_no_placeholder(store: Store, tmp_path: Path) -> None:
    config = make_config(None, tmp_path)
    put(store, make_item(1))
    eml = digests.preview_message(config, store, WEDNESDAY, "eml")
    assert isinstance(eml, bytes) and b"unsubscribe.invalid" not in eml


def test_an_unsubscribed_reader_gets_no_digest(
    server: SmtpServer, store: Store, tmp_path: Path
) -> None:
    config = make_config(server, tmp_path)
    subscribers.remove(config, store, "a@example.org", now=WEDNESDAY)
    put(store, make_item(1))
    digests.send_due(config, store, Mailer(config.digest.smtp), clock=Clock(WEDNESDAY), force=True)
    assert [m.rcpt_tos for m in server.messages] == [["b@example.org"]]
