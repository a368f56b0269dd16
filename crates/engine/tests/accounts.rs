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

fn connection(id: &str, owner: &str, name: &str) -> ferry_engine::ConnectionRow {
    ferry_engine::ConnectionRow {
        id: id.into(),
        owner: owner.into(),
        name: name.into(),
        service: "dropbox".into(),
        account: format!("{owner}@dropbox"),
        settings: "{}".into(),
        sealed_secret: vec![1, 2, 3],
        created_at: String::new(),
    }
}

#[tokio::test]
async fn connections_and_jobs_belong_to_their_owner() {
    let store = SqliteStore::in_memory().await.unwrap();
    store.create_account(&account("a", "ann@x")).await.unwrap();
    store.create_account(&account("b", "bob@x")).await.unwrap();
    // The same name under two owners: one connection each.
    store
        .add_connection(&connection("1", "a", "dropbox"))
        .await
        .unwrap();
    store
        .add_connection(&connection("2", "b", "dropbox"))
        .await
        .unwrap();
    store
        .add_connection(&connection("3", "", "dropbox"))
        .await
        .unwrap();
    assert!(
        store
            .add_connection(&connection("4", "a", "dropbox"))
            .await
            .is_err(),
        "names are unique per owner"
    );
    assert_eq!(
        store.connection("a", "dropbox").await.unwrap().unwrap().id,
        "1"
    );
    assert_eq!(
        store.connection("b", "dropbox").await.unwrap().unwrap().id,
        "2"
    );
    assert_eq!(store.connections("a").await.unwrap().len(), 1);
    assert!(store.delete_connection("a", "dropbox").await.unwrap());
    assert!(store.connection("b", "dropbox").await.unwrap().is_some());
    assert!(store.connection("", "dropbox").await.unwrap().is_some());

    let spec = ferry_engine::JobSpec {
        sources: vec!["facebook:".into()],
        destination: "dropbox:".into(),
        scope: ferry_core::Scope::media(),
        layout: Default::default(),
        albums: None,
    };
    let job_a = store.create_job("a", &spec).await.unwrap();
    assert_eq!(job_a.owner, "a");
    // The same spec under another owner is another job, never a resume of the first.
    assert!(store.unfinished_job("b", &spec).await.unwrap().is_none());
    assert_eq!(
        store.unfinished_job("a", &spec).await.unwrap().unwrap().id,
        job_a.id
    );
    assert_eq!(store.jobs("a").await.unwrap().len(), 1);
    assert!(store.jobs("b").await.unwrap().is_empty());
    store
        .set_state(&job_a.id, ferry_engine::JobState::Cancelled, None)
        .await
        .unwrap();
    assert!(
        store.unfinished_job("a", &spec).await.unwrap().is_none(),
        "a cancelled job is never resumed"
    );
    assert!(store.job(&job_a.id).await.unwrap().finished_at.is_some());
}

#[tokio::test]
async fn archives_expire_and_tickets_are_spent_once() {
    let store = SqliteStore::in_memory().await.unwrap();
    store.create_account(&account("a", "ann@x")).await.unwrap();
    let row = ferry_engine::ArchiveRow {
        id: "arch".into(),
        owner: "a".into(),
        state: "building".into(),
        request: "{}".into(),
        path: None,
        size: None,
        sha256: None,
        summary: None,
        error: None,
        created_at: 10,
        ready_at: None,
        expires_at: None,
    };
    store.create_archive(&row).await.unwrap();
    assert_eq!(store.building_archives().await.unwrap().len(), 1);
    store
        .archive_ready(
            "arch",
            &ferry_engine::ArchiveReady {
                path: "/x/arch.zip".into(),
                size: 42,
                sha256: "ab".into(),
                summary: "{}".into(),
                ready_at: 20,
                expires_at: 100,
            },
        )
        .await
        .unwrap();
    let ready = store.archive("arch").await.unwrap().unwrap();
    assert_eq!((ready.state.as_str(), ready.size), ("ready", Some(42)));
    assert!(store.building_archives().await.unwrap().is_empty());
    assert_eq!(store.archives("a").await.unwrap().len(), 1);

    store.create_ticket("t1", "arch", "a", 50).await.unwrap();
    store.create_ticket("t2", "arch", "a", 50).await.unwrap();
    assert_eq!(
        store.spend_ticket("t1", 30).await.unwrap(),
        Some(("arch".into(), "a".into()))
    );
    assert_eq!(store.spend_ticket("t1", 31).await.unwrap(), None, "reused");
    assert_eq!(store.spend_ticket("t2", 50).await.unwrap(), None, "expired");
    assert_eq!(store.spend_ticket("nope", 30).await.unwrap(), None);

    assert!(store.due_archives(99).await.unwrap().is_empty());
    assert_eq!(store.due_archives(100).await.unwrap().len(), 1);
    store.create_ticket("t3", "arch", "a", 500).await.unwrap();
    store.archive_expired("arch").await.unwrap();
    let expired = store.archive("arch").await.unwrap().unwrap();
    assert_eq!((expired.state.as_str(), expired.path), ("expired", None));
    assert_eq!(
        store.spend_ticket("t3", 120).await.unwrap(),
        None,
        "an expired archive's tickets go with it"
    );
    assert!(store.due_archives(1000).await.unwrap().is_empty());

    store
        .notify("a", "Your archive is ready", "/archives/arch")
        .await
        .unwrap();
    store.notify("a", "Second", "").await.unwrap();
    let notices = store.notices("a", 10).await.unwrap();
    assert_eq!(notices.len(), 2);
    assert_eq!(notices[0].text, "Second");
}
