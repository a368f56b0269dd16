-- `ferry serve` holds many people's jobs and connections in one journal: each row says whose
-- it is. '' is the machine's own user (the CLI); a server account's rows carry its id.

ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_by_owner ON jobs (owner, id);

-- Connection names were unique for the whole journal; now per owner. SQLite cannot drop a
-- UNIQUE constraint, so the table is rebuilt.
CREATE TABLE connections_by_owner (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    service     TEXT NOT NULL,
    account     TEXT NOT NULL DEFAULT '',
    settings    TEXT NOT NULL DEFAULT '{}',
    secret      BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (owner, name)
);
INSERT INTO connections_by_owner (id, owner, name, service, account, settings, secret, created_at, updated_at)
    SELECT id, '', name, service, account, settings, secret, created_at, updated_at FROM connections;
DROP TABLE connections;
ALTER TABLE connections_by_owner RENAME TO connections;

-- "Download your information" archives that the server builds. The file lives in the
-- server's archive folder until it expires, then it is deleted and the row says so.
CREATE TABLE archives (
    id          TEXT PRIMARY KEY,            -- UUID v7
    owner       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    state       TEXT NOT NULL,               -- building | ready | failed | expired
    request     TEXT NOT NULL,               -- JSON: sources and scope asked for
    path        TEXT,                        -- the archive file, once ready
    size        INTEGER,
    sha256      TEXT,
    summary     TEXT,                        -- JSON: counts per record type
    error       TEXT,                        -- why it failed
    created_at  INTEGER NOT NULL,            -- Unix seconds
    ready_at    INTEGER,
    expires_at  INTEGER                      -- set when ready
);
CREATE INDEX archives_by_owner ON archives (owner, id);
CREATE INDEX archives_by_expiry ON archives (state, expires_at);

-- One-time download tickets: minted after the owner re-enters their password, good for a
-- few minutes and one download. Only the SHA-256 of the ticket is kept.
CREATE TABLE download_tickets (
    ticket_hash  TEXT PRIMARY KEY,
    archive_id   TEXT NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    owner        TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);

-- In-app notices ("your transfer finished", "your archive is ready").
CREATE TABLE notices (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    owner       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    text        TEXT NOT NULL,
    link        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notices_by_owner ON notices (owner, seq);
