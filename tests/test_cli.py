"""Every command and every error path, run through ``curator.cli.main`` and, for the entry
points, as real processes; results are checked through the library (the store)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from curator.cli import build_parser, main
from curator.exceptions import UserError
from curator.store import TinyDBStore
from tests.feedserver import FeedServer
from tests.smtpserver import smtp_server

ROOT = Path(__file__).resolve().parent.parent

FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Test</title><link>https://example.org/</link>
<item><title>Council approves upgrade of town centre CCTV network</title>
<link>https://news.example.org/cctv-upgrade</link>
<description>Police and the council will share the new CCTV cameras.</description>
<pubDate>Mon, 02 Nov 2026 08:00:00 GMT</pubDate></item>
<item><title>Police expand live facial recognition vans</title>
<link>https://news.example.org/lfr</link>
<description>The Met police said live facial recognition would be used more.</description>
<pubDate>Sun, 01 Nov 2026 08:00:00 GMT</pubDate></item>
</channel></rss>"""


@pytest.fixture
def env(tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config with one local source; CURATOR_CONFIG/CURATOR_STORE point at tmp files."""
    url = feed_server.route("/feed.xml", FEED, etag='"1"')
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(
        "fetch:\n  jitter: 0\nsources:\n"
        f"  - id: local\n    name: Local news\n    url: {url}\n"
        "  - id: dead\n    name: Dead\n    url: http://127.0.0.1:9/none\n    enabled: false\n"
        "rules:\n  min_score: 3\n  include: {cctv: 3, live facial recognition: 4}\n"
        "digest:\n  recipients: [reader@example.org]\n"
    )
    monkeypatch.setenv("CURATOR_CONFIG", str(cfg))
    monkeypatch.setenv("CURATOR_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("CURATOR_EDITOR", "tester")
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def fetched_ids(env: Path) -> dict[str, str]:
    return {i.title: i.id for i in TinyDBStore(env / "store").items()}


def test_check_ok_and_bundled(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    code, out, err = cli(capsys, "check")
    assert code == 0 and "OK" in out and "2 sources (1 enabled)" in out
    assert "fetch.contact is not set" in err  # publishers could not reach us
    code, out, _ = cli(capsys, "--config", str(ROOT / "feeds.yaml"), "check")
    assert code == 0


def test_check_invalid_file_exit_2_and_store_untouched(
    capsys: pytest.CaptureFixture[str], env: Path
) -> None:
    bad = env / "bad.yaml"
    bad.write_text("sources:\n  - id: a\n    name: A\n    url: nope\n    interval: soon\n")
    code, _, err = cli(capsys, "--config", str(bad), "fetch")
    assert code == 2
    assert f"{bad}:4: sources[0] (id a).url" in err and f"{bad}:5:" in err
    assert not (env / "store").exists()


def test_check_reports_unusable_rule_terms(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    bad = env / "bad.yaml"
    bad.write_text("rules:\n  include: {'***': 3}\n")
    code, _, err = cli(capsys, "--config", str(bad), "check")
    assert code == 2 and "rules.include" in err


def test_fetch_items_and_review_cycle(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    code, out, _ = cli(capsys, "fetch")
    assert code == 0
    assert re.search(r"^local\s+ok\s+2 entries, 2 matched, 2 new", out, re.M)
    assert "1 source: 1 fetched, 0 not modified, 2 entries, 2 matched, 2 new" in out

    code, out, _ = cli(capsys, "fetch", "--json")
    report = json.loads(out)
    assert (
        report["totals"]["not_modified"] == 1 and report["sources"][0]["outcome"] == "not_modified"
    )

    code, out, _ = cli(capsys, "items", "--json")
    items = json.loads(out)
    assert items[0]["title"].startswith("Council")  # newest first
    for key in (
        "id",
        "url",
        "title",
        "summary",
        "sources",
        "category",
        "published",
        "first_seen",
        "score",
        "matched",
        "status",
        "reviewed_by",
        "reviewed_at",
        "note",
    ):
        assert key in items[0]
    ids = fetched_ids(env)
    cctv = ids["Council approves upgrade of town centre CCTV network"]
    lfr = ids["Police expand live facial recognition vans"]

    assert cli(capsys, "approve", cctv, "--note", "good one")[0] == 0
    assert cli(capsys, "reject", lfr, "--by", "alice")[0] == 0
    store = TinyDBStore(env / "store")
    a, r = store.get_item(cctv), store.get_item(lfr)
    assert (
        a is not None
        and a.status == "approved"
        and a.reviewed_by == "tester"
        and a.note == "good one"
    )
    assert r is not None and r.status == "rejected" and r.reviewed_by == "alice"

    code, out, _ = cli(
        capsys, "edit", cctv, "--title", "Town centre CCTV upgraded", "--category", "guidance"
    )
    assert code == 0
    e = TinyDBStore(env / "store").get_item(cctv)
    assert e is not None and e.title == "Town centre CCTV upgraded" and e.category == "guidance"
    assert e.original["title"].startswith("Council approves")

    assert cli(capsys, "undo", cctv)[0] == 0
    u = TinyDBStore(env / "store").get_item(cctv)
    assert u is not None and u.title.startswith("Council approves") and u.status == "approved"

    assert cli(capsys, "reopen", lfr)[0] == 0
    p = TinyDBStore(env / "store").get_item(lfr)
    assert p is not None and p.status == "pending" and p.reviewed_by is None

    code, out, _ = cli(capsys, "items", "--status", "approved")
    assert cctv in out and lfr not in out
    code, out, _ = cli(capsys, "items", "--status", "all", "--limit", "1")
    assert len(out.strip().splitlines()) == 1


@pytest.mark.parametrize(("command", "status"), [("approve", "approved"), ("reject", "rejected")])
def test_deciding_again_says_so_and_adds_no_history(
    capsys: pytest.CaptureFixture[str], env: Path, command: str, status: str
) -> None:
    cli(capsys, "fetch")
    ids = fetched_ids(env)
    cctv = ids["Council approves upgrade of town centre CCTV network"]
    lfr = ids["Police expand live facial recognition vans"]
    assert cli(capsys, command, cctv)[0] == 0
    before = TinyDBStore(env / "store").get_item(cctv)
    code, out, _ = cli(capsys, command, cctv, lfr, "--by", "alice")
    assert code == 0
    assert f"already {status} {cctv}" in out and "(unchanged)" in out
    assert re.search(rf"^{status} {lfr}", out, re.M)
    after = TinyDBStore(env / "store").get_item(cctv)
    assert after == before  # no history, and still credited to whoever decided first
    assert after is not None and [e.action for e in after.history][-1] == status
    assert after.reviewed_by == "tester"


@pytest.mark.parametrize("command", ["approve", "reject"])
def test_a_batch_with_an_unknown_id_says_nothing_changed(
    capsys: pytest.CaptureFixture[str], env: Path, command: str
) -> None:
    cli(capsys, "fetch")
    cctv = fetched_ids(env)["Council approves upgrade of town centre CCTV network"]
    code, out, err = cli(capsys, command, cctv, "0123456789abcdef")
    assert code == 1 and out == ""
    assert "no item with id '0123456789abcdef'" in err
    assert "nothing changed: none of the 2 items was" in err
    item = TinyDBStore(env / "store").get_item(cctv)
    assert item is not None and item.status == "pending"


@pytest.mark.parametrize("command", ["approve", "reject", "edit", "reopen", "undo"])
def test_unknown_item_is_exit_1(
    capsys: pytest.CaptureFixture[str], env: Path, command: str
) -> None:
    args = [command, "0123456789abcdef"] + (["--title", "x"] if command == "edit" else [])
    code, _, err = cli(capsys, *args)
    assert code == 1 and "no item with id '0123456789abcdef'" in err


def test_edit_without_changes_is_usage_error(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    code, _, err = cli(capsys, "edit", "0123456789abcdef")
    assert code == 2 and "at least one of" in err


def test_fetch_unknown_source(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    code, _, err = cli(capsys, "fetch", "--source", "nope")
    assert code == 2 and "no source with id 'nope'" in err and "local" in err


def test_sources_health(
    capsys: pytest.CaptureFixture[str], env: Path, feed_server: FeedServer
) -> None:
    code, out, _ = cli(capsys, "sources")
    assert code == 0 and "never polled" in out and "disabled" in out
    cli(capsys, "fetch")
    feed_server.status("/feed.xml", 503, retry_after=60)
    cli(capsys, "fetch", "--source", "local")
    code, out, _ = cli(capsys, "sources", "--json")
    (local,) = [s for s in json.loads(out) if s["id"] == "local"]
    assert local["health"] == "failing (1)" and "503" in local["last_error"]
    assert local["items_total"] == 2 and local["last_success"]
    code, out, _ = cli(capsys, "sources")
    assert "error:" in out and "503" in out


def test_user_commands(
    capsys: pytest.CaptureFixture[str], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(capsys, "user", "list")
    assert "no editors yet" in out
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
    assert cli(capsys, "user", "add", "alice", "--password-stdin")[0] == 0
    assert TinyDBStore(env / "store").get_user("alice") is not None
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
    code, _, err = cli(capsys, "user", "add", "alice", "--password-stdin")
    assert code == 1 and "already exists" in err
    old = TinyDBStore(env / "store").get_user("alice")
    monkeypatch.setattr(sys, "stdin", io.StringIO("another long passphrase\n"))
    assert cli(capsys, "user", "passwd", "alice", "--password-stdin")[0] == 0
    new = TinyDBStore(env / "store").get_user("alice")
    assert old is not None and new is not None and old.password_hash != new.password_hash
    code, out, _ = cli(capsys, "user", "list")
    assert "alice" in out
    assert cli(capsys, "user", "remove", "alice")[0] == 0
    code, _, err = cli(capsys, "user", "remove", "alice")
    assert code == 1 and "no editor named 'alice'" in err


def test_user_add_admin_and_the_last_admin_stays(
    capsys: pytest.CaptureFixture[str], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first account is an administrator; `--admin` makes more; the last one cannot go
    while other accounts remain, and a new password keeps the flag."""
    for name, extra in (("alice", ()), ("bob", ()), ("carol", ("--admin",))):
        monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
        code, out, _ = cli(capsys, "user", "add", name, "--password-stdin", *extra)
        assert code == 0
    store = TinyDBStore(env / "store")
    flags = {u.name: u.admin for u in store.users()}
    assert flags == {"alice": True, "bob": False, "carol": True}
    code, out, _ = cli(capsys, "user", "list")
    assert re.search(r"carol .* administrator", out) and not re.search(r"bob .*admin", out)
    monkeypatch.setattr(sys, "stdin", io.StringIO("another long passphrase\n"))
    assert cli(capsys, "user", "passwd", "carol", "--password-stdin")[0] == 0
    assert cli(capsys, "user", "remove", "alice")[0] == 0
    code, _, err = cli(capsys, "user", "remove", "carol")
    assert code == 1 and "last administrator" in err
    assert TinyDBStore(env / "store").get_user("carol") is not None
    assert cli(capsys, "user", "remove", "bob")[0] == 0
    assert cli(capsys, "user", "remove", "carol")[0] == 0  # the only account may go


def test_a_store_from_before_admins_treats_its_oldest_account_as_one(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from curator import auth
    from curator.types import User

    store = TinyDBStore(tmp_path / "store")
    with store.transaction():
        store.put_user(User("zoe", "h", datetime(2026, 1, 1, tzinfo=UTC)))
        store.put_user(User("adam", "h", datetime(2026, 2, 1, tzinfo=UTC)))
    assert [u.name for u in auth.admins(store)] == ["zoe"]
    zoe, adam = store.get_user("zoe"), store.get_user("adam")
    assert zoe is not None and adam is not None
    assert auth.is_admin(store, zoe) and not auth.is_admin(store, adam)
    with pytest.raises(UserError, match="last administrator"):
        auth.remove_user(store, "zoe")
    auth.create_user(store, "mia", "h", admin=True)
    assert [u.name for u in auth.admins(store)] == ["mia"]
    assert not auth.is_admin(store, zoe)


def test_user_add_without_terminal_needs_password_stdin(
    capsys: pytest.CaptureFixture[str], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = cli(capsys, "user", "add", "bob")
    assert code == 2 and "--password-stdin" in err


def test_publish_and_digest(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    cli(capsys, "fetch")
    ids = fetched_ids(env)
    cli(capsys, "approve", *ids.values())
    out_dir = env / "site"
    code, out, _ = cli(capsys, "publish", "--out", str(out_dir))
    assert code == 0
    assert {p.name for p in out_dir.iterdir() if not p.name.startswith(".")} == {
        "links.json",
        "links.rss",
        "links.atom",
        "links.html",
    }
    feed = json.loads((out_dir / "links.json").read_text())
    assert len(feed["items"]) == 2

    code, _, err = cli(capsys, "publish")
    assert code == 2 and "--out DIR" in err

    preview = env / "next.txt"
    assert cli(capsys, "digest", "preview", "--out", str(preview))[0] == 0
    assert "live facial recognition" in preview.read_text()
    code, out, _ = cli(capsys, "digest", "preview")
    assert code == 0 and "<html" in out.lower()
    code, _, err = cli(capsys, "digest", "preview", "--out", str(env / "x.pdf"))
    assert code == 2 and ".eml" in err

    cfg = Path(str(env / "feeds.yaml"))
    with smtp_server() as server:
        cfg.write_text(cfg.read_text() + f"  smtp: {{host: 127.0.0.1, port: {server.port}}}\n")
        code, out, _ = cli(capsys, "digest", "send", "--dry-run")
        assert code == 0 and not server.messages
        code, out, _ = cli(capsys, "digest", "send")
        assert code == 0
        assert [m.rcpt_tos for m in server.messages] == [["reader@example.org"]]
        code, out, _ = cli(capsys, "digest", "send")
        assert code == 0 and len(server.messages) == 1  # never twice
    code, out, _ = cli(capsys, "digest", "list", "--items")
    assert (
        code == 0 and "1/1 sent" in out and ids["Police expand live facial recognition vans"] in out
    )


def test_digest_send_mail_error_is_exit_1(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    cfg = env / "feeds.yaml"
    cfg.write_text(cfg.read_text() + "  smtp: {host: 127.0.0.1, port: 9}\n")
    cli(capsys, "fetch")
    cli(capsys, "approve", *fetched_ids(env).values())
    code, _, err = cli(capsys, "digest", "send")
    assert code == 1 and "127.0.0.1:9" in err


def test_corrupt_store_is_reported_not_overwritten(
    capsys: pytest.CaptureFixture[str], env: Path
) -> None:
    cli(capsys, "fetch")
    broken = env / "store" / "sources.json"
    broken.write_text("{ not json")
    code, _, err = cli(capsys, "fetch")
    assert code == 1 and str(broken) in err
    assert broken.read_text() == "{ not json"


def test_entry_points_run_as_processes(env: Path) -> None:
    # The console script is the venv's own (beside the interpreter), never whatever an earlier
    # install left on PATH: a fresh clone has no other `curator`.
    console = Path(sys.executable).with_name("curator")
    assert console.is_file(), f"{console}: the console script was not installed into the venv"
    for argv in ([sys.executable, "-m", "curator", "check"], [str(console), "check"]):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "OK" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "curator", "approve", "0000000000000000"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr


def test_a_reader_that_goes_away_stops_the_command_quietly(env: Path) -> None:
    """`curator items --json | head -1`: the pipe closes early; no traceback, exit 141."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "curator", "items", "--status", "all", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command has written anything
    err = proc.stderr.read()
    assert proc.wait() == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def _commands() -> list[str]:
    parser = build_parser()
    names: list[str] = []
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            names.append(name)
            for sa in sub._actions:
                if sa.__class__.__name__ == "_SubParsersAction":
                    names.extend(f"{name} {n}" for n in sa.choices)
    return names


def test_every_command_and_option_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    for cmd in _commands():
        assert f"curator {cmd}" in readme, f"`curator {cmd}` is not in the README"
    options: set[str] = set()

    def walk(p: object) -> None:
        for a in p._actions:  # type: ignore[attr-defined]
            options.update(o for o in a.option_strings if o.startswith("--"))
            if a.__class__.__name__ == "_SubParsersAction":
                for sub in a.choices.values():
                    walk(sub)

    walk(parser)
    for opt in sorted(options - {"--help", "--version"}):
        assert opt in readme, f"option {opt} is not in the README"
    for var in ("CURATOR_CONFIG", "CURATOR_STORE", "CURATOR_SECRET_KEY", "CURATOR_SMTP_PASSWORD"):
        assert var in readme


def test_every_config_key_is_documented_in_the_readme() -> None:
    from pydantic import BaseModel

    from curator import config

    readme = (ROOT / "README.md").read_text()

    def keys(model: type[BaseModel]) -> set[str]:
        out = set()
        for name, f in model.model_fields.items():
            if name == "path":
                continue
            out.add(f.alias or name)  # the YAML key (``class`` for publisher_class)
            ann = f.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                out |= keys(ann)
        return out

    for key in sorted(keys(config.Config) | keys(config.Source) | keys(config.SourceRules)):
        assert re.search(rf"\b{key}:", readme), f"feeds.yaml key {key!r} is not in the README"


def test_out_dir_export_is_refreshed_after_polls_and_reviews(
    capsys: pytest.CaptureFixture[str], env: Path
) -> None:
    cfg = env / "feeds.yaml"
    cfg.write_text(cfg.read_text() + "publish:\n  out_dir: site\n")  # relative to feeds.yaml
    cli(capsys, "fetch")
    feed = env / "site" / "links.json"
    assert json.loads(feed.read_text())["items"] == []  # written after the poll, none approved
    ids = fetched_ids(env)
    cli(capsys, "approve", ids["Police expand live facial recognition vans"])
    titles = [i["title"] for i in json.loads(feed.read_text())["items"]]
    assert titles == ["Police expand live facial recognition vans"]
    cli(capsys, "undo", ids["Police expand live facial recognition vans"])
    assert json.loads(feed.read_text())["items"] == []


def test_items_limit_must_be_positive(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    with pytest.raises(SystemExit) as e:
        main(["items", "--limit", "0"])
    assert e.value.code == 2
    assert "a whole number of 1 or more" in capsys.readouterr().err


def test_items_lists_near_misses(capsys: pytest.CaptureFixture[str], env: Path) -> None:
    cfg = env / "feeds.yaml"
    cfg.write_text(
        cfg.read_text().replace(
            "rules:\n", "rules:\n  require: [metro]\n  groups: {metro: [met]}\n"
        )
    )
    assert cli(capsys, "items", "--status", "near-miss")[1] == "no near misses\n"
    assert cli(capsys, "fetch")[0] == 0
    council = "Council approves upgrade of town centre CCTV network"
    assert list(fetched_ids(env)) == ["Police expand live facial recognition vans"]
    code, out, _ = cli(capsys, "items", "--status", "near-miss")
    assert code == 0
    (line,) = out.splitlines()
    assert council in line and line.endswith("(scored 9, lacked a term from group 'metro')")
    code, out, _ = cli(capsys, "items", "--status", "near-miss", "--json")
    (near,) = json.loads(out)
    assert (near["title"], near["source"], near["missing"]) == (council, "local", ["metro"])
    assert near["why"].startswith("dropped (no term from 'metro')")
