"""The ``rules:`` section as the web editor's text (curator/rules_edit.py): what it shows,
what saving puts back, and where problems are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from curator import config, rules_edit
from curator.config_edit import ConfigChanged, version
from curator.exceptions import ConfigError

FEEDS = Path(__file__).resolve().parents[1] / "feeds.yaml"


def test_the_shipped_feeds_yaml_round_trips_byte_for_byte() -> None:
    current = rules_edit.read(FEEDS)
    assert current.body.startswith("min_score: 3\ntitle_boost: 2\n")
    assert "\n# Every entry needs a camera-surveillance term" in current.body  # its comments
    assert "# ---- sources" not in current.body and "sources:" not in current.body
    spliced, cfg = rules_edit.preview(current, current.body, str(FEEDS))
    assert spliced.text == current.text
    assert cfg.rules == config.load(FEEDS).rules


def test_a_change_replaces_only_the_rules_lines(tmp_path: Path) -> None:
    text = (
        "# head\nfetch:\n  jitter: 0s\n\n# ---- rules\nrules:   # the rules\n"
        "    min_score: 3   # keep\n    include: {cctv: 3}\n\n# ---- sources\nsources: []\n"
    )
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    current = rules_edit.read(path)
    assert current.body == "min_score: 3   # keep\ninclude: {cctv: 3}\n"
    rules_edit.save(
        path, "min_score: 4   # keep\ninclude: {cctv: 3}\n", expected_version=version(text)
    )
    assert path.read_text() == text.replace("    min_score: 3", "  min_score: 4").replace(
        "    include", "  include"
    )
    with pytest.raises(ConfigChanged):
        rules_edit.save(path, "min_score: 5\n", expected_version=version(text))


def test_flow_style_and_missing_sections(tmp_path: Path) -> None:
    flow = rules_edit.section("rules: {min_score: 2}\nsources: []\n")
    assert flow.body == "{min_score: 2}\n"
    spliced, cfg = rules_edit.preview(flow, "min_score: 5\n", "f.yaml")
    assert spliced.text == "rules:\n  min_score: 5\nsources: []\n" and cfg.rules.min_score == 5
    none = rules_edit.section("sources: []\n")
    assert none.body == ""
    spliced, cfg = rules_edit.preview(none, "min_score: 6\n", "f.yaml")
    assert cfg.rules.min_score == 6 and spliced.text.startswith("sources: []\nrules:\n")
    spliced, cfg = rules_edit.preview(none, "  \n", "f.yaml")
    assert cfg.rules == config.Rules()


def test_problems_are_reported_where_the_editor_can_find_them() -> None:
    current = rules_edit.section(
        "rules:\n  min_score: 3\n  groups: {p: [police]}\nsources:\n"
        "  - {id: a, name: A, url: 'https://example.org/f', rules: {require: [p]}}\n"
        "  - {id: b, name: B, url: 'nope'}\n"
    )
    text = "min_score: 3\n\ntitle_boost: x\ngroups: {p: [police]}\n"
    with pytest.raises(ConfigError) as raised:
        rules_edit.preview(current, text, "f")
    found = {(p.file, p.line, p.key.split(" ")[0]) for p in raised.value.problems}
    # In the text at its own line; outside the rules at the line the file has now (the
    # text above is two lines longer than the section it replaces).
    assert found == {("the rules text", 3, "rules.title_boost"), ("f", 6, "sources[1]")}
    with pytest.raises(ConfigError, match="names group 'p'"):
        rules_edit.preview(current, "min_score: 3\n", "f")
    with pytest.raises(ConfigError, match="not valid YAML"):
        rules_edit.section("rules: [\n")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("min_score: 3\ninclude: [\n", 3),  # found at the end of the text, not at sources:
        ("min_score: 3\n  title_boost: 2\n", 2),
        ("min_score: 3\ninclude: {cctv: 3\n", 3),
    ],
)
def test_a_syntax_error_in_the_text_is_reported_at_its_line_there(text: str, line: int) -> None:
    current = rules_edit.section(
        "rules:\n  min_score: 3\n\n# ---- sources\nsources:\n"
        "  - {id: a, name: A, url: 'https://example.org/f'}\n"
    )
    with pytest.raises(ConfigError) as raised:
        rules_edit.preview(current, text, "feeds.yaml")
    (problem,) = raised.value.problems
    assert (problem.file, problem.line) == ("the rules text", line), problem
    assert "not valid YAML" in problem.message
