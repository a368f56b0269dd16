//! Fault injection: each kind appears at its configured rate (decisions come from the
//! seed, so the counts are the same on every run), token expiry and quota behave as
//! configured, settings change at runtime through the inspection API.

mod common;

use common::*;
use ferry_sandbox::faults::{FaultConfig, FaultKind};
use ferry_sandbox::{SandboxOptions, Service};
use serde_json::{Value, json};

const N: usize = 400;

#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    s429: usize,
    s500: usize,
    s503: usize,
    reset: usize,
    truncated: usize,
}

/// Sends `N` account requests to Dropbox and classifies the outcomes.
async fn hammer(sb: &ferry_sandbox::Sandbox) -> Tally {
    let c = client();
    let url = format!("{}/2/users/get_current_account", sb.urls().dropbox.api_url);
    let tok = sb.credentials().dropbox.access_token;
    let mut t = Tally::default();
    for _ in 0..N {
        let r = match c.post(&url).bearer_auth(&tok).send().await {
            Ok(r) => r,
            Err(_) => {
                t.reset += 1;
                continue;
            }
        };
        let status = r.status().as_u16();
        let retry_after = r.headers().get("retry-after").cloned();
        match (status, r.bytes().await) {
            (_, Err(_)) => t.truncated += 1,
            (200, Ok(b)) => {
                let v: Value = serde_json::from_slice(&b).expect("complete JSON");
                assert!(v["account_id"].is_string());
                t.ok += 1;
            }
            (429, Ok(b)) => {
                assert!(retry_after.is_some(), "429 carries Retry-After");
                let v: Value = serde_json::from_slice(&b).unwrap();
                let reason = v["error"]["reason"][".tag"].as_str().unwrap();
                assert!(["too_many_requests", "too_many_write_operations"].contains(&reason));
                t.s429 += 1;
            }
            (500, Ok(_)) => t.s500 += 1,
            (503, Ok(_)) => t.s503 += 1,
            (s, Ok(b)) => panic!("unexpected {s}: {}", String::from_utf8_lossy(&b)),
        }
    }
    t
}

fn only(kind: FaultKind, rate: f64) -> FaultConfig {
    let mut f = FaultConfig {
        token_ttl_secs: 14_400,
        retry_after_secs: 3,
        ..FaultConfig::default()
    };
    f.set_rate(kind, rate);
    f
}

/// Within ±40% of the expected count: the draw is deterministic, the band only documents
/// the intent.
fn near(got: usize, rate: f64) {
    let want = rate * N as f64;
    assert!(
        (got as f64) > want * 0.6 && (got as f64) < want * 1.4,
        "got {got}, want about {want}"
    );
}

#[tokio::test]
async fn each_fault_kind_appears_at_its_rate() {
    let sb = sandbox().await;
    for kind in FaultKind::ALL {
        sb.set_faults(Service::Dropbox, only(kind, 0.2));
        let t = hammer(&sb).await;
        let got = match kind {
            FaultKind::TooManyRequests => t.s429,
            FaultKind::Internal => t.s500,
            FaultKind::Unavailable => t.s503,
            FaultKind::Reset => t.reset,
            FaultKind::Truncate => t.truncated,
        };
        eprintln!("{kind:?}: {t:?}");
        near(got, 0.2);
        assert_eq!(t.ok + got, N, "{kind:?}: only that kind appears: {t:?}");
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_faults() {
    let opts = SandboxOptions {
        seed: 7,
        fail_rate: 0.5,
        ..SandboxOptions::default()
    };
    let a = sandbox_with(opts.clone()).await;
    let ta = hammer(&a).await;
    a.shutdown().await;
    let b = sandbox_with(opts).await;
    let tb = hammer(&b).await;
    b.shutdown().await;
    assert_eq!(format!("{ta:?}"), format!("{tb:?}"));
    // fail_rate is split evenly over the five kinds.
    for got in [ta.s429, ta.s500, ta.s503, ta.reset, ta.truncated] {
        near(got, 0.1);
    }
}

#[tokio::test]
async fn faults_change_at_runtime_and_requests_are_counted() {
    let sb = sandbox().await;
    let c = client();
    let inspect = sb.urls().inspect_url;
    let r = c
        .put(format!("{inspect}/faults/koofr"))
        .json(&json!({ "rate_503": 1.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cfg: Value = r.json().await.unwrap();
    assert_eq!(cfg["rate_503"], 1.0);
    assert_eq!(cfg["token_ttl_secs"], 14_400, "a PUT merges");
    let k = sb.credentials().koofr;
    let r = c
        .get(format!("{}/api/v2/mounts", sb.urls().koofr.base_url))
        .basic_auth(&k.email, Some(&k.app_password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = c
        .put(format!("{inspect}/faults/nope"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let stats: Value = c
        .get(format!("{inspect}/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = stats["requests"].as_array().unwrap();
    let row = rows
        .iter()
        .find(|r| r["service"] == "koofr" && r["status"] == 503)
        .expect("counted by route and status");
    assert_eq!(row["count"], 1);
    assert_eq!(row["fault"], "503");
    assert_eq!(row["route"], "/koofr/api/{ver}/mounts");
    sb.shutdown().await;
}

#[tokio::test]
async fn token_ttl_and_quota_from_options() {
    let sb = sandbox_with(SandboxOptions {
        token_ttl: 60,
        quota: Some(1000),
        ..SandboxOptions::default()
    })
    .await;
    let c = client();
    let g = sb.urls().facebook.graph_url;
    let tok = sb.credentials().facebook.access_token;
    let url = format!("{g}/v21.0/me?access_token={tok}");
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    // The clock moves through the inspection API as well.
    let r = c
        .post(format!("{}/clock/advance?secs=61", sb.urls().inspect_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = c.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["error"]["code"], 190);
    assert_eq!(v["error"]["error_subcode"], 463);

    // Koofr: 413 past the quota.
    let k = sb.credentials().koofr;
    let put = |name: &str, n: usize| {
        c.post(format!(
            "{}/content/api/v2/mounts/primary/files/put?path=/&filename={name}&info=true",
            sb.urls().koofr.base_url
        ))
        .basic_auth(&k.email, Some(&k.app_password))
        .header("content-type", "application/octet-stream")
        .body(vec![0u8; n])
        .send()
    };
    assert_eq!(put("a.bin", 600).await.unwrap().status(), 200);
    assert_eq!(put("b.bin", 600).await.unwrap().status(), 413);
    sb.shutdown().await;
}

#[tokio::test]
async fn latency_and_bandwidth_do_not_change_results() {
    // No timing assertions: only that throttled responses arrive whole.
    let sb = sandbox_with(SandboxOptions {
        latency_ms: 5,
        bandwidth: Some(4 * 1024 * 1024),
        video_size: 200_000,
        ..SandboxOptions::default()
    })
    .await;
    let c = client();
    let g = sb.urls().facebook.graph_url;
    let tok = sb.credentials().facebook.access_token;
    let v: Value = c
        .get(format!(
            "{g}/v21.0/me/videos?type=uploaded&fields=source&access_token={tok}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let src = v["data"][0]["source"].as_str().unwrap();
    let b = c.get(src).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(b.len(), 200_000);
    let r = c
        .get(format!("{g}/v21.0/me?access_token={tok}"))
        .send()
        .await
        .unwrap();
    let declared: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        r.bytes().await.unwrap().len(),
        declared,
        "throttled bodies keep their length"
    );
    sb.shutdown().await;
}
