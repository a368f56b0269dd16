//! Where the journal lives: SQLite in the data folder (one machine), or PostgreSQL named by
//! `--database` / `FERRY_DATABASE_URL` (many processes, with the work queue).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use ferry_engine::queue::{PgQueue, WorkQueue};
use ferry_engine::{AppStore, PgStore, SqliteStore, Store};

pub(crate) struct Journal {
    pub store: Arc<dyn Store>,
    /// The web app's tables (`ferry serve`'s accounts, archives, notices), in the same
    /// database.
    pub app: Arc<dyn AppStore>,
    /// Present with a shared database: jobs can be handed to `ferry worker`s.
    pub queue: Option<Arc<dyn WorkQueue>>,
}

pub(crate) async fn open(data_dir: &Path, database: Option<&str>) -> Result<Journal> {
    let Some(url) = database else {
        // The journal, the master key and archives live here: the owner's only.
        ferry_core::private::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
        let store = SqliteStore::open(&data_dir.join("ferry.db"))
            .await
            .with_context(|| format!("cannot open the journal in {}", data_dir.display()))?;
        let store = Arc::new(store);
        return Ok(Journal {
            store: store.clone(),
            app: store,
            queue: None,
        });
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        bail!(
            "--database takes a postgres:// URL (without it, the journal is SQLite in the data folder)"
        );
    }
    let store = PgStore::connect(url)
        .await
        .with_context(|| format!("cannot open the database {}", redacted(url)))?;
    let queue: Arc<dyn WorkQueue> = Arc::new(PgQueue::new(store.pool().clone()));
    let store = Arc::new(store);
    Ok(Journal {
        store: store.clone(),
        app: store,
        queue: Some(queue),
    })
}

/// The URL without its password, fit for a message.
pub(crate) fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("…"));
            }
            parsed.to_string()
        }
        Err(_) => "(an unreadable URL)".into(),
    }
}

/// The queue, or the one-line reason a command needs one.
pub(crate) fn require_queue<'a>(
    journal: Option<&'a Arc<dyn WorkQueue>>,
    what: &str,
) -> Result<&'a Arc<dyn WorkQueue>> {
    journal.with_context(|| {
        format!(
            "{what} works on a shared database: give --database postgres://… (or set FERRY_DATABASE_URL)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        let shown = redacted("postgres://ferry:s3cret@db.internal:5432/ferry");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db.internal"));
        assert_eq!(redacted("postgres://db/ferry"), "postgres://db/ferry");
        assert_eq!(redacted("postgres://a:s3cret@[bad"), "(an unreadable URL)");
    }
}
