"""Who published an item, and where: the publisher class and jurisdiction of its sources.

Each source in ``feeds.yaml`` declares ``class`` (one of :data:`PUBLISHER_CLASSES`) and
``jurisdiction`` (default ``UK``).  An item carries the values of its first source as they
were when it was made (``Item.publisher_class``, ``Item.jurisdiction``), but what the program
shows and filters by is :func:`of`, which prefers the first source's *current* values:

* a source reclassified in ``feeds.yaml`` (or by the sources page) moves every item it gave at
  once, with no rewrite of the store and nothing to forget to run;
* an item whose source has since been removed keeps the values it was made with;
* an item added by hand (source ``manual``), or stored before these fields existed and whose
  source is gone, has none: it is "unclassified" and no class filter selects it.

Research is told apart from news by :func:`is_research`: an item of category ``research``, or
one whose first source is of class ``academic`` (a university's news feed reports studies).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from curator.config import JURISDICTION_CODE, Config, Source
from curator.types import DEFAULT_JURISDICTION, PUBLISHER_CLASSES, Item, PublisherClass

__all__ = [
    "DEFAULT_JURISDICTION",
    "PUBLISHER_CLASSES",
    "Classes",
    "Publisher",
    "is_research",
    "matches",
    "of",
    "parse_classes",
    "parse_jurisdictions",
]


@dataclass(frozen=True)
class Publisher:
    """An item's publisher class (None: unclassified) and jurisdiction (None: unknown)."""

    publisher_class: str | None
    jurisdiction: str | None


@dataclass(frozen=True)
class Classes:
    """Each configured source's (class, jurisdiction), looked up by source id.

    Built once per configuration (:meth:`of_config`); equal for equal values, so it can key
    a cache of rendered outputs."""

    by_source: tuple[tuple[str, str | None, str], ...] = ()

    @classmethod
    def of_config(cls, config: Config | Iterable[Source]) -> Classes:
        sources = config.sources if isinstance(config, Config) else config
        return cls(tuple((s.id, s.publisher_class, s.jurisdiction) for s in sources))

    def lookup(self) -> dict[str, tuple[str | None, str]]:
        return {sid: (klass, where) for sid, klass, where in self.by_source}


def of(item: Item, classes: Classes | Mapping[str, tuple[str | None, str]]) -> Publisher:
    """The item's publisher: its first source's current values, else those it was made
    with (see the module docstring for why)."""
    table = classes.lookup() if isinstance(classes, Classes) else classes
    first = item.sources[0] if item.sources else None
    if first is not None and first in table:
        klass, where = table[first]
        return Publisher(klass, where)
    return Publisher(item.publisher_class, item.jurisdiction)


def is_research(item: Item, publisher: Publisher) -> bool:
    """Research rather than news: category ``research``, or an academic publisher."""
    return item.category == "research" or publisher.publisher_class == "academic"


def parse_classes(values: Sequence[str]) -> tuple[PublisherClass, ...]:
    """``["police", "government,regulator"]`` → classes in the canonical order; ValueError
    names the unknown one and lists the known ones."""
    wanted: set[str] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in PUBLISHER_CLASSES:
                shown = part.strip() if len(part.strip()) <= 40 else part.strip()[:40] + "…"
                raise ValueError(
                    f"unknown class {shown!r}; use one of {', '.join(PUBLISHER_CLASSES)}"
                )
            wanted.add(name)
    return tuple(c for c in PUBLISHER_CLASSES if c in wanted)


def parse_jurisdictions(values: Sequence[str]) -> tuple[str, ...]:
    """``["uk", "EU,US"]`` → sorted upper-case codes; ValueError for one that cannot be a
    jurisdiction code (any well-formed code is accepted: none configured simply selects
    nothing)."""
    wanted: set[str] = set()
    for value in values:
        for part in value.split(","):
            code = part.strip().upper()
            if not code:
                continue
            if not JURISDICTION_CODE.match(code):
                shown = part.strip() if len(part.strip()) <= 40 else part.strip()[:40] + "…"
                raise ValueError(
                    f"jurisdiction must be a short code such as UK, US, EU or GB-SCT, not {shown!r}"
                )
            wanted.add(code)
    return tuple(sorted(wanted))


def matches(publisher: Publisher, classes: Sequence[str], jurisdictions: Sequence[str]) -> bool:
    """Whether a publisher passes a filter (an empty filter passes everything)."""
    if classes and publisher.publisher_class not in classes:
        return False
    return not (jurisdictions and publisher.jurisdiction not in jurisdictions)
