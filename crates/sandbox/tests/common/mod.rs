//! Helpers shared by the contract tests: start a sandbox, plain reqwest clients.
#![allow(dead_code)]

use ferry_sandbox::{Sandbox, SandboxOptions};

pub async fn sandbox() -> Sandbox {
    sandbox_with(SandboxOptions::default()).await
}

pub async fn sandbox_with(opts: SandboxOptions) -> Sandbox {
    ferry_sandbox::start(opts).await.expect("sandbox starts")
}

/// A client that does not follow redirects (OAuth tests read `Location`).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Query parameters of a URL.
pub fn query_of(url: &str) -> Vec<(String, String)> {
    let u = reqwest::Url::parse(url).unwrap();
    u.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param(pairs: &[(String, String)], k: &str) -> Option<String> {
    pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone())
}

/// The hidden inputs of the consent form, plus the form's action.
pub fn consent_form(html: &str) -> (String, Vec<(String, String)>) {
    let action = between(html, "action=\"", "\"").expect("form action");
    let mut fields = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[i + 27..];
        let name = rest[..rest.find('"').unwrap()].to_string();
        let v = between(rest, "value=\"", "\"").unwrap();
        fields.push((unescape(&name), unescape(&v)));
    }
    (unescape(&action), fields)
}

fn between(s: &str, a: &str, b: &str) -> Option<String> {
    let i = s.find(a)? + a.len();
    let j = s[i..].find(b)? + i;
    Some(s[i..j].to_string())
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Clicks through a consent page: GET `url`, submit the form with `decision`, return the
/// redirect's `Location`.
pub async fn click_through(c: &reqwest::Client, url: &str, decision: &str) -> String {
    let page = c.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200, "consent page");
    assert!(
        page.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"approve\""));
    let (action, mut fields) = consent_form(&html);
    fields.push(("decision".into(), decision.into()));
    let r = c.post(&action).form(&fields).send().await.unwrap();
    assert!(
        r.status().is_redirection(),
        "consent answer redirects, got {}",
        r.status()
    );
    r.headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let verifier = "sandbox-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz".to_string();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}
