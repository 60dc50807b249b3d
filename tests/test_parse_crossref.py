"""curator.parse.crossref: Crossref REST API works lists → entries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from curator.exceptions import ParseError
from curator.normalize import normalize
from curator.parse import parse_crossref

URL = "https://api.crossref.org/works?query=cctv+police&sort=published&order=desc&rows=50"
NOW = datetime(2026, 11, 28, tzinfo=UTC)

# The shape of a real /works answer (fields trimmed to what we read, plus some we ignore).
WORKS: dict[str, Any] = {
    "status": "ok",
    "message-type": "work-list",
    "message-version": "1.0.0",
    "message": {
        "facets": {},
        "total-results": 3,
        "items-per-page": 50,
        "query": {"start-index": 0, "search-terms": "cctv police"},
        "items": [
            {
                "DOI": "10.1186/s40163-021-00150-3",
                "URL": "https://doi.org/10.1186/s40163-021-00150-3",
                "type": "journal-article",
                "title": ["The effect of CCTV on <i>public</i> safety &amp; crime"],
                "subtitle": ["A systematic review"],
                "container-title": ["Crime Science"],
                "subject": ["Law", "Sociology and Political Science"],
                "author": [
                    {"given": "Eric L.", "family": "Piza", "sequence": "first"},
                    {"given": "Brandon C.", "family": "Welsh", "sequence": "additional"},
                    {"name": "Campbell Collaboration", "sequence": "additional"},
                ],
                "abstract": (
                    "<jats:title>Abstract</jats:title><jats:sec><jats:title>Objectives</jats:title>"
                    "<jats:p>CCTV cameras <jats:italic>reduce</jats:italic> vehicle crime.</jats:p>"
                    "</jats:sec><jats:p>Second paragraph with CO<jats:sub>2</jats:sub>."
                    "<jats:xref ref-type='bibr'>[1]</jats:xref></jats:p>"
                ),
                "published": {"date-parts": [[2021, 6, 14]]},
                "published-online": {"date-parts": [[2021, 6, 14]]},
                "issued": {"date-parts": [[2021, 6]]},
                "created": {"date-parts": [[2021, 6, 14]], "date-time": "2021-06-14T10:02:33Z"},
            },
            {
                "DOI": "10.1093/police/paab001",
                "title": ["Body-worn video and the courts"],
                "issued": {"date-parts": [[2020]]},
                "author": [{"family": "Onlyfamily"}],
            },
            {
                "URL": "https://doi.org/10.5555/no-title",
                "created": {"date-parts": [[None]], "date-time": "2019-01-02T03:04:05Z"},
                "abstract": "<script>alert(1)</script>Plain text abstract.",
            },
            "not a work",
        ],
    },
}


def parsed(doc: object, **kw: Any) -> Any:
    return parse_crossref(json.dumps(doc).encode(), url=URL, headers={}, source_id="cr", **kw)


def test_works_list_becomes_entries() -> None:
    result = parsed(WORKS)
    assert len(result.entries) == 3
    first, second, third = result.entries
    assert (
        first.title == "The effect of CCTV on <i>public</i> safety &amp; crime: A systematic review"
    )
    assert first.link == "https://doi.org/10.1186/s40163-021-00150-3"
    assert first.guid == "10.1186/s40163-021-00150-3"
    assert first.published == datetime(2021, 6, 14, tzinfo=UTC)
    assert first.authors == ("Eric L. Piza", "Brandon C. Welsh", "Campbell Collaboration")
    assert first.tags == ("Crime Science", "Law", "Sociology and Political Science")
    assert first.summary is not None and "jats" not in first.summary
    assert second.link == "https://doi.org/10.1093/police/paab001"  # built from the DOI
    assert second.published == datetime(2020, 1, 1, tzinfo=UTC)  # year only
    assert second.authors == ("Onlyfamily",)
    assert third.title is None
    assert third.published == datetime(2019, 1, 2, 3, 4, 5, tzinfo=UTC)  # from date-time


def test_normalized_crossref_entry() -> None:
    raw = parsed(WORKS).entries[0]
    e = normalize(raw, source_id="cr", feed_url=URL, now=NOW)
    assert e is not None
    assert e.title == "The effect of CCTV on public safety & crime: A systematic review"
    assert e.summary_html == (
        "<b>Objectives</b><p>CCTV cameras <i>reduce</i> vehicle crime.</p>"
        "<p>Second paragraph with CO<sub>2</sub>.[1]</p>"
    )
    assert (
        e.summary_text
        == "Objectives\n\nCCTV cameras reduce vehicle crime.\n\nSecond paragraph with CO2.[1]"
    )
    third = normalize(parsed(WORKS).entries[2], source_id="cr", feed_url=URL, now=NOW)
    assert third is not None
    assert third.summary_text == "Plain text abstract."
    assert third.title == "Plain text abstract."


def test_single_work_answer() -> None:
    doc = {"status": "ok", "message-type": "work", "message": WORKS["message"]["items"][1]}
    assert [e.title for e in parsed(doc).entries] == ["Body-worn video and the courts"]


def test_max_entries() -> None:
    assert len(parsed(WORKS, max_entries=1).entries) == 1


def test_empty_works_list_is_fine() -> None:
    doc = {"status": "ok", "message-type": "work-list", "message": {"items": []}}
    assert parsed(doc).entries == ()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "not a readable Crossref answer"),
        (b"{not json", "not a readable Crossref answer"),
        (b"[]", "not a Crossref answer"),
        (
            json.dumps(
                {
                    "status": "failed",
                    "message-type": "validation-failure",
                    "message": [
                        {"type": "parameter-not-allowed", "message": "Parameter rowz not allowed"}
                    ],
                }
            ).encode(),
            "Crossref answered 'failed': Parameter rowz not allowed",
        ),
        (json.dumps({"status": "ok", "message": {"total": 3}}).encode(), "message.items missing"),
    ],
)
def test_bad_answers_are_parse_errors(body: bytes, match: str) -> None:
    with pytest.raises(ParseError, match=match) as info:
        parse_crossref(body, url=URL, headers={}, source_id="cr")
    assert info.value.source_id == "cr"
