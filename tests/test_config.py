"""feeds.yaml validation: every mistake named with file, line and key; the real file is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from curator import config
from curator.exceptions import ConfigError

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
sources:
  - id: one
    name: One
    url: https://example.org/feed
    interval: 30m
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        config.loads(text, "f.yaml")
    return [str(p) for p in e.value.problems]


def test_bundled_feeds_yaml_is_valid() -> None:
    cfg = config.load(ROOT / "feeds.yaml")
    assert 15 <= len(cfg.sources) <= 30
    assert {s.category for s in cfg.sources} == {"news", "research", "guidance"}
    assert cfg.rules.include, "default rules must include terms"
    for s in cfg.sources:
        for g in s.rules.require or []:
            assert g in cfg.rules.groups


def test_durations_and_sizes() -> None:
    assert config.parse_duration("30m") == 1800
    assert config.parse_duration("6h") == 21600
    assert config.parse_duration("1d") == 86400
    assert config.parse_duration(90) == 90
    assert config.parse_size("10MB") == 10 * 1024 * 1024
    for bad in ("6x", "", "-1h", "0m", True):
        with pytest.raises(ValueError):
            config.parse_duration(bad)


def test_good_minimal_file() -> None:
    cfg = config.loads(GOOD)
    assert cfg.sources[0].interval == 1800
    assert cfg.sources[0].kind == "feed"
    assert cfg.digest.day == "monday" and cfg.digest.timezone == "Europe/London"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("sources: [\n", "f.yaml:2: not valid YAML", id="bad-yaml"),
        pytest.param(
            GOOD + "    colour: red\n",
            "f.yaml:6: sources[0] (id one).colour: unknown key",
            id="unknown-key",
        ),
        pytest.param(
            GOOD.replace("30m", "soon"),
            "f.yaml:5: sources[0] (id one).interval: expected a duration",
            id="bad-interval",
        ),
        pytest.param(
            GOOD.replace("https://example.org/feed", "ftp://example.org/"),
            "f.yaml:4: sources[0] (id one).url: expected an absolute http",
            id="bad-url",
        ),
        pytest.param(
            GOOD + "    enabled: perhaps\n",
            "f.yaml:6: sources[0] (id one).enabled: Input should be a valid boolean",
            id="wrong-type",
        ),
        pytest.param(
            GOOD + "  - id: one\n    name: Two\n    url: https://example.org/2\n",
            "f.yaml:6: sources[1].id: duplicate source id 'one'",
            id="duplicate-id",
        ),
        pytest.param(
            GOOD + "    category: gossip\n",
            "f.yaml:6: sources[0] (id one).category",
            id="bad-category",
        ),
        pytest.param(
            "digest:\n  time: '25:00'\n",
            "f.yaml:2: digest.time: expected a time as HH:MM",
            id="bad-time",
        ),
        pytest.param(
            "digest:\n  timezone: Mars/Olympus\n",
            "f.yaml:2: digest.timezone: unknown time zone",
            id="bad-tz",
        ),
        pytest.param("rules:\n  require: [nope]\n", "f.yaml:", id="unknown-group"),
        pytest.param(
            GOOD + "    rules: {require: [nope]}\n",
            "sources[0].rules.require: names group 'nope'",
            id="source-unknown-group",
        ),
        pytest.param(
            "sources:\n  - name: x\n    url: https://e.org/\n",
            "f.yaml:2: sources[0].id: this key is required",
            id="missing-id",
        ),
        pytest.param(
            "sources:\n  - {id: off, name: x, url: 'https://e.org/'}\n",
            "quote the value",
            id="yaml-boolean",
        ),
        pytest.param("- just\n- a list\n", "f.yaml:1: expected a mapping", id="not-a-mapping"),
        pytest.param(
            "sources: []\nsources: []\n",
            "f.yaml:2: sources: this key appears twice",
            id="duplicate-key",
        ),
    ],
)
def test_each_problem_is_located(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) or expected in p for p in found), found


def test_all_problems_reported_at_once() -> None:
    text = GOOD.replace("30m", "soon") + "    colour: red\n"
    assert len(problems(text)) == 2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        config.load(tmp_path / "nope.yaml")


def test_config_hash_changes_with_url() -> None:
    a = config.loads(GOOD).sources[0]
    b = config.loads(GOOD.replace("/feed", "/feed2")).sources[0]
    assert a.config_hash() != b.config_hash()


def test_cross_entry_problems_come_with_the_others_in_file_order() -> None:
    text = (
        GOOD.replace("30m", "soon")
        + "    rules: {require: [nope]}\n"
        + "  - id: one\n    name: Two\n    url: https://example.org/2\n"
        + "    selector: 'a['\n"
    )
    found = problems(text)
    assert len(found) == 4, found
    assert [p.split(":")[1] for p in found] == ["5", "6", "7", "10"]
    assert "duplicate source id 'one'" in found[2]
    assert "not a usable CSS selector" in found[3]


LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else '1, 2, 3, 4, 5, 6, 7, 8, 9'}]\n"
    for prev, name in zip(
        ["", "a", "b", "c", "d", "e"], ["a", "b", "c", "d", "e", "f"], strict=True
    )
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "a: &x [*x]\n", "f.yaml:1: an alias (*name) refers to a value that", id="loop"
        ),
        pytest.param(
            "sources:\n  - &s {id: *s}\n", "f.yaml:2: an alias (*name)", id="loop-in-list"
        ),
        pytest.param(LAUGHS, "the file expands to more than 100,000 values", id="laughs"),
        pytest.param("? [a, b]\n: 1\n", "f.yaml:1: a key must be a plain name", id="list-key"),
        pytest.param("x: 1\ny: \x00\n", "f.yaml:2: not valid YAML: the character U+0000", id="nul"),
        pytest.param("fetch: {timeout: !!float x}\n", "f.yaml:1: the value 'x' cannot", id="tag"),
        pytest.param("[" * 3000 + "]" * 3000, "f.yaml: the YAML is nested too deeply", id="deep"),
        pytest.param(
            "fetch:\n  timeout: .nan\n",
            "f.yaml:2: fetch.timeout: a duration must be a posit",
            id="nan",
        ),
        pytest.param(
            "fetch:\n  jitter: .inf\n",
            "f.yaml:2: fetch.jitter: a duration must be a posit",
            id="inf",
        ),
        pytest.param(
            "publish: {max_age: 36501d}\n",
            "f.yaml:1: publish.max_age: a duration must be at most",
            id="long",
        ),
        pytest.param(
            "fetch: {max_body: '" + "9" * 400 + "GB'}\n",
            "f.yaml:1: fetch.max_body: expected a",
            id="size-overflow",
        ),
        pytest.param(
            "fetch: {max_body: 1025GB}\n", "fetch.max_body: a size must be at most 1TB", id="tb"
        ),
        pytest.param(
            "rules:\n  include:\n    cctv: .nan\n",
            "f.yaml:3: rules.include.cctv: Input should be a finite",
            id="nan-weight",
        ),
        pytest.param(
            "rules: {min_score: -.inf}\n",
            "rules.min_score: Input should be a finite",
            id="inf-score",
        ),
        pytest.param(
            "web: {session_days: 99999999999}\n",
            "web.session_days: Input should be less",
            id="days",
        ),
        pytest.param(
            "digest: {retry_days: 3651}\n", "digest.retry_days: Input should be less", id="retry"
        ),
    ],
)
def test_hostile_yaml_is_a_located_config_error(text: str, expected: str) -> None:
    """Found by tests/test_properties.py: each of these raised another exception (or loaded
    a value that failed later: a NaN timeout, a session of 10^11 days) before."""
    found = problems(text)
    assert any(p.startswith(expected) or expected in p for p in found), found


def test_aliases_that_do_not_loop_still_work() -> None:
    text = "rules:\n  groups:\n    cams: &cams [cctv, camera*]\n    also: *cams\n"
    assert config.loads(text).rules.groups == {
        "cams": ["cctv", "camera*"],
        "also": ["cctv", "camera*"],
    }


def test_duration_and_size_limits_are_inclusive() -> None:
    assert config.parse_duration("36500d") == config.MAX_DURATION
    assert config.parse_size("1024GB") == config.MAX_SIZE
    assert config.parse_size(config.MAX_SIZE) == config.MAX_SIZE
    with pytest.raises(ValueError, match="at most"):
        config.parse_size(config.MAX_SIZE + 1)
    with pytest.raises(ValueError, match="at most 100 years"):
        config.parse_duration(config.MAX_DURATION + 1)


def test_a_default_base_url_follows_the_address_served() -> None:
    from curator.config import Config, served_at

    default = Config()
    assert served_at(default, "127.0.0.1", 8000).publish.base_url == "http://127.0.0.1:8000"
    assert served_at(default, "0.0.0.0", 9000).publish.base_url == "http://127.0.0.1:9000"
    assert served_at(default, "::1", 9000).publish.base_url == "http://[::1]:9000"
    assert served_at(default, "127.0.0.1", 8000).publish.title == default.publish.title
    chosen = Config.model_validate({"publish": {"base_url": "https://links.example.org"}})
    assert served_at(chosen, "127.0.0.1", 8000) == chosen  # the file's choice is kept
