//! Sessions built from the sandbox's ferry.toml and credentials (the shared test setup).

mod common;

use ferry_connectors::service::ServiceKind;
use ferry_sandbox::SandboxOptions;

#[tokio::test]
async fn every_service_gets_a_session_from_the_sandbox() {
    let sb = ferry_sandbox::start(SandboxOptions::default())
        .await
        .unwrap();
    for kind in ServiceKind::all() {
        let session = common::session(&sb, kind);
        assert_eq!(session.kind, kind);
    }
    let config = common::config(&sb);
    assert!(
        config
            .service(ServiceKind::Dropbox)
            .url("api_url")
            .starts_with(&sb.base_url())
    );
    sb.shutdown().await;
}
