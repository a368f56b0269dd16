//! The web app's tables (accounts, sessions, audit log, archives, download tickets, notices):
//! `ferry serve`'s, kept in the journal's database (the same migrations make them) but behind
//! a trait of their own, apart from the engine's journal.

use async_trait::async_trait;

use super::rows::now;
use super::sql::{Dialect, Exec, SqlStore, args};
use crate::Result;

const ARCHIVE_COLUMNS: &str = "id, owner, state, request, path, size, sha256, summary, error, created_at, ready_at, expires_at";

/// A person who signs in to `ferry serve`.
#[derive(Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: String,
    /// Lowercased and trimmed; unique.
    pub email: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub created_at: String,
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// A signed-in browser, found by the SHA-256 of its cookie token. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    pub token_hash: String,
    pub account_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// When the person last entered their password in this session.
    pub confirmed_at: i64,
}

/// A "download your information" archive that the server builds for an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveRow {
    pub id: String,
    pub owner: String,
    /// building | ready | failed | expired
    pub state: String,
    /// JSON: what was asked for (sources, scope).
    pub request: String,
    pub path: Option<String>,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    /// JSON: records per type.
    pub summary: Option<String>,
    pub error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub ready_at: Option<i64>,
    pub expires_at: Option<i64>,
}

/// What a finished archive build records.
#[derive(Clone, Debug)]
pub struct ArchiveReady {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub summary: String,
    pub ready_at: i64,
    pub expires_at: i64,
}

/// An in-app notice.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Notice {
    pub seq: i64,
    pub at: String,
    pub text: String,
    /// A path in the web app to go to ('' for none).
    pub link: String,
}

/// One line of an account's audit log.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub event: String,
    pub detail: String,
}

#[derive(sqlx::FromRow)]
struct ArchiveRecord {
    id: String,
    owner: String,
    state: String,
    request: String,
    path: Option<String>,
    size: Option<i64>,
    sha256: Option<String>,
    summary: Option<String>,
    error: Option<String>,
    created_at: i64,
    ready_at: Option<i64>,
    expires_at: Option<i64>,
}

impl From<ArchiveRecord> for ArchiveRow {
    fn from(r: ArchiveRecord) -> Self {
        ArchiveRow {
            id: r.id,
            owner: r.owner,
            state: r.state,
            request: r.request,
            path: r.path,
            size: r.size.map(|n| n as u64),
            sha256: r.sha256,
            summary: r.summary,
            error: r.error,
            created_at: r.created_at,
            ready_at: r.ready_at,
            expires_at: r.expires_at,
        }
    }
}

fn archive_rows(rows: Vec<ArchiveRecord>) -> Vec<ArchiveRow> {
    rows.into_iter().map(ArchiveRow::from).collect()
}

/// What `ferry serve` keeps: its accounts and what belongs to them.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// Adds an account; `false` when the e-mail address is taken already.
    async fn create_account(&self, row: &AccountRow) -> Result<bool>;
    async fn account(&self, id: &str) -> Result<Option<AccountRow>>;
    async fn account_by_email(&self, email: &str) -> Result<Option<AccountRow>>;

    async fn create_session(&self, row: &SessionRow) -> Result<()>;
    /// The session with this token hash, unless it has expired by `now`.
    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionRow>>;
    /// Records that the password was entered again in this session at `at`.
    async fn confirm_session(&self, token_hash: &str, at: i64) -> Result<()>;
    /// Deletes a session (signing out); whether it existed.
    async fn delete_session(&self, token_hash: &str) -> Result<bool>;
    /// Deletes every session expired by `now`; how many.
    async fn delete_expired_sessions(&self, now: i64) -> Result<u64>;

    /// Appends to an account's audit log.
    async fn audit(&self, account_id: &str, event: &str, detail: &str) -> Result<()>;
    /// An account's audit log, newest first.
    async fn audit_log(&self, account_id: &str, limit: u32) -> Result<Vec<AuditEntry>>;

    /// Records an archive request (state `building`).
    async fn create_archive(&self, row: &ArchiveRow) -> Result<()>;
    async fn archive(&self, id: &str) -> Result<Option<ArchiveRow>>;
    /// An owner's archives, newest first.
    async fn archives(&self, owner: &str) -> Result<Vec<ArchiveRow>>;
    /// Archives still `building` (a server that stopped mid-build starts them again).
    async fn building_archives(&self) -> Result<Vec<ArchiveRow>>;
    /// Marks an archive ready to download until `expires_at`.
    async fn archive_ready(&self, id: &str, ready: &ArchiveReady) -> Result<()>;
    async fn archive_failed(&self, id: &str, error: &str) -> Result<()>;
    /// Ready archives whose link has expired by `now`: the caller deletes their files, then
    /// marks them expired.
    async fn due_archives(&self, now: i64) -> Result<Vec<ArchiveRow>>;
    async fn archive_expired(&self, id: &str) -> Result<()>;

    /// A one-time download ticket for an archive (its SHA-256 only).
    async fn create_ticket(
        &self,
        ticket_hash: &str,
        archive_id: &str,
        owner: &str,
        expires_at: i64,
    ) -> Result<()>;
    /// Spends a ticket: its (archive id, owner) if it exists, is unused and unexpired at
    /// `now`; it can never be spent again.
    async fn spend_ticket(&self, ticket_hash: &str, now: i64) -> Result<Option<(String, String)>>;

    /// Adds an in-app notice for an account.
    async fn notify(&self, owner: &str, text: &str, link: &str) -> Result<()>;
    /// An account's notices, newest first.
    async fn notices(&self, owner: &str, limit: u32) -> Result<Vec<Notice>>;
}

#[async_trait]
impl<DB: Dialect> AppStore for SqlStore<DB>
where
    SqlStore<DB>: Exec<Db = DB>,
{
    async fn create_account(&self, row: &AccountRow) -> Result<bool> {
        // ON CONFLICT on the unique e-mail rather than a check first: two sign-ups racing for
        // one address get one account and one refusal.
        let added = self
            .run(
                None,
                "INSERT INTO accounts (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (email) DO NOTHING",
                args![&row.id, &row.email, &row.password_hash, &row.created_at],
            )
            .await?;
        Ok(added > 0)
    }

    async fn account(&self, id: &str) -> Result<Option<AccountRow>> {
        self.optional(
            None,
            "SELECT id, email, password_hash, created_at FROM accounts WHERE id = $1",
            args![id],
        )
        .await
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<AccountRow>> {
        self.optional(
            None,
            "SELECT id, email, password_hash, created_at FROM accounts WHERE email = $1",
            args![email],
        )
        .await
    }

    async fn create_session(&self, row: &SessionRow) -> Result<()> {
        self.run(
            None,
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at, confirmed_at)
             VALUES ($1, $2, $3, $4, $5)",
            args![
                &row.token_hash,
                &row.account_id,
                row.created_at,
                row.expires_at,
                row.confirmed_at
            ],
        )
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        self.optional(
            None,
            "SELECT token_hash, account_id, created_at, expires_at, confirmed_at FROM sessions
             WHERE token_hash = $1 AND expires_at > $2",
            args![token_hash, now],
        )
        .await
    }

    async fn confirm_session(&self, token_hash: &str, at: i64) -> Result<()> {
        self.run(
            None,
            "UPDATE sessions SET confirmed_at = $1 WHERE token_hash = $2",
            args![at, token_hash],
        )
        .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool> {
        let deleted = self
            .run(
                None,
                "DELETE FROM sessions WHERE token_hash = $1",
                args![token_hash],
            )
            .await?;
        Ok(deleted > 0)
    }

    async fn delete_expired_sessions(&self, now: i64) -> Result<u64> {
        self.run(
            None,
            "DELETE FROM sessions WHERE expires_at <= $1",
            args![now],
        )
        .await
    }

    async fn audit(&self, account_id: &str, event: &str, detail: &str) -> Result<()> {
        self.run(
            None,
            "INSERT INTO audit_log (account_id, at, event, detail) VALUES ($1, $2, $3, $4)",
            args![account_id, &now(), event, detail],
        )
        .await?;
        Ok(())
    }

    async fn audit_log(&self, account_id: &str, limit: u32) -> Result<Vec<AuditEntry>> {
        self.all(
            "SELECT seq, at, event, detail FROM audit_log WHERE account_id = $1
             ORDER BY seq DESC LIMIT $2",
            args![account_id, i64::from(limit)],
        )
        .await
    }

    async fn create_archive(&self, row: &ArchiveRow) -> Result<()> {
        self.run(
            None,
            "INSERT INTO archives (id, owner, state, request, created_at) VALUES ($1, $2, $3, $4, $5)",
            args![&row.id, &row.owner, &row.state, &row.request, row.created_at],
        )
        .await?;
        Ok(())
    }

    async fn archive(&self, id: &str) -> Result<Option<ArchiveRow>> {
        let found: Option<ArchiveRecord> = self
            .optional(
                None,
                format!("SELECT {ARCHIVE_COLUMNS} FROM archives WHERE id = $1"),
                args![id],
            )
            .await?;
        Ok(found.map(ArchiveRow::from))
    }

    async fn archives(&self, owner: &str) -> Result<Vec<ArchiveRow>> {
        let found = self
            .all(
                format!("SELECT {ARCHIVE_COLUMNS} FROM archives WHERE owner = $1 ORDER BY id DESC"),
                args![owner],
            )
            .await?;
        Ok(archive_rows(found))
    }

    async fn building_archives(&self) -> Result<Vec<ArchiveRow>> {
        let found = self
            .all(
                format!(
                    "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE state = 'building' ORDER BY id"
                ),
                args![],
            )
            .await?;
        Ok(archive_rows(found))
    }

    async fn archive_ready(&self, id: &str, ready: &ArchiveReady) -> Result<()> {
        self.run(
            None,
            "UPDATE archives SET state = 'ready', path = $1, size = $2, sha256 = $3, summary = $4,
             ready_at = $5, expires_at = $6, error = NULL WHERE id = $7",
            args![
                &ready.path,
                ready.size as i64,
                &ready.sha256,
                &ready.summary,
                ready.ready_at,
                ready.expires_at,
                id
            ],
        )
        .await?;
        Ok(())
    }

    async fn archive_failed(&self, id: &str, error: &str) -> Result<()> {
        self.run(
            None,
            "UPDATE archives SET state = 'failed', error = $1 WHERE id = $2",
            args![error, id],
        )
        .await?;
        Ok(())
    }

    async fn due_archives(&self, now: i64) -> Result<Vec<ArchiveRow>> {
        let found = self
            .all(
                format!(
                    "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE state = 'ready' AND expires_at <= $1
                     ORDER BY id"
                ),
                args![now],
            )
            .await?;
        Ok(archive_rows(found))
    }

    async fn archive_expired(&self, id: &str) -> Result<()> {
        let mut tx = self.write().await?;
        self.run(
            Some(&mut tx),
            "UPDATE archives SET state = 'expired', path = NULL WHERE id = $1",
            args![id],
        )
        .await?;
        self.run(
            Some(&mut tx),
            "DELETE FROM download_tickets WHERE archive_id = $1",
            args![id],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_ticket(
        &self,
        ticket_hash: &str,
        archive_id: &str,
        owner: &str,
        expires_at: i64,
    ) -> Result<()> {
        self.run(
            None,
            "INSERT INTO download_tickets (ticket_hash, archive_id, owner, expires_at)
             VALUES ($1, $2, $3, $4)",
            args![ticket_hash, archive_id, owner, expires_at],
        )
        .await?;
        Ok(())
    }

    async fn spend_ticket(&self, ticket_hash: &str, now: i64) -> Result<Option<(String, String)>> {
        // One statement: of two downloads racing on one ticket, the second finds it used
        // (SQLite takes turns; PostgreSQL re-checks the WHERE on the row the first updated).
        self.optional(
            None,
            "UPDATE download_tickets SET used_at = $1
             WHERE ticket_hash = $2 AND used_at IS NULL AND expires_at > $1
             RETURNING archive_id, owner",
            args![now, ticket_hash],
        )
        .await
    }

    async fn notify(&self, owner: &str, text: &str, link: &str) -> Result<()> {
        self.run(
            None,
            "INSERT INTO notices (owner, at, text, link) VALUES ($1, $2, $3, $4)",
            args![owner, &now(), text, link],
        )
        .await?;
        Ok(())
    }

    async fn notices(&self, owner: &str, limit: u32) -> Result<Vec<Notice>> {
        self.all(
            "SELECT seq, at, text, link FROM notices WHERE owner = $1 ORDER BY seq DESC LIMIT $2",
            args![owner, i64::from(limit)],
        )
        .await
    }
}
