"""The keyword rules: the term syntax, scoring, source overrides, explanations, highlighting,
and the real rules in feeds.yaml against headlines of the kinds the feeds carry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from curator import config, match
from curator.exceptions import ConfigError
from curator.types import Entry, Match

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def real() -> config.Rules:
    return config.load(ROOT / "feeds.yaml").rules


def entry(title: str, summary: str = "") -> Entry:
    return Entry(
        source_id="test",
        title=title,
        url="https://example.org/story",
        canonical_url="https://example.org/story",
        item_id="0123456789abcdef",
        summary_html=summary,
        summary_text=summary,
        published=NOW,
    )


def rules(**kw: Any) -> config.Rules:
    return config.Rules.model_validate(kw)


def compiled(source: dict[str, Any] | None = None, **kw: Any) -> match.CompiledRules:
    src = config.SourceRules.model_validate(source) if source is not None else None
    return match.compile_rules(rules(**kw), src)


# ------------------------------------------------------------------------------ feeds.yaml

Verdict = Literal["kept", "scored low", "excluded", "off topic"]


def verdict(e: Entry, r: match.CompiledRules) -> Verdict:
    """kept; left out because negative terms pulled it down; dropped by an exclusion; or left
    out because it says nothing the rules care about."""
    a = match.assess(e, r)
    assert (match.match(e, r) is not None) == a.kept
    if a.kept:
        return "kept"
    if a.excluded:
        return "excluded"
    if any(m.weight < 0 for m in a.matches):
        return "scored low"
    return "off topic"


# (id, title, summary, verdict with the default rules, verdict for a general news feed that
# requires [cameras, policing])
HEADLINES: list[tuple[str, str, str, Verdict, Verdict]] = [
    # --- what the links section wants ------------------------------------------------------
    ("lfr-vans", "Met Police to expand live facial recognition vans", "", "kept", "kept"),
    (
        "town-centre-upgrade",
        "Council approves £2m upgrade of town centre CCTV network",
        "The cabinet agreed to replace 120 analogue cameras with high-definition units.",
        "kept",
        "kept",
    ),
    (
        "bwv-evaluation",
        "Evaluation of body-worn cameras in English police forces",
        "A randomised controlled trial across ten forces measured complaints and assaults.",
        "kept",
        "kept",
    ),
    (
        "court-lfr-unlawful",
        "Court of Appeal rules police use of facial recognition unlawful",
        "",
        "kept",
        "kept",
    ),
    (
        "ico-guidance",
        "ICO publishes new guidance on video surveillance and data protection",
        "The regulator's guidance covers CCTV, ANPR and body-worn video used by organisations.",
        "kept",
        "kept",
    ),
    (
        "code-consultation",
        "Home Office consults on changes to the Surveillance Camera Code of Practice",
        "",
        "kept",
        "kept",
    ),
    (
        "commissioner-report",
        "Biometrics and Surveillance Camera Commissioner warns of gaps in oversight",
        "The commissioner's annual report says police use of drones and ANPR lacks regulation.",
        "kept",
        "kept",
    ),
    ("anpr-funding", "Police and crime commissioner funds 40 new ANPR cameras", "", "kept", "kept"),
    (
        "systematic-review",
        "Systematic review finds CCTV reduces vehicle crime in car parks",
        "A Campbell review of 80 studies found the largest effects in car parks.",
        "kept",
        "kept",
    ),
    ("drones", "Police drones to answer 999 calls in first UK trial", "", "kept", "kept"),
    (
        "conviction-quashed",
        "Murder conviction quashed after jury was shown flawed CCTV evidence",
        "",
        "kept",
        "kept",
    ),
    (
        "standard",
        "What the revised BS EN 62676-4 means for police CCTV installers",
        "",
        "kept",
        "kept",
    ),
    (
        "retail-fr-debate",
        "Big Brother Watch challenges Facewatch facial recognition in shops",
        "Campaigners say the cameras put shoppers on watchlists without consent.",
        "kept",
        "kept",  # a strong surveillance term meets `policing`
    ),
    (
        "video-analytics",
        "Police Scotland trials AI video analytics to speed up reviews of footage",
        "",
        "kept",
        "kept",
    ),
    (
        "retrospective-fr",
        "Forces ran 25,000 retrospective facial recognition searches last year",
        "Figures obtained by the BBC show searches of the police national database rose.",
        "kept",
        "kept",
    ),
    (
        "hikvision-ban",
        "Government bans Chinese-made surveillance cameras from sensitive sites",
        "Hikvision and Dahua equipment must be removed from departmental buildings.",
        "kept",
        "kept",  # a strong surveillance term meets `policing`
    ),
    (
        "journal-abstract",
        "Does public-area CCTV deter crime? A quasi-experimental study",
        "We evaluate the effect of closed-circuit television on street crime in 30 areas.",
        "kept",
        "kept",
    ),
    # --- routine appeals and viral clips: scored down ---------------------------------------
    (
        "appeal-leeds",
        "Police release CCTV image after Leeds burglary",
        "",
        "scored low",
        "scored low",
    ),
    (
        "appeal-speak-to",
        "CCTV images released of man police want to speak to",
        "Officers investigating an assault in Bradford have released CCTV images of a man they "
        "would like to speak to. Anyone who recognises him is asked to call 101 quoting "
        "crime reference 1234.",
        "scored low",
        "scored low",
    ),
    (
        "appeal-recognise",
        "Do you recognise this man? CCTV appeal after shop theft",
        "",
        "scored low",
        "scored low",
    ),
    (
        "viral-clip",
        "Shocking moment thief is caught on CCTV stealing parcel from doorstep",
        "",
        "scored low",
        "scored low",
    ),
    # --- China Central Television --------------------------------------------------------------
    ("cctv-space", "CCTV reports on Chinese space launch", "", "scored low", "scored low"),
    (
        "cctv-state-broadcaster",
        "Astronauts return to Earth, state broadcaster CCTV says",
        "",
        "excluded",
        "excluded",
    ),
    ("cctv-plus", "CCTV+: Shenzhou crew completes spacewalk", "", "excluded", "excluded"),
    ("cctv-13", "Watch CCTV-13 live coverage of the parade", "", "excluded", "excluded"),
    (
        "china-central-television",
        "China Central Television to air Spring Festival Gala",
        "",
        "excluded",
        "excluded",
    ),
    (
        "cgtn",
        "Police in Shanghai deploy new cameras, CGTN reports",
        "",
        "excluded",
        "excluded",
    ),
    # --- disease and other surveillance --------------------------------------------------
    ("disease-surveillance", "Disease surveillance network expands", "", "excluded", "excluded"),
    (
        "genomic-surveillance",
        "Genomic surveillance tracks new flu variant",
        "Sequencing labs and camera-based sampling kits ...",
        "excluded",
        "excluded",
    ),
    (
        "bare-surveillance",
        "Surveillance of bird flu stepped up in Norfolk",
        "",
        "off topic",
        "off topic",
    ),
    (
        "camera-trap",
        "Camera traps reveal pine martens returning to the New Forest",
        "",
        "excluded",
        "excluded",
    ),
    # --- not about CCTV at all, or not enough -------------------------------------------------
    (
        "context-only",
        "Home Office evaluation of police funding published",
        "",
        "off topic",
        "off topic",
    ),
    (
        "iphone",
        "iPhone 17 review: better camera, faster Face ID unlock",
        "",
        "scored low",
        "scored low",
    ),
    (
        "shopping",
        "Best home CCTV cameras for 2025: our buying guide",
        "",
        "scored low",
        "scored low",
    ),
    ("apnr-typo", "ANPRX launches new parking app", "", "off topic", "off topic"),
]


@pytest.mark.parametrize(
    ("title", "summary", "default", "general"),
    [pytest.param(t, s, d, g, id=i) for i, t, s, d, g in HEADLINES],
)
def test_feeds_yaml_tells_wanted_from_flood(
    real: config.Rules, title: str, summary: str, default: Verdict, general: Verdict
) -> None:
    e = entry(title, summary)
    assert verdict(e, match.compile_rules(real)) == default, match.assess(
        e, match.compile_rules(real)
    ).why
    news = match.compile_rules(real, config.SourceRules(require=["cameras", "policing"]))
    assert verdict(e, news) == general, match.assess(e, news).why


def test_feeds_yaml_rules_have_no_problems() -> None:
    cfg = config.load(ROOT / "feeds.yaml")
    assert match.check(cfg) == []
    assert set(cfg.rules.require) <= set(cfg.rules.groups)
    assert {"cameras", "policing"} <= set(cfg.rules.groups)


def test_feeds_yaml_has_no_bare_surveillance(real: config.Rules) -> None:
    """Bare 'surveillance' would pull in disease and space surveillance: only camera-related
    surveillance is a term."""
    terms = {*real.include, *(t for g in real.groups.values() for t in g)}
    assert not {t for t in terms if t.strip("*").lower() == "surveillance"}


def test_feeds_yaml_appeal_with_real_substance_is_kept_but_scored_down(real: config.Rules) -> None:
    e = entry(
        "Police appeal for witnesses as live facial recognition trial begins in Croydon",
        "The Metropolitan Police says the live facial recognition cameras will be in place "
        "for two weeks, with signs warning the public.",
    )
    c = match.match(e, match.compile_rules(real))
    assert c is not None
    assert "scored down: 'Police appeal'" in c.why


def test_feeds_yaml_journal_keep_all_keeps_off_topic_but_says_so(real: config.Rules) -> None:
    journal = match.compile_rules(real, config.SourceRules(keep_all=True))
    c = match.match(entry("Editorial: new directions for the journal"), journal)
    assert c is not None
    assert c.score == 0
    assert c.why.startswith("kept because this source keeps every entry")


# ------------------------------------------------------------------------------ term syntax

TERMS: list[tuple[str, str, str, bool]] = [
    # (id, term, text, matches)
    ("plain", "cctv", "New CCTV cameras", True),
    ("case", "cctv", "new cctv cameras", True),
    ("possessive", "cctv", "the CCTV's reach", True),
    ("curly-possessive", "cctv", "the CCTV’s reach", True),
    ("parenthesised", "cctv", "closed-circuit television (CCTV).", True),
    ("hyphenated-compound", "cctv", "CCTV-equipped vans", True),
    ("not-inside-word-after", "anpr", "the ANPRX system", False),
    ("not-inside-word-before", "anpr", "XANPR", False),
    ("not-plural-without-star", "camera", "cameras", False),
    ("digits-are-word", "cctv", "CCTV2 launched", False),
    ("star-plural", "camera*", "two cameras", True),
    ("star-empty", "camera*", "one camera", True),
    ("star-possessive", "camera*", "the camera's lens", True),
    ("star-before-hyphen", "camera*", "camera-equipped drones", True),
    ("star-middle", "randomi*ed", "a randomized trial", True),
    ("star-needs-prefix", "camera*", "webcam", False),
    ("phrase-space", "body-worn video", "body worn video", True),
    ("phrase-hyphen", "body worn video", "Body-Worn Video", True),
    ("phrase-many-spaces", "body-worn video", "body-worn \n video", True),
    ("phrase-unicode-hyphen", "body-worn video", "body\u2010worn video", True),
    ("phrase-dash-run", "body-worn video", "body - worn video", True),
    ("phrase-not-joined", "body-worn video", "bodyworn video", False),
    ("phrase-not-other-punctuation", "body-worn video", "body/worn video", False),
    ("phrase-star", "surveillance camera*", "surveillance cameras", True),
    ("digit-hyphen", "cctv-13", "CCTV-13", True),
    ("digit-hyphen-joined", "cctv-13", "CCTV13", True),
    ("digit-hyphen-dash", "cctv-13", "CCTV\u201313", True),
    ("digit-hyphen-not-space", "cctv-1", "CCTV 1,000 cameras", False),
    ("digit-hyphen-whole", "cctv-1", "CCTV-13", False),
    ("number-phrase", "bs en 62676", "BS EN 62676-4:2015", True),
    ("punctuation-term", "cctv+", "CCTV+ reports", True),
    ("dotted-term", "cctv.com", "english.cctv.com says", True),
    ("apostrophe-term", "police's", "the police’s view", True),
    ("non-ascii", "überwachungskamera*", "Neue Überwachungskameras", True),
    ("length-changing-lowercase", "cctv", "İstanbul CCTV", True),
]


@pytest.mark.parametrize(
    ("term", "text", "expected"), [pytest.param(*c[1:], id=c[0]) for c in TERMS]
)
def test_term_syntax(term: str, text: str, expected: bool) -> None:
    r = compiled(include={term: 5.0}, min_score=1)
    assert (match.match(entry(text), r) is not None) is expected
    assert any(hit for _, hit in match.highlight(text, r)) is expected


def test_term_match_reports_the_text_as_written() -> None:
    r = compiled(include={"surveillance camera*": 3.0})
    c = match.match(entry("Two Surveillance  Cameras installed"), r)
    assert c is not None
    assert c.matches == (Match("surveillance camera*", "title", 1, 3.0),)
    assert c.why == "title: Surveillance Cameras (score 6, needs 3)"


@pytest.mark.parametrize("term", ["*", "-", "*-*", "—", "x" * 300, "a*b*c"])
def test_unusable_term_is_a_config_error(term: str) -> None:
    with pytest.raises(ConfigError):
        compiled(include={"cctv": 3, term: 1})
    cfg = config.loads(
        "rules:\n  include: {cctv: 3}\nsources:\n"
        "  - {id: a, name: A, url: 'https://example.org/f', rules: {exclude: ['" + term + "']}}\n",
        "test.yaml",
    )
    problems = match.check(cfg)
    assert [p.key for p in problems] == ["sources[0] (id a).rules.exclude"]
    assert problems[0].file == "test.yaml"


def test_check_reports_an_empty_group() -> None:
    cfg = config.loads("rules:\n  groups: {policing: []}\n", "test.yaml")
    assert [p.key for p in match.check(cfg)] == ["rules.groups.policing"]


# ------------------------------------------------------------------------------ scoring


def test_score_is_weight_times_count_with_title_boost() -> None:
    r = compiled(include={"cctv": 3, "anpr": 2}, title_boost=2, min_score=0)
    c = match.match(entry("CCTV and ANPR", "More CCTV. And CCTV."), r)
    assert c is not None
    assert c.score == 3 * 2 + 2 * 2 + 3 * 2
    assert c.matches == (
        Match("cctv", "title", 1, 3.0),
        Match("anpr", "title", 1, 2.0),
        Match("cctv", "summary", 2, 3.0),
    )


def test_count_is_capped_per_term_and_field() -> None:
    r = compiled(include={"cctv": 3}, min_score=0)
    c = match.match(entry("x", "CCTV " * 7), r)
    assert c is not None
    assert c.matches == (Match("cctv", "summary", 7, 3.0),)
    assert c.score == 3 * match.MAX_COUNT


def test_min_score_is_inclusive() -> None:
    r = compiled(include={"cctv": 3}, min_score=3)
    assert match.match(entry("x", "cctv"), r) is not None
    r = compiled(include={"cctv": 3}, min_score=3.5)
    assert match.match(entry("x", "cctv"), r) is None


def test_longer_term_replaces_the_terms_inside_it() -> None:
    r = compiled(
        include={"facial recognition": 3, "live facial recognition": 4, "recognition": 1},
        min_score=0,
        title_boost=1,
    )
    c = match.match(entry("Live facial recognition and facial recognition"), r)
    assert c is not None
    assert [(m.term, m.count) for m in c.matches] == [
        ("live facial recognition", 1),
        ("facial recognition", 1),
    ]
    assert c.score == 7


def test_negative_phrase_replaces_the_positive_term_inside_it() -> None:
    r = compiled(include={"cctv": 3, "release cctv": -3}, min_score=-100, title_boost=1)
    c = match.match(entry("Police release CCTV"), r)
    assert c is not None
    assert c.score == -3
    assert c.why == "scored down: 'release CCTV' (score -3, needs -100)"


OVERLAPS: list[tuple[str, str, list[str]]] = [
    ("partly-longer-first", "Police release CCTV imagery", ["release cctv"]),
    ("partly-longer-second", "Police release CCTV images of", ["cctv images of"]),
    ("equal-length-earliest", "release cctv image", ["release cctv"]),
    ("chain-keeps-middle", "a release cctv imagery", ["release cctv"]),
    ("apart-both", "release cctv then cctv images", ["release cctv", "cctv images"]),
]


@pytest.mark.parametrize(("text", "terms"), [pytest.param(*c[1:], id=c[0]) for c in OVERLAPS])
def test_only_the_longest_of_overlapping_matches_counts(text: str, terms: list[str]) -> None:
    r = compiled(
        include={
            "cctv": 3,
            "release cctv": -3,
            "cctv images": -2,
            "cctv image": -1,
            "cctv images of": -2,
        },
        min_score=-100,
    )
    c = match.match(entry(text), r)
    assert c is not None
    assert [m.term for m in c.matches] == terms


def test_exclusion_drops_whatever_the_score() -> None:
    r = compiled(include={"cctv": 3}, exclude=["china central television"])
    e = entry("China Central Television: CCTV CCTV CCTV")
    assert match.match(e, r) is None
    a = match.assess(e, r)
    assert a.excluded == ("China Central Television",)
    assert a.why.startswith("dropped (excluded: 'China Central Television')")


def test_exclusion_in_the_summary_counts_too() -> None:
    r = compiled(include={"cctv": 3}, exclude=["cgtn"])
    assert match.match(entry("CCTV reports", "Source: CGTN"), r) is None


# ------------------------------------------------------------------------------ groups


def policing_rules(**source: Any) -> match.CompiledRules:
    return compiled(
        source or None,
        include={"cctv": 3, "anpr": 3},
        groups={"cameras": ["cctv", "anpr"], "policing": ["police", "officer*", "crime*"]},
        require=["cameras"],
    )


REQUIRE: list[tuple[str, dict[str, Any], str, str, bool]] = [
    ("default-met", {}, "New CCTV for the high street", "", True),
    ("default-unmet", {}, "x", "", False),
    ("replaced-met-in-title", {"require": ["policing"]}, "Police add CCTV", "", True),
    ("replaced-met-in-summary", {"require": ["policing"]}, "New CCTV", "Officers said", True),
    ("replaced-unmet", {"require": ["policing"]}, "New CCTV in shops", "", False),
    ("both-met", {"require": ["cameras", "policing"]}, "CCTV cuts crime", "", True),
    ("none", {"require": []}, "Police add CCTV", "", True),
]


@pytest.mark.parametrize(
    ("source", "title", "summary", "kept"), [pytest.param(*c[1:], id=c[0]) for c in REQUIRE]
)
def test_required_groups(source: dict[str, Any], title: str, summary: str, kept: bool) -> None:
    assert (match.match(entry(title, summary), policing_rules(**source)) is not None) is kept


def test_missing_group_is_named_in_assessment() -> None:
    a = match.assess(entry("New CCTV in shops"), policing_rules(require=["policing"]))
    assert a.missing == ("policing",)
    assert a.why == "dropped (no term from 'policing') · title: CCTV (score 6, needs 3)"


def test_group_terms_are_listed_with_no_weight() -> None:
    r = policing_rules(require=["cameras", "policing"])
    c = match.match(entry("CCTV review ordered by police", "The review covers ANPR."), r)
    assert c is not None
    assert c.why == (
        "met cameras: CCTV, ANPR; policing: police · title: CCTV · summary: ANPR"
        " · context only: police (score 9, needs 3)"
    )
    assert Match("police", "title", 1, 0.0) in c.matches


def test_why_shows_the_terms_that_met_each_group_before_a_long_listing() -> None:
    # Seven scoring terms ahead of the one camera term: the listing hides it, the "met"
    # part does not.
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]
    r = compiled(
        {"require": ["cameras"]},
        include={**dict.fromkeys(words, 1), "cctv": 3},
        groups={"cameras": ["cctv"]},
    )
    c = match.match(entry("x", " ".join(words) + " and CCTV"), r)
    assert c is not None
    assert c.why == (
        "met cameras: CCTV · summary: alpha, bravo, charlie, delta, echo, foxtrot and 2 more"
        " (score 10, needs 3)"
    )


def test_why_marks_context_only_terms_apart_from_scoring_ones() -> None:
    r = policing_rules(require=["policing"])
    c = match.match(entry("CCTV for officers", "Crime fell, officers said."), r)
    assert c is not None
    assert c.why == (
        "met policing: officers, Crime · title: CCTV · context only: officers, Crime"
        " (score 6, needs 3)"
    )


def test_why_shows_at_most_three_terms_per_group() -> None:
    r = compiled(
        {"require": ["policing"]},
        include={"cctv": 3},
        groups={"policing": ["police", "officer*", "crime*", "constable*"]},
    )
    c = match.match(entry("CCTV", "Police, officers, constables and crime"), r)
    assert c is not None
    assert c.why.startswith("met policing: Police, officers, constables and 1 more · ")


def test_group_term_inside_an_included_phrase_is_not_listed_twice() -> None:
    r = compiled(
        {"require": ["policing"]},
        include={"police drone*": 3},
        groups={"policing": ["police"]},
    )
    c = match.match(entry("Police drones take off"), r)
    assert c is not None
    assert c.why == "met policing: Police · title: Police drones (score 6, needs 3)"


# ------------------------------------------------------------------------------ source rules


def test_keep_all_keeps_and_still_scores_and_explains() -> None:
    r = compiled({"keep_all": True}, include={"cctv": 3, "appeal for": -2}, exclude=["cgtn"])
    c = match.match(entry("CGTN: appeal for CCTV"), r)
    assert c is not None
    assert c.score == 2
    assert c.why == (
        "kept because this source keeps every entry (else excluded: 'CGTN'; score below 3)"
        " · title: CCTV · scored down: 'appeal for' (score 2, needs 3)"
    )
    nothing = match.match(entry("Editorial"), r)
    assert nothing is not None
    assert nothing.why == (
        "kept because this source keeps every entry (else score below 3) · no terms matched"
        " (score 0, needs 3)"
    )


def test_keep_all_does_not_mention_itself_when_the_rules_keep_the_entry() -> None:
    r = compiled({"keep_all": True}, include={"cctv": 3})
    c = match.match(entry("CCTV"), r)
    assert c is not None
    assert c.why == "title: CCTV (score 6, needs 3)"


def test_source_min_score() -> None:
    e = entry("x", "CCTV")
    assert match.match(e, compiled(include={"cctv": 3})) is not None
    assert match.match(e, compiled({"min_score": 4}, include={"cctv": 3})) is None


def test_source_include_adds_and_reweights() -> None:
    r = compiled({"include": {"body worn video": 10, "taser": 3}}, include={"body-worn video": 3})
    c = match.match(entry("x", "Body-worn video and Taser"), r)
    assert c is not None
    assert c.matches == (
        Match("body worn video", "summary", 1, 10.0),
        Match("taser", "summary", 1, 3.0),
    )


def test_source_exclude_adds() -> None:
    e = entry("CCTV at the stadium")
    assert match.match(e, compiled(include={"cctv": 3})) is not None
    assert match.match(e, compiled({"exclude": ["stadium"]}, include={"cctv": 3})) is None


def test_empty_rules_keep_nothing_unless_keep_all() -> None:
    assert match.match(entry("CCTV"), match.compile_rules(config.Rules())) is None
    c = match.match(
        entry("CCTV"), match.compile_rules(config.Rules(), config.SourceRules(keep_all=True))
    )
    assert c is not None
    assert c.matches == ()


def test_compiled_once_per_distinct_rules() -> None:
    a = compiled(include={"cctv": 3})
    b = compiled({}, include={"cctv": 3})
    assert a is b


# ------------------------------------------------------------------------------ explanations


def test_why_lists_title_then_summary_in_order_of_appearance() -> None:
    r = compiled(include={"cctv": 3, "anpr": 3, "privacy": 1}, min_score=0)
    c = match.match(entry("Privacy and CCTV", "ANPR, then CCTV, then cctv"), r)
    assert c is not None
    assert c.why == "title: Privacy, CCTV · summary: ANPR, CCTV (score 17, needs 0)"


def test_why_names_negative_terms() -> None:
    r = compiled(include={"cctv": 3, "appeal for witnesses": -1}, min_score=0)
    c = match.match(entry("CCTV upgrade", "Police appeal for witnesses"), r)
    assert c is not None
    assert c.why == "title: CCTV · scored down: 'appeal for witnesses' (score 5, needs 0)"


def test_why_shortens_long_lists() -> None:
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    r = compiled(include=dict.fromkeys(words, 1))
    c = match.match(entry("x", " ".join(words)), r)
    assert c is not None
    assert c.why == (
        "summary: alpha, bravo, charlie, delta, echo, foxtrot and 2 more (score 8, needs 3)"
    )


def test_dropped_entry_explained() -> None:
    a = match.assess(entry("CCTV"), compiled(include={"cctv": 1}))
    assert not a.kept
    assert a.kept_by is None
    assert a.why == "dropped (score below 3) · title: CCTV (score 2, needs 3)"


# ------------------------------------------------------------------------------ highlight

HIGHLIGHT: list[tuple[str, str, list[tuple[str, bool]]]] = [
    ("empty", "", []),
    ("none", "Nothing here", [("Nothing here", False)]),
    ("whole", "CCTV", [("CCTV", True)]),
    (
        "several",
        "Police release CCTV of ANPR use",
        [
            ("Police", True),
            (" ", False),
            ("release CCTV", True),
            (" of ", False),
            ("ANPR", True),
            (" use", False),
        ],
    ),
    (
        "overlap-merged",
        "live facial recognition trial",
        [("live facial recognition", True), (" trial", False)],
    ),
    ("exclusions-too", "CGTN says", [("CGTN", True), (" says", False)]),
    ("group-terms-too", "police said", [("police", True), (" said", False)]),
    ("case-kept", "cctv and Cctv", [("cctv", True), (" and ", False), ("Cctv", True)]),
    ("unicode-lowercase", "İ CCTV", [("İ ", False), ("CCTV", True)]),
]


@pytest.mark.parametrize(("text", "chunks"), [pytest.param(*c[1:], id=c[0]) for c in HIGHLIGHT])
def test_highlight(text: str, chunks: list[tuple[str, bool]]) -> None:
    r = compiled(
        {"require": ["policing"]},
        include={
            "cctv": 3,
            "anpr": 3,
            "release cctv": -3,
            "facial recognition": 3,
            "live facial recognition": 4,
        },
        exclude=["cgtn"],
        groups={"policing": ["police"]},
    )
    assert match.highlight(text, r) == chunks
    assert "".join(c for c, _ in chunks) == text


def test_highlight_real_rules(real: config.Rules) -> None:
    r = match.compile_rules(real)
    text = "Evaluation of body-worn cameras in English police forces"
    marked = [c for c, hit in match.highlight(text, r) if hit]
    assert marked == ["Evaluation", "body-worn cameras"]


def test_infinite_weight_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="finite"):  # the rules model refuses it ...
        compiled(include={"cctv": float("inf")})
    with pytest.raises(ConfigError, match=r"feeds.yaml:1: rules.include.cctv: .*finite"):
        config.loads("rules: {include: {cctv: .inf}}")  # ... and feeds.yaml says where


def test_terms_found_looks_for_each_term_on_its_own() -> None:
    """What the editors' note asks: did a term find anything?  ``cctv`` inside "CCTV network"
    counts although the longer term scored in its place; phrases, ``*`` and whole words
    follow the matching rules; a term that cannot match is never found."""
    texts = ["New CCTV network for the town centre", "Body worn cameras trial", "Dronesque"]
    terms = ["cctv", "cctv network*", "body-worn camera*", "camera", "drone*", "anpr", "?!"]
    assert match.terms_found(terms, texts) == {
        "cctv",
        "cctv network*",
        "body-worn camera*",
        "drone*",
    }
    assert match.terms_found(terms, []) == set()
    assert match.terms_found([], texts) == set()


# ------------------------------------------------------------------------------ near misses

NEAR: list[tuple[str, dict[str, Any], str, str, tuple[str, ...] | None]] = [
    # (id, source rules, title, summary, the groups it lacked, or None: not a near miss)
    ("lacks-policing", {"require": ["policing"]}, "New CCTV in shops", "", ("policing",)),
    ("lacks-one-of-two", {"require": ["cameras", "policing"]}, "x", "CCTV, ANPR", ("policing",)),
    (
        "lacks-both",
        {"require": ["cameras", "policing"], "include": {"privacy": 5}},
        "Privacy row",
        "",
        ("cameras", "policing"),
    ),
    ("kept", {"require": ["policing"]}, "Police add CCTV", "", None),
    ("scored-too-little", {"require": ["policing"], "min_score": 7}, "New CCTV", "", None),
    ("excluded", {"require": ["policing"], "exclude": ["shops"]}, "CCTV in shops", "", None),
    ("keep-all", {"require": ["policing"], "keep_all": True}, "CCTV in shops", "", None),
    ("nothing-required", {"require": []}, "Bake sale", "", None),
    ("off-topic", {"require": ["policing"]}, "Bake sale", "", None),
]


@pytest.mark.parametrize(
    ("source", "title", "summary", "lacked"), [pytest.param(*c[1:], id=c[0]) for c in NEAR]
)
def test_near_miss_is_an_entry_left_out_only_for_a_missing_group(
    source: dict[str, Any], title: str, summary: str, lacked: tuple[str, ...] | None
) -> None:
    r = policing_rules(**source)
    found = match.near_miss(entry(title, summary), r)
    assert (found.missing if found is not None else None) == lacked
    if found is not None:
        assert match.match(entry(title, summary), r) is None
        assert found.score >= r.min_score
        assert found.why.startswith("dropped (no term from 'policing')") == (len(lacked) == 1)


def test_near_miss_needs_a_positive_score_even_when_the_threshold_is_zero() -> None:
    r = compiled(
        {"require": ["policing"], "min_score": 0},
        include={"cctv": 3, "appeal for": -5},
        groups={"policing": ["police"]},
    )
    assert match.near_miss(entry("CCTV appeal for witnesses"), r) is None
    assert match.near_miss(entry("CCTV in shops"), r) is not None


def test_check_names_a_global_problem_once_and_each_source_problem_under_its_source() -> None:
    """The global rules are checked once, not once a source (`curator items` at 500 sources
    paid 20 ms for that), and a source's own rules still under its own key."""
    cfg = config.loads(
        "rules:\n  include: {cctv: 3}\n  exclude: ['*']\nsources:\n"
        "  - {id: a, name: A, url: 'https://example.org/a'}\n"
        "  - {id: b, name: B, url: 'https://example.org/b', rules: {include: {'-': 2}}}\n"
        "  - {id: c, name: C, url: 'https://example.org/c'}\n",
        "test.yaml",
    )
    assert [p.key for p in match.check(cfg)] == [
        "rules.exclude",
        "sources[1] (id b).rules.include",
    ]
