-- Each job and connection says whose it is ('' for the machine's own user).

ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_by_owner ON jobs (owner, id);

-- Connection names are unique per owner, no longer for the whole journal.
ALTER TABLE connections ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE connections DROP CONSTRAINT connections_name_key;
ALTER TABLE connections ADD CONSTRAINT connections_owner_name_key UNIQUE (owner, name);

-- "Download your information" archives that the server builds.
CREATE TABLE archives (
    id          TEXT COLLATE "C" PRIMARY KEY, -- UUID v7
    owner       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    state       TEXT NOT NULL,                -- building | ready | failed | expired
    request     TEXT NOT NULL,                -- JSON
    path        TEXT,
    size        BIGINT,
    sha256      TEXT,
    summary     TEXT,                         -- JSON
    error       TEXT,
    created_at  BIGINT NOT NULL,              -- Unix seconds
    ready_at    BIGINT,
    expires_at  BIGINT
);
CREATE INDEX archives_by_owner ON archives (owner, id);
CREATE INDEX archives_by_expiry ON archives (state, expires_at);

-- One-time download tickets (their SHA-256 only).
CREATE TABLE download_tickets (
    ticket_hash  TEXT PRIMARY KEY,
    archive_id   TEXT NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    owner        TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);

-- In-app notices.
CREATE TABLE notices (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    text        TEXT NOT NULL,
    link        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notices_by_owner ON notices (owner, seq);
