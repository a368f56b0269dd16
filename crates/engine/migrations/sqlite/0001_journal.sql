-- The journal: everything a job knows, so that it can stop at any instant and go on.

CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,          -- UUID v7: sorts by creation time
    spec          TEXT NOT NULL,             -- JSON JobSpec: what to move where, and how
    state         TEXT NOT NULL,             -- planning | running | paused | done
    reason        TEXT,                      -- why it is paused
    plan_source   INTEGER NOT NULL DEFAULT 0,-- the source being listed
    plan_cursor   TEXT,                      -- that source's cursor for the next page
    planned       INTEGER NOT NULL DEFAULT 0,-- 1 once every source is listed and named
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT
);

-- Albums as the sources listed them.
CREATE TABLE albums (
    job_id        TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    source_index  INTEGER NOT NULL,
    album_id      TEXT NOT NULL,
    record        TEXT NOT NULL,             -- JSON Album
    PRIMARY KEY (job_id, source_index, album_id)
);

-- Where things go on the destination, created once and mapped to the destination's id.
CREATE TABLE containers (
    job_id        TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    spec          TEXT NOT NULL,             -- JSON Container
    dest_id       TEXT,                      -- set once created
    PRIMARY KEY (job_id, key)
);

-- One row per item and album it goes to (an item in two albums is placed twice on
-- file-like destinations), plus rows for what the sources listed and skipped.
CREATE TABLE units (
    job_id        TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,          -- listing order: the order items move in
    source_index  INTEGER NOT NULL,
    source_id     TEXT NOT NULL,
    album_id      TEXT NOT NULL DEFAULT '',  -- '' when in no album
    kind          TEXT,                      -- photo | video; NULL for skipped entries
    file_name     TEXT,                      -- the name the source gave
    record        TEXT,                      -- JSON MediaItem
    size          INTEGER,                   -- as listed, when known
    container     TEXT,                      -- containers.key
    name          TEXT,                      -- safe, unique name in the container
    state         TEXT NOT NULL,             -- pending | staged | done | skipped | failed
    reason        TEXT,                      -- why skipped or failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    token         TEXT,                      -- the destination's handle on staged bytes
    sha256        TEXT,                      -- hex, of the bytes moved
    bytes         INTEGER,                   -- bytes moved
    dest_id       TEXT,                      -- where it landed
    PRIMARY KEY (job_id, seq),
    UNIQUE (job_id, source_index, source_id, album_id)
);

CREATE INDEX units_by_state ON units (job_id, state, seq);
CREATE INDEX units_by_container ON units (job_id, container, source_index, source_id);
