//! Sessions built from the sandbox's ferry.toml and credentials (the shared test setup).

mod common;

use ferry_connectors::registry::SERVICES;
use ferry_sandbox::SandboxOptions;

#[tokio::test]
async fn every_service_gets_a_session_from_the_sandbox() {
    let sb = ferry_sandbox::start(SandboxOptions::default())
        .await
        .unwrap();
    for &kind in SERVICES {
        let session = common::session(&sb, kind);
        assert_eq!(session.service, kind);
    }
    let config = common::config(&sb);
    assert!(
        config
            .service(&ferry_connectors::dropbox::SERVICE)
            .url("api_url")
            .starts_with(&sb.base_url())
    );
    sb.shutdown().await;
}
