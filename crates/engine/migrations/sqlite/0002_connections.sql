-- Connections to services: who (in the clear) and the credentials (sealed by the vault with
-- the connection's id as associated data; never stored in plaintext).
CREATE TABLE connections (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    service     TEXT NOT NULL,
    account     TEXT NOT NULL DEFAULT '',
    settings    TEXT NOT NULL DEFAULT '{}',
    secret      BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
