//! The Store's accounts, sessions and audit log (used by `ferry serve`).

use ferry_engine::{AccountRow, SessionRow, SqliteStore, Store};

fn account(id: &str, email: &str) -> AccountRow {
    AccountRow {
        id: id.into(),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: "2026-11-22T00:00:00Z".into(),
    }
}

fn session(hash: &str, account_id: &str, expires_at: i64) -> SessionRow {
    SessionRow {
        token_hash: hash.into(),
        account_id: account_id.into(),
        created_at: 100,
        expires_at,
        confirmed_at: 100,
    }
}

#[tokio::test]
async fn accounts_are_unique_by_email() {
    let store = SqliteStore::in_memory().await.unwrap();
    assert!(store.create_account(&account("a", "ann@x")).await.unwrap());
    assert!(!store.create_account(&account("b", "ann@x")).await.unwrap());
    assert_eq!(
        store.account_by_email("ann@x").await.unwrap().unwrap().id,
        "a"
    );
    assert!(store.account("b").await.unwrap().is_none());
    assert!(store.account_by_email("bob@x").await.unwrap().is_none());
}

#[tokio::test]
async fn sessions_expire_confirm_and_end() {
    let store = SqliteStore::in_memory().await.unwrap();
    store.create_account(&account("a", "ann@x")).await.unwrap();
    store
        .create_session(&session("live", "a", 1000))
        .await
        .unwrap();
    store
        .create_session(&session("old", "a", 200))
        .await
        .unwrap();

    assert!(store.session("live", 500).await.unwrap().is_some());
    assert!(
        store.session("old", 500).await.unwrap().is_none(),
        "expired"
    );
    assert!(
        store.session("live", 1000).await.unwrap().is_none(),
        "expires at its time"
    );

    store.confirm_session("live", 400).await.unwrap();
    assert_eq!(
        store
            .session("live", 500)
            .await
            .unwrap()
            .unwrap()
            .confirmed_at,
        400
    );

    assert_eq!(store.delete_expired_sessions(500).await.unwrap(), 1);
    assert!(store.delete_session("live").await.unwrap());
    assert!(!store.delete_session("live").await.unwrap());
    assert!(store.session("live", 500).await.unwrap().is_none());
}

#[tokio::test]
async fn a_session_needs_its_account() {
    let store = SqliteStore::in_memory().await.unwrap();
    assert!(
        store
            .create_session(&session("s", "nobody", 1000))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn each_account_reads_its_own_audit_log_newest_first() {
    let store = SqliteStore::in_memory().await.unwrap();
    store.create_account(&account("a", "ann@x")).await.unwrap();
    store.create_account(&account("b", "bob@x")).await.unwrap();
    store.audit("a", "sign_up", "").await.unwrap();
    store.audit("b", "sign_up", "").await.unwrap();
    store.audit("a", "sign_in", "127.0.0.1").await.unwrap();

    let log = store.audit_log("a", 10).await.unwrap();
    let events: Vec<_> = log
        .iter()
        .map(|e| (e.event.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(events, [("sign_in", "127.0.0.1"), ("sign_up", "")]);
    assert_eq!(store.audit_log("a", 1).await.unwrap().len(), 1);
    assert_eq!(store.audit_log("b", 10).await.unwrap().len(), 1);
}

#[test]
fn an_account_does_not_print_its_hash() {
    assert!(!format!("{:?}", account("a", "ann@x")).contains("argon2"));
}
