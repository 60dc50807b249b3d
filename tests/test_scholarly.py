"""Research metadata readers: landing pages (Highwire, JSON-LD, Dublin Core, Open Graph) and
Crossref works.  Crafted scholarly pages are in tests/data/research/; the shared corpus's
pages are ordinary news pages, so they show the Open Graph fallback and no invention."""

from __future__ import annotations

from pathlib import Path

import pytest

from curator.exceptions import ParseError
from curator.parse.scholarly import (
    ScholarlyMeta,
    crossref_meta,
    landing_page_meta,
    pub_date,
)
from tests.feedserver import need_corpus

DATA = Path(__file__).parent / "data" / "research"


def read(name: str, url: str = "https://journal.example.org/article/1") -> ScholarlyMeta:
    return landing_page_meta((DATA / name).read_bytes(), url=url, headers={})


def test_highwire_tags_win_over_json_ld_dublin_core_and_open_graph() -> None:
    meta = read("highwire.html")
    assert meta.title == "Body-worn cameras and public trust: a randomised trial"
    # "Family, Given" becomes "Given Family"; the authors come whole from one reader.
    assert meta.authors == ("Barak Ariel", "Alex Sutherland", "Darren Henstock")
    assert meta.venue == "Journal of Experimental Criminology"
    assert meta.doi == "10.1007/s11292-015-9243-6"  # not the dc.identifier's
    assert meta.publication_date == "2016-03-15"
    assert meta.open_access is False  # only JSON-LD said, and it said "False"
    assert meta.found == ("citation", "json-ld", "dc", "og")


def test_json_ld_scholarly_article_in_a_graph() -> None:
    meta = read("jsonld.html")
    assert meta.authors == ("Eric L. Piza", "Brandon C. Welsh", "David P. Farrington")
    assert meta.venue == "Campbell Systematic Reviews"  # through the issue to the periodical
    assert meta.doi == "10.1002/CL2.1046"
    assert meta.publication_date == "2019-05-03"
    assert meta.open_access is True  # a Creative Commons licence
    assert meta.title == "Effects of closed-circuit television surveillance on crime"


def test_dublin_core() -> None:
    meta = read("dublincore.html")
    assert meta.authors == ("Home Office Research Unit", "Jane Smith")
    assert meta.doi == "10.5281/zenodo.1234567"
    assert meta.publication_date == "2021-07"
    assert meta.venue == "Home Office Research Reports"
    assert meta.open_access is True
    assert meta.found == ("dc",)


def test_hostile_values_are_plain_bounded_text_or_nothing() -> None:
    meta = read("hostile.html")
    assert meta.title is not None and "<" not in meta.title and "\u202e" not in meta.title
    assert meta.authors == ("Mallory",)  # the URL and the e-mail address are no names
    assert meta.doi is None
    assert meta.publication_date is None  # month 13 is no date, nor is year 99999
    assert meta.venue is not None and meta.venue.startswith("Journal of Things")
    assert not any(c in meta.venue for c in "\x00\x1b<>")
    assert meta.open_access is None  # 1 is not a boolean


def test_arxiv_abstract_pages_are_open_access_and_carry_their_id() -> None:
    page = b"""<html><head>
    <meta name="citation_title" content="Person re-identification in CCTV footage">
    <meta name="citation_author" content="Doe, Jane">
    <meta name="citation_date" content="2023/01/03">
    <meta name="citation_pdf_url" content="http://arxiv.org/pdf/2301.01234v2">
    <meta name="citation_arxiv_id" content="2301.01234">
    </head></html>"""
    meta = landing_page_meta(page, url="https://arxiv.org/abs/2301.01234v2", headers={})
    assert (meta.arxiv_id, meta.open_access, meta.authors) == ("2301.01234", True, ("Jane Doe",))
    assert meta.publication_date == "2023-01-03"


def test_limits_on_hostile_pages() -> None:
    deep = b"<html><head>" + b"<div>" * 5000 + b"</head></html>"
    with pytest.raises(ParseError, match="not read"):
        landing_page_meta(deep, url="https://x.example/", headers={})
    huge_ld = (
        b'<html><head><script type="application/ld+json">{"@type":"ScholarlyArticle",'
        b'"headline":"' + b"x" * 300_000 + b'"}</script></head></html>'
    )
    assert landing_page_meta(huge_ld, url="https://x.example/", headers={}).title is None
    nested = b'{"@type":"ScholarlyArticle","a":' + b"[" * 100 + b"]" * 100 + b"}"
    page = b'<html><head><script type="application/ld+json">' + nested + b"</script></head>"
    assert not landing_page_meta(page, url="https://x.example/", headers={})


def test_corpus_news_pages_give_open_graph_and_never_invent_identifiers() -> None:
    corpus = need_corpus() / "html"
    seen = {}
    for path in sorted(corpus.glob("*.html")):
        meta = landing_page_meta(path.read_bytes(), url="https://news.example.org/a", headers={})
        assert meta.doi is None and meta.arxiv_id is None
        assert set(meta.found) <= {"og", "dc", "json-ld", "citation"}
        seen[path.name] = meta
    coco = seen["NetNewsWire__RSParser__coco.html"]
    assert coco.venue == "The Atlantic" and coco.authors == ("Christopher Orr",)
    assert coco.found == ("og",)
    pew = seen["newspaper__pewresearch.org1.html"]
    assert (pew.venue, pew.publication_date) == ("Pew Research Center", "2014-11-20")


def test_crossref_work() -> None:
    doc = {
        "status": "ok",
        "message-type": "work",
        "message": {
            "DOI": "10.1016/j.jcrimjus.2023.102030",
            "title": ["Live facial recognition and policing"],
            "author": [
                {"given": "Ann", "family": "Example", "sequence": "first"},
                {"name": "The CCTV Consortium"},
                {"family": 42},
            ],
            "container-title": ["Journal of Criminal Justice"],
            "published-print": {"date-parts": [[2023, 5]]},
            "issued": {"date-parts": [[2023, 4, 1]]},
            "license": [{"URL": "http://creativecommons.org/licenses/by/4.0/"}],
        },
    }
    meta = crossref_meta(doc)
    assert meta.authors == ("Ann Example", "The CCTV Consortium")
    assert meta.venue == "Journal of Criminal Justice"
    assert meta.doi == "10.1016/j.jcrimjus.2023.102030"
    assert meta.publication_date == "2023-05"
    assert meta.open_access is True
    assert not crossref_meta({"status": "failed", "message": "Resource not found."})
    assert not crossref_meta({"status": "ok", "message-type": "work-list", "message": {}})
    assert not crossref_meta([1, 2])


def test_cache_round_trip() -> None:
    meta = read("jsonld.html")
    assert ScholarlyMeta.from_json(meta.to_json()) == meta
    assert ScholarlyMeta.from_json({"authors": "x", "open_access": "yes", "doi": 3}) == (
        ScholarlyMeta()
    )


@pytest.mark.parametrize(
    ("value", "out"),
    [
        ("2016/03/15", "2016-03-15"),
        ("2019-05-03T10:00:00Z", "2019-05-03"),
        ("2019-5", "2019-05"),
        ("2019", "2019"),
        ("2019-02-30", None),
        ("1066", None),
        ("99999-01-01", None),
        ("20190503", None),
        ("soon", None),
    ],
)
def test_pub_date(value: str, out: str | None) -> None:
    assert pub_date(value) == out


def test_json_ld_in_the_body_is_read_and_unclosed_scripts_end_the_search() -> None:
    body_ld = (
        b"<html><head><title>x</title></head><body><p>text</p>"
        b'<script type="application/ld+json">{"@type":"ScholarlyArticle",'
        b'"author":"Ann Example","datePublished":"2020-02-02"}</script></body></html>'
    )
    meta = landing_page_meta(body_ld, url="https://x.example/", headers={})
    assert (meta.authors, meta.publication_date) == (("Ann Example",), "2020-02-02")
    unclosed = (
        b"<html><head></head><body>"
        + b"<p>text</p>" * 10_000
        + b'<script type="application/ld+json">{"@type":"ScholarlyArticle","name":"x"}'
    )
    assert not landing_page_meta(unclosed, url="https://x.example/", headers={})
    many = b'<script type="application/ld+json">{"@type":"Thing"}</script>' * 30
    late = b'<script type="application/ld+json">{"@type":"ScholarlyArticle","name":"Late"}</script>'
    page = b"<html><head>" + many + late + b"</head></html>"
    assert landing_page_meta(page, url="https://x.example/", headers={}).title is None  # 21st


def test_a_real_journal_page_distill() -> None:
    """A published article's real tags (tests/data/research/distill-branch-specialization.html,
    origin noted in the file): Highwire tags with "Family, Given" authors, Open Graph beside
    them, and citation_reference tags that must not be read as the article's own."""
    meta = read(
        "distill-branch-specialization.html",
        url="https://distill.pub/2020/circuits/branch-specialization",
    )
    assert meta.authors == (
        "Chelsea Voss",
        "Gabriel Goh",
        "Nick Cammarata",
        "Michael Petrov",
        "Ludwig Schubert",
        "Chris Olah",
    )
    assert (meta.venue, meta.doi) == ("Distill", "10.23915/distill.00024.008")
    assert meta.publication_date == "2021-04-05"
    assert meta.arxiv_id is None  # a reference's citation_arxiv_id is not the article's
    assert meta.open_access is True  # citation_fulltext_world_readable, empty as published
    assert meta.found == ("citation", "og")
