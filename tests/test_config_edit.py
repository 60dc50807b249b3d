"""feeds.yaml edited by the program keeps what a person wrote, and never a broken file."""

from __future__ import annotations

import os
import shutil
import subprocess
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


@pytest.mark.parametrize("value", ["NO", "On", "yes", "off", "12:30", "1e3", "null", "~", "0x1F"])
def test_a_new_value_yaml_1_1_would_read_as_no_string_is_quoted(feeds: Path, value: str) -> None:
    """ruamel writes YAML 1.2, where these are plain strings; PyYAML, which loads the file,
    reads YAML 1.1, where they are booleans, numbers or null."""

    def add(doc: object) -> None:
        doc["sources"].append(  # type: ignore[index]
            {"id": "odd", "name": value, "url": "https://example.org/feed.xml"}
        )

    edited = config_edit.edit(feeds, add)
    source = config.load(feeds).source("odd")
    assert source is not None and source.name == value
    assert f"name: '{value}'" in edited.text


def test_an_edit_keeps_long_lines_elsewhere_as_they_were(feeds: Path) -> None:
    before = feeds.read_text(encoding="utf-8")
    long_lines = [line for line in before.splitlines() if len(line) > 100]
    assert long_lines  # the bundled file has some: the check below means something

    def rename(doc: object) -> None:
        doc["sources"][0]["name"] = "Renamed"  # type: ignore[index]

    after = config_edit.edit(feeds, rename).text.splitlines()
    assert all(line in after for line in long_lines)
    assert sum(a != b for a, b in zip(before.splitlines(), after, strict=True)) == 1


def test_a_symlinked_file_is_written_through_its_link(feeds: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.yaml"
    link.symlink_to(feeds)

    def bump(doc: object) -> None:
        doc["rules"]["min_score"] = 5  # type: ignore[index]

    config_edit.edit(link, bump)
    assert link.is_symlink()
    assert config.load(feeds).rules.min_score == 5


def _immutable(folder: Path) -> bool:
    """Make ``folder`` unwritable even for root (``chattr +i``); False where that is not
    possible here (no chattr, a file system without the flag, not root)."""
    if shutil.which("chattr") is None:
        return False
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    return done.returncode == 0


def test_a_file_that_cannot_be_written_is_a_config_error_not_a_traceback(
    feeds: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    target = folder / "feeds.yaml"
    target.write_bytes(feeds.read_bytes())
    folder.chmod(0o555)
    immutable = not os.access(folder, os.W_OK) or _immutable(folder)
    try:
        if not immutable:
            pytest.skip("no way here to make a folder unwritable for this user")
        with pytest.raises(ConfigError, match="cannot be written"):
            config_edit.edit(target, lambda doc: doc["rules"].update(min_score=5))
        assert config.load(target).rules.min_score == 3
    finally:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
        folder.chmod(0o755)


def test_a_save_held_up_by_another_is_a_config_error(
    feeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from filelock import FileLock

    monkeypatch.setattr(config_edit, "LOCK_TIMEOUT", 0.0)  # the other save holds on: no wait
    with FileLock(str(feeds) + ".lock"), pytest.raises(ConfigError, match="being saved"):
        config_edit.edit(feeds, lambda doc: doc["rules"].update(min_score=5))
    assert config.load(feeds).rules.min_score == 3


def test_entries_appended_to_a_section_that_is_not_last_leave_the_next_ones_heading(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "sources:\n"
        "  - id: a\n"
        "    name: A\n"
        '    url: "https://a.example/feed"\n'
        "    enabled: false  # waiting for the publisher\n"
        "\n"
        "# ---- digest\n"
        "# The weekly email.\n"
        "digest:\n"
        "  enabled: false\n",
        encoding="utf-8",
    )

    def add(doc: object) -> None:
        from ruamel.yaml.comments import CommentedMap

        entry = CommentedMap(id="b", name="B", url="https://b.example/feed")
        config_edit.append_entries(doc["sources"], [entry])  # type: ignore[index]

    text = config_edit.edit(path, add).text
    assert text.endswith(
        "    enabled: false  # waiting for the publisher\n"
        "  - id: b\n"
        "    name: B\n"
        "    url: https://b.example/feed\n"
        "\n"
        "# ---- digest\n"
        "# The weekly email.\n"
        "digest:\n"
        "  enabled: false\n"
    )
