"""feeds.yaml edited by the program keeps what a person wrote, and never a broken file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from curator import config, config_edit
from curator.exceptions import ConfigError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def feeds(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    shutil.copy(ROOT / "feeds.yaml", path)
    return path


def test_the_bundled_file_round_trips_byte_for_byte(feeds: Path) -> None:
    text = feeds.read_text(encoding="utf-8")
    assert config_edit.dump_document(config_edit.load_document(text)) == text


def test_an_added_source_keeps_every_comment_and_the_order(feeds: Path) -> None:
    before = feeds.read_text(encoding="utf-8")

    def add(doc: object) -> None:
        doc["sources"].append(  # type: ignore[index]
            {"id": "new-one", "name": "New one", "url": "https://example.org/feed.xml"}
        )

    edited = config_edit.edit(feeds, add)
    after = feeds.read_text(encoding="utf-8")
    assert edited.changed and edited.text == after
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert comments and all(c in after.splitlines() for c in comments)
    assert after.index("\nfetch:") < after.index("\ndigest:") < after.index("\nrules:")
    assert after.rstrip().endswith("url: https://example.org/feed.xml")
    assert "new-one" in {s.id for s in config.load(feeds).sources}
    assert edited.version == config_edit.version(after)


def test_an_edit_that_would_break_the_file_writes_nothing(feeds: Path) -> None:
    before = feeds.read_bytes()

    def break_it(doc: object) -> None:
        doc["rules"]["require"] = ["no-such-group"]  # type: ignore[index]

    with pytest.raises(ConfigError, match="no-such-group"):
        config_edit.edit(feeds, break_it)
    assert feeds.read_bytes() == before
    assert not list(feeds.parent.glob(".feeds.yaml.*.tmp"))


def test_a_file_changed_since_it_was_opened_is_not_overwritten(feeds: Path) -> None:
    opened = config_edit.version(feeds.read_text(encoding="utf-8"))
    feeds.write_text(feeds.read_text(encoding="utf-8") + "\n# someone else\n", encoding="utf-8")
    with pytest.raises(config_edit.ConfigChanged, match="changed by someone else"):
        config_edit.edit(feeds, lambda doc: None, expected_version=opened)
    with pytest.raises(config_edit.ConfigChanged):
        config_edit.replace_text(feeds, "rules: {}\n", expected_version=opened)
    assert feeds.read_text(encoding="utf-8").endswith("# someone else\n")


def test_replacing_the_text_validates_it_first(feeds: Path) -> None:
    before = feeds.read_bytes()
    with pytest.raises(ConfigError, match=r"feeds\.yaml:\d+: not valid YAML"):
        config_edit.replace_text(feeds, "rules: [unclosed\n")
    with pytest.raises(ConfigError, match="unknown key"):
        config_edit.replace_text(feeds, "rulez: {}\n")
    assert feeds.read_bytes() == before
    mode = feeds.stat().st_mode
    text = before.decode("utf-8").replace("min_score: 3\n", "min_score: 4\n", 1)
    edited = config_edit.replace_text(feeds, text)
    assert edited.config.rules.min_score == 4
    assert feeds.stat().st_mode == mode


def test_preview_writes_nothing(feeds: Path) -> None:
    before = feeds.read_bytes()

    def bump(doc: object) -> None:
        doc["rules"]["min_score"] = 5  # type: ignore[index]

    edited = config_edit.preview(feeds, bump)
    assert edited.changed and edited.config.rules.min_score == 5
    assert feeds.read_bytes() == before
