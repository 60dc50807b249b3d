"""The PostgreSQL schema, as numbered steps that `curator migrate` applies in order.

A step is never edited once released: a change is a new step.  Each runs in its own
transaction with its number recorded in ``curator_schema``, under an advisory lock, so
several instances started at once migrate once, and a step that fails leaves the schema as
the step before it.

Why this shape (documents in ``jsonb``, a few columns lifted out of them): the documents are
exactly what the TinyDB backend writes (:mod:`curator.store.codecs`), so both backends share
one encoding and ``curator store copy`` moves data without translating it; the lifted columns
are the ones queries filter or sort on (an item's status and dates, a kept entry's time), each
with its index.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["MIGRATIONS", "Migration"]


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "items, documents, counters",
        """
        CREATE TABLE items (
            id          text PRIMARY KEY,
            status      text NOT NULL,
            first_seen  text NOT NULL,
            reviewed_at text,
            seq         bigint NOT NULL,
            doc         jsonb NOT NULL
        );
        CREATE INDEX items_by_status ON items (status, first_seen);
        CREATE INDEX items_by_review ON items (status, reviewed_at);
        CREATE INDEX items_by_seq ON items (seq);
        CREATE INDEX items_by_first_seen ON items (first_seen);
        CREATE SEQUENCE items_seq;

        -- Every other table of the store: titles, aliases, research_ids, research_cache,
        -- sources, users, digests, near_misses, seen, meta, model, secret.  ``stamp`` is the
        -- time a table is pruned or ordered by (first_seen, at, seen_at), as the codecs
        -- write it (fixed-width ISO 8601 UTC, so it sorts as text).
        CREATE TABLE docs (
            tbl   text NOT NULL,
            key   text NOT NULL,
            stamp text,
            doc   jsonb NOT NULL,
            PRIMARY KEY (tbl, key)
        );
        CREATE INDEX docs_by_stamp ON docs (tbl, stamp, key);

        -- Bumped by every write to what it names, in the writing transaction: a version
        -- token that changes only when something committed changed (ETags, the model).
        CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL);
        INSERT INTO counters VALUES ('model', 0);
        """,
    ),
    Migration(
        2,
        "source claims and sign-in failures shared by every instance",
        """
        -- One row per source: the instance polling it holds the row (FOR UPDATE SKIP
        -- LOCKED) and stamps when it claimed it, so no source is polled twice in one
        -- interval by two instances.
        CREATE TABLE claims (
            source_id  text PRIMARY KEY,
            holder     text NOT NULL,
            claimed_at timestamptz NOT NULL
        );

        -- Failed sign-ins (curator.auth.SignInThrottle), one row per failure and key, so
        -- every instance behind the load balancer counts the same guesses.
        CREATE TABLE signin_failures (
            key text NOT NULL,
            at  double precision NOT NULL
        );
        CREATE INDEX signin_failures_by_key ON signin_failures (key, at);
        """,
    ),
)
