-- The journal, as migrations/sqlite/0001. Text that is sorted or matched by prefix is
-- COLLATE "C" so that it orders byte by byte, like SQLite. Flags stay BIGINT 0/1.

CREATE TABLE jobs (
    id            TEXT COLLATE "C" PRIMARY KEY, -- UUID v7
    spec          TEXT NOT NULL,                -- JSON JobSpec
    state         TEXT NOT NULL,
    reason        TEXT,
    plan_source   BIGINT NOT NULL DEFAULT 0,
    plan_cursor   TEXT,
    planned       BIGINT NOT NULL DEFAULT 0,    -- 1 once listed and named
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT
);

CREATE TABLE albums (
    job_id        TEXT COLLATE "C" NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    source_index  BIGINT NOT NULL,
    album_id      TEXT COLLATE "C" NOT NULL,
    record        TEXT NOT NULL,                -- JSON Album
    PRIMARY KEY (job_id, source_index, album_id)
);

CREATE TABLE containers (
    job_id        TEXT COLLATE "C" NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    key           TEXT COLLATE "C" NOT NULL,
    spec          TEXT NOT NULL,                -- JSON Container
    dest_id       TEXT,
    PRIMARY KEY (job_id, key)
);

CREATE TABLE units (
    job_id        TEXT COLLATE "C" NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    source_index  BIGINT NOT NULL,
    source_id     TEXT COLLATE "C" NOT NULL,
    album_id      TEXT COLLATE "C" NOT NULL DEFAULT '',
    kind          TEXT COLLATE "C",
    file_name     TEXT,
    record        TEXT,                         -- JSON MediaItem
    size          BIGINT,
    container     TEXT COLLATE "C",
    name          TEXT,
    state         TEXT NOT NULL,
    reason        TEXT COLLATE "C",
    attempts      BIGINT NOT NULL DEFAULT 0,
    token         TEXT,
    sha256        TEXT,
    bytes         BIGINT,
    dest_id       TEXT,
    PRIMARY KEY (job_id, seq),
    UNIQUE (job_id, source_index, source_id, album_id)
);

CREATE INDEX units_by_state ON units (job_id, state, seq);
CREATE INDEX units_by_container ON units (job_id, container, source_index, source_id);
