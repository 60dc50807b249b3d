"""OPML import and export (curator/opml.py, curator/cli_sources.py): real readers' files,
golden feeds.yaml and OPML outputs, duplicates, hostile and broken files, a round trip, and
the export read back by listparser (a real OPML consumer).

Golden files live in tests/data/opml/*.expected.*; CURATOR_UPDATE_GOLDEN=1 rewrites them
(then read the diff before committing).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import listparser
import pytest
from lxml import etree

from curator import config, opml
from curator.cli import main
from curator.exceptions import OpmlError

DATA = Path(__file__).parent / "data" / "opml"
NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
UPDATE = os.environ.get("CURATOR_UPDATE_GOLDEN") == "1"


def golden(name: str, actual: str) -> None:
    path = DATA / name
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"differs from {path}"


def setup(tmp_path: Path, base: str = "base.yaml") -> Path:
    cfg = tmp_path / "feeds.yaml"
    shutil.copy(DATA / base, cfg)
    return cfg


def run(tmp_path: Path, *args: str) -> int:
    return main(
        ["--config", str(tmp_path / "feeds.yaml"), "--store", str(tmp_path / "store"), *args]
    )


def dated(text: str) -> str:
    """The import note carries today's date: the golden files say DATE."""
    return re.sub(r" on \d{4}-\d{2}-\d{2} ", " on DATE ", text)


# --------------------------------------------------------------------------- reading


def test_reads_netnewswire_default_feeds() -> None:
    doc = opml.parse((DATA / "netnewswire-default-feeds.opml").read_bytes(), "nnw.opml")
    assert doc.title == "Default Feeds"
    assert len(doc.feeds) == 16
    first = doc.feeds[0]
    assert (first.title, first.xml_url, first.html_url, first.line) == (
        "inessential.com",
        "http://inessential.com/feed.json",
        "http://inessential.com/",
        7,
    )
    assert doc.folders == () and doc.ignored == ()


def test_reads_nested_folders_of_an_rssowl_export() -> None:
    doc = opml.parse((DATA / "miniflux-rssowl-nested.opml").read_bytes(), "rssowl.opml")
    assert [(f.title, f.folders) for f in doc.feeds] == [
        ("Feed 1", ("My Feeds", "Some Category")),
        ("Feed 2", ("My Feeds", "Some Category")),
        ("Feed 3", ("My Feeds", "Another Category")),
    ]
    assert doc.folders == ("My Feeds", "Some Category", "Another Category")


def test_reads_a_latin_1_file_with_escaped_titles() -> None:
    doc = opml.parse((DATA / "miniflux-iso-8859-1.opml").read_bytes(), "latin.opml")
    assert [f.title for f in doc.feeds] == [
        "CNET News.com",
        "washingtonpost.com - Politics",
        "NYT > Business",
    ]


def test_a_bare_ampersand_is_refused_with_file_and_line() -> None:
    with pytest.raises(OpmlError) as e:
        opml.parse((DATA / "miniflux-bad-entity.opml").read_bytes(), "bad.opml")
    assert str(e.value).startswith("bad.opml:8: not well-formed XML")


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b"", None, "empty"),
        (b"garbage", 1, "not well-formed XML"),
        (b'<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>', 2, "not <opml>"),
        (b"<opml version='2.0'>\n<head/>\n</opml>", 1, "no <body>"),
        (b"<opml><body><outline text='x' xmlUrl='x'></body></opml>", 1, "not well-formed"),
    ],
)
def test_files_that_are_not_opml_say_what_is_wrong(
    data: bytes, line: int | None, words: str
) -> None:
    with pytest.raises(OpmlError) as e:
        opml.parse(data, "f.opml")
    assert e.value.line == line
    assert words in e.value.message


def test_billion_laughs_and_external_entities_are_refused_before_parsing() -> None:
    with pytest.raises(OpmlError) as e:
        opml.parse((DATA / "hostile.opml").read_bytes(), "hostile.opml")
    assert e.value.line == 2 and "DOCTYPE" in e.value.message


def test_entities_are_never_resolved_even_without_a_doctype_check() -> None:
    # An external entity reference with no declaration: lxml must not fetch or expand it.
    data = (
        b"<opml version='2.0'><body><outline text='&xxe;' xmlUrl='https://e.org/f'/></body></opml>"
    )
    with pytest.raises(OpmlError):
        opml.parse(data, "x.opml")


def test_an_oversized_file_is_refused_without_parsing() -> None:
    with pytest.raises(OpmlError) as e:
        opml.parse(b" " * (opml.MAX_BYTES + 1), "big.opml")
    assert "at most" in e.value.message


def test_hostile_attribute_values_are_cleaned_and_capped() -> None:
    title = "A&#9; title\u202e with&#10;controls " + "x" * 500
    data = (
        "<opml version='2.0'><body>"
        f"<outline text='{title}' xmlUrl='https://e.org/f' htmlUrl='javascript:alert(1)'/>"
        "</body></opml>"
    ).encode()
    (feed,) = opml.parse(data, "x.opml").feeds
    assert feed.title.startswith("A title with controls x")
    assert "\u202e" not in feed.title and "\n" not in feed.title and "\t" not in feed.title
    assert len(feed.title) <= opml.NAME_MAX
    assert feed.html_url is None


def test_slug_and_url_key() -> None:
    assert opml.slug("Police Scotland – News & Appeals") == "police-scotland-news-appeals"
    assert opml.slug("Ünïcödé Straße — Überwachung") == "unicode-strasse-uberwachung"
    assert opml.slug("日本語") == ""
    assert len(opml.slug("word " * 40)) <= 48
    assert opml.url_key("HTTP://WWW.Example.org:80/feed/?b=2&a=1#x") == opml.url_key(
        "https://example.org/feed?a=1&b=2"
    )
    assert opml.url_key("https://example.org/feed") != opml.url_key("https://example.org/feed2")
    assert opml.url_key("https://example.org:8443/f") != opml.url_key("https://example.org/f")


# --------------------------------------------------------------------------- import, golden


def test_import_with_duplicates_matches_the_golden_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = setup(tmp_path)
    assert run(tmp_path, "sources", "import", str(DATA / "duplicates.opml")) == 0
    golden("duplicates.expected.yaml", dated(cfg.read_text(encoding="utf-8")))
    out = capsys.readouterr().out
    # Reported: each skip with its line and reason, what each folder did.
    assert "duplicates.opml:7: Met Police news (again)" in out
    assert "the same feed as line 6 of this file" in out
    assert "already configured as source daring-fireball" in out
    assert "already configured as source college-of-policing" in out
    assert "duplicates.opml:17: Not http" in out
    assert "folder  'Police': sets class police" in out
    assert "5 to add, 4 skipped, 2 ignored" in out
    loaded = config.load(cfg)  # and the result is a valid configuration
    assert [s.id for s in loaded.sources][-5:] == [
        "met-police-news",
        "crime-science",
        "crime-science-2",
        "old-feed-scheme",
        "unicode-strasse-uberwachung",
    ]
    met = loaded.source("met-police-news")
    assert met is not None and met.publisher_class == "police" and met.jurisdiction == "UK"
    crime = loaded.source("crime-science")
    assert crime is not None and crime.category == "research" and crime.publisher_class is None


def test_import_of_netnewswire_defaults_with_options_matches_the_golden_file(
    tmp_path: Path,
) -> None:
    cfg = setup(tmp_path)
    code = run(
        tmp_path,
        "sources",
        "import",
        str(DATA / "netnewswire-default-feeds.opml"),
        "--category",
        "research",
        "--class",
        "press",
        "--jurisdiction",
        "us",
    )
    assert code == 0
    golden("netnewswire.expected.yaml", dated(cfg.read_text(encoding="utf-8")))
    loaded = config.load(cfg)
    assert len(loaded.sources) == 2 + 15  # Daring Fireball was there already
    assert {(s.category, s.publisher_class, s.jurisdiction) for s in loaded.sources[2:]} == {
        ("research", "press", "US")
    }


def test_nested_reader_folders_are_reported_and_not_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = setup(tmp_path)
    assert run(tmp_path, "sources", "import", str(DATA / "miniflux-rssowl-nested.opml")) == 0
    out = capsys.readouterr().out
    assert "folder  'Some Category': a reader's folder; not used" in out
    loaded = config.load(cfg)
    assert [(s.id, s.category) for s in loaded.sources[2:]] == [
        ("feed-1", "news"),
        ("feed-2", "news"),
        ("feed-3", "news"),
    ]


def test_dry_run_writes_nothing_and_json_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = setup(tmp_path)
    before = cfg.read_bytes()
    code = run(tmp_path, "sources", "import", str(DATA / "duplicates.opml"), "--dry-run", "--json")
    assert code == 0
    assert cfg.read_bytes() == before
    report = json.loads(capsys.readouterr().out)
    assert report["written"] is False
    assert [a["id"] for a in report["added"]][:2] == ["met-police-news", "crime-science"]
    assert report["added"][0]["line"] == 6
    assert {s["existing"] for s in report["skipped"]} == {
        None,
        "daring-fireball",
        "college-of-policing",
    }
    assert report["folders"] == {"Police": "class police", "Research": "category research"}


def test_importing_twice_adds_nothing_the_second_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = setup(tmp_path)
    assert run(tmp_path, "sources", "import", str(DATA / "netnewswire-default-feeds.opml")) == 0
    after_first = cfg.read_bytes()
    capsys.readouterr()
    assert run(tmp_path, "sources", "import", str(DATA / "netnewswire-default-feeds.opml")) == 0
    assert cfg.read_bytes() == after_first
    assert "0 to add, 16 skipped" in capsys.readouterr().out


def test_bad_or_hostile_files_leave_feeds_yaml_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = setup(tmp_path)
    before = cfg.read_bytes()
    for name in ("hostile.opml", "miniflux-bad-entity.opml", "missing.opml"):
        assert run(tmp_path, "sources", "import", str(DATA / name)) == 1
        err = capsys.readouterr().err
        assert f"{name}" in err and "Traceback" not in err
    assert cfg.read_bytes() == before


def test_an_import_that_would_make_feeds_yaml_invalid_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = setup(tmp_path)
    before = cfg.read_bytes()
    opml_file = tmp_path / "evil.opml"
    # A curator:id that is valid but a class value that is not: ignored, not written.
    opml_file.write_text(
        f"<opml version='2.0' xmlns:curator='{opml.NS}'><body>"
        "<outline text='X' xmlUrl='https://x.example/feed' curator:class='overlord' "
        "curator:id='Not An Id!'/></body></opml>",
        encoding="utf-8",
    )
    assert run(tmp_path, "sources", "import", str(opml_file)) == 0
    loaded = config.load(cfg)
    new = loaded.sources[-1]
    assert (new.id, new.publisher_class) == ("x", None)
    assert cfg.read_bytes() != before


def test_sources_without_an_action_still_reports_health(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(tmp_path)
    assert run(tmp_path, "sources", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["daring-fireball", "college-of-policing"]
    assert [(r["class"], r["jurisdiction"]) for r in rows] == [("press", "UK"), ("police", "UK")]
    assert run(tmp_path, "sources") == 0
    assert "college-of-policing" in capsys.readouterr().out


# --------------------------------------------------------------------------- export


def test_export_matches_the_golden_file_and_is_opml_2() -> None:
    cfg = config.load(DATA / "base.yaml")
    cfg = cfg.model_copy(update={"sources": [*cfg.sources, *_extra_sources()]})
    result = opml.export(cfg, NOW)
    golden("base.expected.opml", result.data.decode("utf-8"))
    assert result.left_out == (
        ("crossref-x", "kind crossref: not a feed a reader can read"),
        ("college-of-policing", "disabled"),
    )
    root = etree.fromstring(result.data)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.find("head/title") is not None and root.find("head/dateCreated") is not None
    for outline in root.iter("outline"):
        assert outline.get("text"), "OPML 2.0: every outline has text"
        if outline.get("xmlUrl"):
            assert outline.get("type") == "rss" and outline.get("title")


def _extra_sources() -> list[config.Source]:
    return [
        config.Source.model_validate(
            {
                "id": "crossref-x",
                "name": "Crossref X",
                "url": "https://api.crossref.org/works?query=cctv",
                "kind": "crossref",
                "category": "research",
                "class": "academic",
            }
        ),
        config.Source.model_validate(
            {
                "id": "arxiv-x",
                "name": 'arXiv <CCTV> & "policing"',
                "url": "https://export.arxiv.org/api/query?search_query=cctv&max_results=5",
                "kind": "arxiv",
                "category": "research",
                "class": "academic",
                "jurisdiction": "INT",
            }
        ),
    ]


def test_export_leaves_out_characters_xml_cannot_carry() -> None:
    cfg = config.load(DATA / "base.yaml")
    odd = cfg.sources[0].model_copy(update={"name": "Bell\x07 and\x00 null"})
    result = opml.export(cfg.model_copy(update={"sources": [odd]}), NOW)
    feeds = [o for o in etree.fromstring(result.data).iter("outline") if o.get("xmlUrl")]
    assert [(o.get("text"), o.get("title")) for o in feeds] == [("Bell and null",) * 2]


def test_cli_export_is_read_by_listparser(tmp_path: Path) -> None:
    shutil.copy(Path(__file__).parent.parent / "feeds.yaml", tmp_path / "feeds.yaml")
    out = tmp_path / "sources.opml"
    assert run(tmp_path, "sources", "export", "--out", str(out)) == 0
    parsed = listparser.parse(out.read_bytes())
    assert not parsed.bozo, parsed.bozo_exception
    bundled = config.load(tmp_path / "feeds.yaml")
    exported = [s for s in bundled.sources if s.enabled and s.kind in ("feed", "arxiv")]
    assert sorted(f.url for f in parsed.feeds) == sorted(s.url for s in exported)
    by_url = {f.url: f for f in parsed.feeds}
    for s in exported:
        feed = by_url[s.url]
        assert feed.title == s.name
        assert [s.category.capitalize()] in feed.categories


def test_export_then_import_round_trips_every_exported_source(tmp_path: Path) -> None:
    bundled = config.load(Path(__file__).parent.parent / "feeds.yaml")
    result = opml.export(bundled, NOW)
    (tmp_path / "feeds.yaml").write_text("# empty\nsources: []\n", encoding="utf-8")
    (tmp_path / "all.opml").write_bytes(result.data)
    assert run(tmp_path, "sources", "import", str(tmp_path / "all.opml")) == 0
    back = config.load(tmp_path / "feeds.yaml")

    def key(s: config.Source) -> tuple[object, ...]:
        return (
            s.id,
            s.name,
            s.url,
            s.homepage,
            s.kind,
            s.category,
            s.publisher_class,
            s.jurisdiction,
        )

    wanted = [key(s) for s in bundled.sources if s.id in result.written]
    assert sorted(key(s) for s in back.sources) == sorted(wanted)
    assert len(wanted) == len(result.written) > 15


def test_absurdly_deep_nesting_is_an_error_not_a_crash() -> None:
    depth = 5000
    data = (
        b"<opml version='2.0'><body>"
        + b"<outline text='f'>" * depth
        + b"<outline text='x' xmlUrl='https://e.org/f'/>"
        + b"</outline>" * depth
        + b"</body></opml>"
    )
    with pytest.raises(OpmlError) as e:
        opml.parse(data, "deep.opml")
    assert e.value.line == 1 and "not well-formed XML" in e.value.message


def test_check_names_sources_without_a_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(tmp_path)
    assert run(tmp_path, "check") == 0
    assert "have no `class`" not in capsys.readouterr().err
    assert run(tmp_path, "sources", "import", str(DATA / "miniflux-rssowl-nested.opml")) == 0
    capsys.readouterr()
    assert run(tmp_path, "check") == 0
    err = capsys.readouterr().err
    assert "3 source(s) have no `class` (feed-1, feed-2, feed-3)" in err
