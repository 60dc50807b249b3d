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
    Migration(
        3,
        "item columns and counts for a million items",
        """
        -- Lifted from the documents by the server itself (generated columns), so every
        -- writer, COPY included, keeps them right.  COLLATE "C": the stamps are fixed-width
        -- ISO 8601 in UTC (codecs.dt_out) and ids lower-case hex, so byte order is time
        -- order whatever the database's locale.
        --   review_time   when the item was reviewed (its approval time when approved),
        --                 first_seen when never reviewed: publish.approved_at
        --   changed_at    its last change of any kind: publish's _changed_at
        --   was_approved  approved now or ever (an approval in its history): the items
        --                 whose changes move the published outputs' Last-Modified
        --   rank_key      the published outputs' order as one string: the article's date,
        --                 the review time (the epoch when none) and the id
        --   decided_at    the Approved and Rejected lists' order (latest decision first):
        --                 reviewed_at, else updated_at, else first_seen
        ALTER TABLE items
            ADD COLUMN review_time text COLLATE "C"
                GENERATED ALWAYS AS (coalesce(reviewed_at, first_seen)) STORED,
            ADD COLUMN changed_at text COLLATE "C"
                GENERATED ALWAYS AS (coalesce(doc->>'updated_at', reviewed_at, first_seen)) STORED,
            ADD COLUMN was_approved boolean
                GENERATED ALWAYS AS (
                    status = 'approved' OR doc->'history' @> '[{"action": "approved"}]'
                ) STORED,
            ADD COLUMN rank_key text COLLATE "C"
                GENERATED ALWAYS AS (
                    (doc->>'published') || ' '
                    || coalesce(reviewed_at, '1970-01-01T00:00:00.000000+00:00') || ' ' || id
                ) STORED,
            ADD COLUMN decided_at text COLLATE "C"
                GENERATED ALWAYS AS (
                    coalesce(reviewed_at, doc->>'updated_at', first_seen)
                ) STORED;
        CREATE INDEX items_by_review_time ON items (status, review_time);
        CREATE INDEX items_approved_changes ON items (changed_at) WHERE was_approved;
        CREATE INDEX items_approved_by_rank ON items (rank_key) WHERE status = 'approved';
        CREATE INDEX items_by_decision ON items (status, decided_at DESC, id);

        -- Items by status, kept by statement triggers in the writing transaction (a count
        -- over a million rows costs a scan; every editor page shows these).
        CREATE FUNCTION curator_count_items() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                INSERT INTO counters (name, value)
                    SELECT 'items:' || status, count(*) FROM new_rows GROUP BY status
                    ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value;
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                INSERT INTO counters (name, value)
                    SELECT 'items:' || status, -count(*) FROM old_rows GROUP BY status
                    ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value;
            END IF;
            IF TG_OP = 'TRUNCATE' THEN
                UPDATE counters SET value = 0 WHERE name LIKE 'items:%';
            END IF;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER items_counted_insert AFTER INSERT ON items
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION curator_count_items();
        CREATE TRIGGER items_counted_update AFTER UPDATE ON items
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION curator_count_items();
        CREATE TRIGGER items_counted_delete AFTER DELETE ON items
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION curator_count_items();
        CREATE TRIGGER items_counted_truncate AFTER TRUNCATE ON items
            FOR EACH STATEMENT EXECUTE FUNCTION curator_count_items();
        INSERT INTO counters (name, value)
            SELECT 'items:' || status, count(*) FROM items GROUP BY status;
        """,
    ),
    Migration(
        4,
        "the All items list's order",
        """
        -- The All items list (Store.items_page with no status): newest article first, as
        -- text in byte order (the stamps are fixed-width UTC); without this index a page
        -- sorted every item.
        CREATE INDEX items_by_published ON items
            ((doc->>'published') COLLATE "C" DESC, id COLLATE "C");
        """,
    ),
)
