-- Accounts of `ferry serve`: people who sign in to the web app.
-- Times that the server compares (expiry, confirmation freshness) are Unix seconds (UTC), so
-- that SQL can compare them; `created_at` is RFC 3339 like the rest of the journal.
CREATE TABLE accounts (
    id             TEXT PRIMARY KEY,
    -- Lowercased and trimmed by the server before it gets here.
    email          TEXT NOT NULL UNIQUE,
    -- An argon2id PHC string; never the password.
    password_hash  TEXT NOT NULL,
    created_at     TEXT NOT NULL
);

-- Signed-in browsers. The cookie holds a random token; only its SHA-256 is kept here, so a
-- copy of the database does not hand out live sessions.
CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    -- When the person last typed their password in this session (sign-in or re-confirmation).
    confirmed_at  INTEGER NOT NULL
);
CREATE INDEX sessions_by_account ON sessions (account_id);

-- What happened to an account (sign-ins, connections, transfers, downloads), which its owner
-- can read. Never holds a secret.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    event       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_account ON audit_log (account_id, seq);
