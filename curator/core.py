"""The one wiring point: :func:`make_curator` builds a :class:`Curator` from its parts.

Everything with an effect — the store (disk), the HTTP client (network), the clock and the mail
sender — is passed in here, so tests and benchmarks swap them without patching modules, and
nothing else in the package holds global state.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from curator.config import Config, ConfigStatus, Source
from curator.exceptions import UnknownSource
from curator.health import Health
from curator.ranking import Ranking
from curator.review import Review
from curator.store import Store, open_store
from curator.stories import StoryIndex
from curator.types import PollReport, SourceReport

if TYPE_CHECKING:
    import httpx

    from curator.enrich import EnrichReport
    from curator.fetch import Fetcher
    from curator.mailer import Mailer
    from curator.pipeline import Claim
    from curator.polls import ScheduledPolls
    from curator.workers import Workers

log = logging.getLogger("curator.core")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Curator:
    """A configured Curator: poll sources, review items, publish and send digests."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store,
        fetcher: Fetcher | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Clock,
        workers: Workers | None = None,
        smtp_password: str | None = None,
        mailer: Mailer | None = None,
    ) -> None:
        self.config = config
        self.mailer = mailer
        self.store = store
        self._fetcher = fetcher
        self._fetch_settings = config.fetch  # what a fetcher made later is made with
        self._client = client
        self.clock = clock
        self.workers = workers
        self.smtp_password = smtp_password
        # Set by `serve` (its ConfigWatcher.reload): re-read feeds.yaml now.  The web app calls
        # it after saving the file, so the next page shows the change rather than the old
        # configuration for the seconds the file watch would take.
        self.reload_config: Callable[[str], Awaitable[bool]] | None = None
        # Same story, one item: None when feeds.yaml turns it off (stories.enabled).
        self.stories = (
            StoryIndex(
                threshold=config.stories.threshold,
                window=timedelta(seconds=config.stories.window),
            )
            if config.stories.enabled
            else None
        )
        self.review = Review(store, clock, on_change=self.changed, stories=self.stories)
        self.health = Health()  # scheduled jobs' outcomes, for /healthz
        self.ranking = Ranking(store)  # the learned model (curator.ranking), reloaded on change
        self.config_status: ConfigStatus | None = None  # serve's last reading of feeds.yaml
        self._enriching = False  # a research metadata run is under way (one at a time)
        self._scheduled_polls: ScheduledPolls | None = None

    @property
    def scheduled_polls(self) -> ScheduledPolls:
        """serve's poll jobs, gathered: those firing together poll as one (made on first
        use, so that commands which schedule nothing do not import asyncio for it)."""
        if self._scheduled_polls is None:
            from curator.polls import ScheduledPolls

            self._scheduled_polls = ScheduledPolls(self)
        return self._scheduled_polls

    @scheduled_polls.setter
    def scheduled_polls(self, polls: ScheduledPolls) -> None:
        self._scheduled_polls = polls

    @property
    def fetcher(self) -> Fetcher:
        """The HTTP side, made on first use (with the fetch settings and client the Curator
        was built with): commands that fetch nothing never import httpx."""
        if self._fetcher is None:
            from curator.fetch import Fetcher

            self._fetcher = Fetcher(self._fetch_settings, client=self._client)
        return self._fetcher

    @fetcher.setter
    def fetcher(self, fetcher: Fetcher) -> None:
        self._fetcher = fetcher

    async def poll(
        self,
        source_ids: Sequence[str] | None = None,
        *,
        due_only: bool = False,
        slack: float = 0.0,
        progress: Callable[[SourceReport], None] | None = None,
        claim: Claim | None = None,
    ) -> PollReport:
        """Poll the named sources (all enabled ones by default), or only those due (within
        ``slack`` seconds from now); with *claim*, only those it claims, a chunk at a time
        (:func:`curator.pipeline.poll_many`)."""
        from curator import pipeline

        now = self.clock()
        if source_ids:
            known = [s.id for s in self.config.sources]
            sources = []
            for sid in source_ids:
                source = self.config.source(sid)
                if source is None:
                    raise UnknownSource(sid, known)
                sources.append(source)
        else:
            sources = [s for s in self.config.sources if s.enabled]
        if due_only:
            sources = pipeline.due(sources, self.store, now + timedelta(seconds=slack))
        report = await pipeline.poll_many(
            sources,
            config=self.config,
            fetcher=self.fetcher,
            store=self.store,
            now=now,
            workers=self.workers,
            progress=progress,
            stories=self.stories,
            claim=claim,
            chunk=self.config.fetch.concurrency,
        )
        enriched = await self._enrich_after(report, sources, now)
        if enriched or any(r.new or r.duplicates for r in report.sources):
            # The export writes and fsyncs files: off the event loop, which serves editors.
            import asyncio  # here: read-only commands import this module, never the loop

            await asyncio.to_thread(self.changed)
        return report

    async def _enrich_after(
        self, report: PollReport, sources: Sequence[Source], now: datetime
    ) -> int:
        """Look up research metadata when this poll stored research items (issue 12)."""
        research = {s.id for s in sources if s.category == "research"}
        if (
            self._enriching
            or not self.config.research.enrich
            or not any(r.new or r.duplicates for r in report.sources if r.source_id in research)
        ):
            return 0  # a run already under way (another source's poll) covers these items
        from curator import enrich

        self._enriching = True
        try:
            done = await enrich.enrich_quietly(config=self.config, store=self.store, now=now)
        finally:
            self._enriching = False
        return done.enriched if done else 0

    async def enrich_research(self, item_ids: Sequence[str] | None = None) -> EnrichReport:
        """``curator research enrich``: look up research items' metadata now."""
        from curator import enrich

        fetcher = enrich.research_fetcher(self.config)
        try:
            return await enrich.enrich(
                config=self.config,
                store=self.store,
                fetcher=fetcher,
                now=self.clock(),
                item_ids=item_ids,
            )
        finally:
            await fetcher.aclose()

    def changed(self) -> None:
        """Items changed: refresh the static export when ``publish.out_dir`` asks for one."""
        from curator import publish

        publish.refresh(self.config, self.store, self.clock())

    async def aclose(self) -> None:
        if self._scheduled_polls is not None:
            await self._scheduled_polls.aclose()
        if self._fetcher is not None:
            await self._fetcher.aclose()


def make_curator(
    config: Config,
    *,
    store: Store | str | Path | None = None,
    client: httpx.AsyncClient | None = None,
    clock: Clock | None = None,
    workers: Workers | None = None,
    smtp_password: str | None = None,
    mailer: Mailer | None = None,
) -> Curator:
    """Build a Curator. Defaults: ``CURATOR_DATABASE_URL`` or ``./store``, a fresh HTTP
    client, the system clock, and the SMTP password from ``CURATOR_SMTP_PASSWORD``.  Without
    ``workers`` documents are read in the calling process, with no time limit: the CLI and
    ``serve`` pass worker processes."""
    if store is None or isinstance(store, str | Path):
        store = open_store(store)
    return Curator(
        config,
        store=store,
        client=client,
        clock=clock or utc_now,
        workers=workers,
        mailer=mailer,
        smtp_password=smtp_password
        if smtp_password is not None
        else os.environ.get("CURATOR_SMTP_PASSWORD"),
    )
