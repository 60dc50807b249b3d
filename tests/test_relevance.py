"""The default rules of feeds.yaml on what general news really carries: the false positives and
misses found by hand-labelling 600 entries of the news2023 stream (bench/relevance/), pinned
one by one, and a quality floor on the labels themselves through the real parse → normalize
→ match code (bench/relevance.py)."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from curator import config, match
from curator.types import Entry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import relevance  # noqa: E402

NOW = datetime(2023, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def real() -> config.Rules:
    return config.load(ROOT / "feeds.yaml").rules


@pytest.fixture(scope="module")
def general(real: config.Rules) -> match.CompiledRules:
    """The rules a general news source gets in feeds.yaml."""
    cfg = config.load(ROOT / "feeds.yaml")
    assert any(s.rules.require == ["cameras", "policing"] for s in cfg.sources)
    return match.compile_rules(real, config.SourceRules(require=["cameras", "policing"]))


def entry(title: str, summary: str = "") -> Entry:
    return Entry(
        source_id="news",
        title=title,
        url="https://example.org/a",
        canonical_url="https://example.org/a",
        item_id="a",
        summary_html=summary,
        summary_text=summary,
        published=NOW,
    )


def kept(rules: match.CompiledRules, title: str, summary: str = "") -> bool:
    return match.assess(entry(title, summary), rules).kept


# Each headline below is a real one from the news2023 stream (the summary shortened).
DROPPED = {
    "crimea": (
        "Russia Says Ukraine Targeted Crimea With Dozens of Drones",
        "The attacks came the day after Ukraine claimed that its special forces had staged a "
        "brief raid into the occupied Crimean Peninsula.",
    ),
    "pilots": (
        "Russia-Ukraine war at a glance: what we know on day 545 of the invasion",
        "Two people injured after Ukrainian drone falls on house in Moscow; Greece to train "
        "F-16 pilots. Russian investigators examined the crimes, a camera shows.",
    ),
    "suspected-drone": (
        "British Warship Shoots Down Suspected Attack Drone in Red Sea",
        "Undated file photo of HMS Diamond.",
    ),
    "drone-only": (
        "PhD Student Who Was Building Kamikaze Drone for ISIS Is Convicted of Terror Offence",
        "An undated image of a drone built by PhD student Mohamad Al-Bared.",
    ),
    "bodycam-footage": (
        "Fort Worth police release bodycam footage of moment kidnapped infant is located",
        "Fort Worth police released bodycam footage of the moment an officer located a "
        "six-month-old baby who was kidnapped when a suspect stole a car.",
    ),
    "bodycam-video": (
        "Akron Police rescue woman from serial kidnapper in shocking bodycam video",
        "William Mozingo, who has a history of kidnappings, was arrested, police said.",
    ),
    "bodycams-show": (
        "California man shot after calling cops 'pigs', charging them with steel bar",
        "Oxnard Police Department bodycams show Adam Barcenas charging at a police officer "
        "with a steel bar before he was shot and killed.",
    ),
    "body-camera-footage": (
        "Police body camera footage released in New Mexico mass shooting",
        "Police have released body camera footage from officers who responded to the mass "
        "shooting in New Mexico.",
    ),
    "video-evidence": (
        "Sealed Alex Murdaugh crime scene videos mistakenly sent to Netflix: report",
        "Video evidence from Alex Murdaugh's crime scene was mistakenly sent to Netflix, which "
        "required a judge's intervention in order to keep them sealed.",
    ),
    "courtroom-cameras": (
        "Idaho student murders: Kohberger's legal team asks judge to ban cameras from courtroom",
        "Bryan Kohberger's legal team is asking a judge to ban cameras from the courtroom for "
        "the remainder of the case's proceedings.",
    ),
    "age-check": (
        "ESRB Proposes Using Facial Recognition To Verify Your Age",
        "The ESRB has asked the FTC for approval to use facial recognition technology to help "
        "determine how old a user is.",
    ),
}

KEPT = {
    "alberta-body-cameras": (
        "'A Transformational Decision:' Alberta Requiring Body Cameras for All Police Services",
        "A police vehicle is shown at the Calgary Police Service headquarters.",
    ),
    "rcmp-body-cameras": (
        "RCMP's plan to outfit officers with body cameras delayed again",
        "The RCMP's long-promised plan to equip Mounties with body-worn cameras has been delayed.",
    ),
    "bwv-misuse": (
        "Police accused of widely misusing body-worn video in England and Wales",
        "Switching off cameras and sharing footage on WhatsApp among more than 150 incidents "
        "found in BBC investigation.",
    ),
    "police-drones": (
        "NYPD drones could be crashing your large Labor Day weekend parties",
        "New York City says it will send drones to outdoor gatherings before it sends officers. "
        "Critics call the plan downright creepy.",
    ),
    "drone-for-cops": (
        "This New Autonomous Drone for Cops Can Track You In the Dark",
        "Civil liberties groups warn that few rules govern police use of drones.",
    ),
    # Strong surveillance terms, no police word: they meet `policing` on their own.
    "fr-ban-schools": (
        "New York Bans Facial Recognition in Schools",
        "A report concluded the risks to student privacy and civil rights outweigh potential "
        "security benefits.",
    ),
    "clearview-watchdog": (
        "California watchdog has strong words for Clearview, but CEO says they're mistaken",
        "A consumer watchdog is barking loudly at Clearview AI and its facial recognition "
        "system, accusing the firm of disregard for the privacy rights of citizens.",
    ),
    "hikvision-west-bank": (
        "How Chinese firm linked to repression of Uyghurs aids Israeli surveillance in West Bank",
        "Cameras made by Hikvision blanket the occupied West Bank; residents say surveillance "
        "cameras peer into their homes.",
    ),
    "olympics-surveillance-cameras": (
        "French high court issues decision supporting AI-powered surveillance cameras for "
        "Paris Olympics",
        "The French Constitutional Council backed a new law clearing the use of AI-powered "
        "surveillance cameras during the 2024 Paris Olympics, on Wednesday.",
    ),
}


@pytest.mark.parametrize("key", sorted(DROPPED))
def test_general_news_drops_known_false_positives(general: match.CompiledRules, key: str) -> None:
    title, summary = DROPPED[key]
    result = match.assess(entry(title, summary), general)
    assert not result.kept, result.why


@pytest.mark.parametrize("key", sorted(KEPT))
def test_general_news_keeps_known_relevant_entries(general: match.CompiledRules, key: str) -> None:
    title, summary = KEPT[key]
    result = match.assess(entry(title, summary), general)
    assert result.kept, result.why


def test_crimea_and_suspected_are_no_policing_words(general: match.CompiledRules) -> None:
    """The war report above was kept by `crime*` matching Crimea; now the policing group has
    nothing to meet in it even when a CCTV term is there."""
    result = match.assess(
        entry("CCTV catches blast in Crimea", "A suspected drone hit the Crimean bridge."),
        general,
    )
    assert result.missing == ("policing",), result.why
    assert "Crimea" not in result.why.split("met ")[1]


def test_pilots_score_nothing_but_a_pilot_scheme_does(general: match.CompiledRules) -> None:
    pilots = match.assess(entry("Greece to train F-16 pilots", "CCTV of the airbase"), general)
    assert not [m for m in pilots.matches if m.term.startswith("pilot")]
    scheme = match.assess(entry("Council CCTV pilot scheme extended", ""), general)
    assert [m.term for m in scheme.matches if m.term.startswith("pilot")] == ["pilot scheme*"]


def test_a_drone_alone_meets_no_camera_group(general: match.CompiledRules) -> None:
    result = match.assess(entry("Police say drones were flown over the prison", ""), general)
    assert "cameras" in result.missing and not result.kept


def test_bodycam_policy_in_footage_story_survives_on_its_substance(
    general: match.CompiledRules,
) -> None:
    """Scoring footage down leaves a story kept when the rest of it is about the cameras."""
    result = match.assess(
        entry(
            "Bodycam footage rules: police watchdog demands body-worn camera policy review",
            "The oversight body says the legislation on retention of body-worn video is unclear.",
        ),
        general,
    )
    assert result.kept, result.why
    assert "scored down: 'Bodycam footage'" in result.why


def test_bare_facial_recognition_still_needs_a_policing_word(
    general: match.CompiledRules,
) -> None:
    """Measured: bare "facial recognition" in general news is as often a phone, laptop or
    bank check, so it alone does not stand for policing; with a police word it is kept."""
    phone = match.assess(entry("Laptop review: facial recognition login is fast", ""), general)
    assert phone.missing == ("policing",)
    police = match.assess(entry("Police expand facial recognition searches", ""), general)
    assert police.kept


# --------------------------------------------------------------------------------------------
# The labels and the quality floor


def test_labels_are_a_recorded_stratified_sample() -> None:
    with relevance.LABELS.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 300
    assert {"url", "title", "relevant", "file", "stratum", "note", "split"} <= set(rows[0])
    assert {r["relevant"] for r in rows} == {"0", "1"}
    assert len({r["url"] for r in rows}) == len(rows)
    strata = json.loads(relevance.STRATA.read_text())
    drawn = {s: sum(r["stratum"] == s for r in rows) for s in strata["population"]}
    assert drawn == strata["sample"]
    assert sum(strata["population"].values()) == 23_635
    assert {r["split"] for r in rows} == {"dev", "heldout"}
    assert sum(r["split"] == "heldout" for r in rows) >= 100


def test_wilson_interval() -> None:
    low, high = relevance.wilson(5, 10)
    assert (round(low, 3), round(high, 3)) == (0.237, 0.763)
    assert relevance.wilson(0, 0) == (0.0, 1.0)
    assert relevance.wilson(10, 10)[1] == 1.0


@pytest.fixture(scope="module")
def stream() -> relevance.Stream:
    if not relevance.STREAM.exists():
        pytest.skip(f"the news2023 stream is not at {relevance.STREAM}")
    return relevance.load_stream(only={label.url for label in relevance.read_labels()})


def test_every_label_is_an_entry_of_the_stream(stream: relevance.Stream) -> None:
    assert len(stream.entries) == len(relevance.read_labels())


def test_default_rules_meet_the_measured_quality_on_the_labels(stream: relevance.Stream) -> None:
    """Measured when the rules were changed (README, "Rules"): all 600 labels precision 67 %,
    recall 89 %; held-out 149 labels 67 % and 95 %.  The floor is those minus a margin, and
    the rules before the change (bench/relevance/feeds-before.yaml) stay far below it."""
    _, now, _ = relevance.evaluate(ROOT / "feeds.yaml", None, "all", stream)
    assert now.precision >= 0.58 and now.recall >= 0.82, now
    _, held, _ = relevance.evaluate(ROOT / "feeds.yaml", None, "heldout", stream)
    assert held.precision >= 0.55 and held.recall >= 0.84, held
    _, before, _ = relevance.evaluate(relevance.BEFORE, None, "all", stream)
    assert before.precision < 0.4 < now.precision
    assert now.stream_precision > before.stream_precision + 0.2


def test_bench_shows_false_positives_with_the_terms_that_kept_them(
    stream: relevance.Stream,
) -> None:
    _, _, judged = relevance.evaluate(relevance.BEFORE, None, "all", stream)
    crimea = [j for j in judged if j.label.title == DROPPED["crimea"][0]]
    assert len(crimea) == 1 and crimea[0].kept and not crimea[0].label.relevant
    assert "policing: Crimea" in crimea[0].why


def test_bench_reports_a_bad_rules_file_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not relevance.STREAM.exists():
        pytest.skip(f"the news2023 stream is not at {relevance.STREAM}")
    bad = tmp_path / "feeds.yaml"
    bad.write_text("rules:\n  require: [nowhere]\n")
    assert relevance.main(["--rules", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "nowhere" in err and "Traceback" not in err
