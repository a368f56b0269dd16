//! Connecting Facebook: the OAuth app, the code exchange (then a long-lived token, since
//! Facebook has no refresh token), who the account is, revoking.

use std::time::Duration;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;

use ferry_core::{Error, Result};

use crate::auth::Secret;
use crate::config::{ServiceConfig, env_name};
use crate::http::{self, Failure};
use crate::oauth::OAuthApp;
use crate::service::Session;

use super::client::{Client, GraphRequest};
use super::error::{self, GraphError};
use super::{GRAPH_VERSION, Tuning};

/// The login dialog and token endpoint. No PKCE: Meta documents it only for its OIDC flow,
/// marked as in testing; the code is exchanged with the app secret instead.
pub fn oauth_app(config: &ServiceConfig) -> OAuthApp {
    OAuthApp {
        service: config.service,
        authorize_url: format!("{}/{}/dialog/oauth", config.url("auth_url"), GRAPH_VERSION),
        token_url: format!(
            "{}/{}/oauth/access_token",
            config.url("graph_url"),
            GRAPH_VERSION
        ),
        scopes: vec!["user_photos".into(), "user_videos".into()],
        scope_separator: ",",
        extra: vec![],
        pkce: false,
    }
}

/// What the token endpoint answers. The token is a secret: no `Debug`.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<i64>,
}

/// Exchanges an authorization code for a token, then that short-lived token (a few hours)
/// for a long-lived one (about 60 days). Both calls carry the app secret.
pub async fn exchange(
    http: &reqwest::Client,
    config: &ServiceConfig,
    redirect_uri: &str,
    code: &str,
) -> Result<Secret> {
    let client_id = config
        .require_client_id()
        .map_err(|e| Error::permanent(e.to_string()))?;
    let client_secret = config.client_secret.as_ref().ok_or_else(|| {
        Error::permanent(format!(
            "no OAuth client_secret for facebook: set client_secret under [services.facebook] \
             in ferry.toml, or {}",
            env_name(config.service, "client_secret")
        ))
    })?;
    let token_url = format!(
        "{}/{}/oauth/access_token",
        config.url("graph_url"),
        GRAPH_VERSION
    );
    let short = token_call(
        http,
        "exchanging the Facebook authorization code",
        &token_url,
        &[
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("client_secret", client_secret.expose_secret()),
            ("code", code),
        ],
    )
    .await?;
    let long = token_call(
        http,
        "exchanging for a long-lived Facebook token",
        &token_url,
        &[
            ("grant_type", "fb_exchange_token"),
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
            ("fb_exchange_token", short.access_token.expose_secret()),
        ],
    )
    .await?;
    let expires_at = long.expires_in.filter(|secs| *secs > 0).map(|secs| {
        (OffsetDateTime::now_utc() + Duration::from_secs(secs as u64)).unix_timestamp()
    });
    Ok(Secret::tokens(
        long.access_token.expose_secret().to_string(),
        None,
        expires_at,
    ))
}

/// One call to the token endpoint. Its query carries the app secret and the code, so no
/// message quotes the URL or the answer's body.
async fn token_call(
    http: &reqwest::Client,
    what: &str,
    token_url: &str,
    query: &[(&str, &str)],
) -> Result<TokenAnswer> {
    let response = http
        .get(token_url)
        .query(query)
        .send()
        .await
        .map_err(|e| http::transport(what, e))?;
    if !response.status().is_success() {
        return Err(refused(what, &Failure::read(response).await));
    }
    let body = http::read_limited(response, http::MAX_JSON_BODY).await?;
    serde_json::from_slice(&body)
        .map_err(|_| Error::Retryable(format!("{what}: Facebook's answer has no readable token")))
}

/// A refused token call: passing faults and throttling as usual; a bad or used code as an
/// authorization to do again; wrong app credentials as a setup error.
fn refused(what: &str, failure: &Failure) -> Error {
    let Some(graph) = GraphError::parse(&failure.body) else {
        return failure.by_status(what);
    };
    let context = error::Context {
        what,
        connection: "facebook",
        throttle_backoff: Tuning::default().throttle_backoff,
    };
    match error::classify(failure.status.as_u16(), &graph, None, &context) {
        passing @ (Error::Retryable(_) | Error::RateLimited { .. }) => passing,
        _ if graph.code() == 101 => Error::Permanent(format!(
            "{what}: Facebook does not accept the app's credentials; check client_id and \
             client_secret under [services.facebook] in ferry.toml"
        )),
        _ => Error::AuthExpired(format!(
            "{what}: Facebook refused the authorization ({}); connect again",
            http::snippet(&graph.message)
        )),
    }
}

/// Who the connection is: the account's name, checking that the token works.
pub async fn account(session: &Session) -> Result<String> {
    #[derive(Deserialize)]
    struct Me {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: Option<String>,
    }
    let client = Client::new(session.clone(), Tuning::default());
    let me: Me = client
        .get(
            "Facebook account",
            &GraphRequest::new("me", &[("fields", "name")]),
        )
        .await?;
    Ok(me
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or(me.id))
}

/// Revokes every permission the person gave ferry (`DELETE /me/permissions`), which also
/// ends the token.
pub async fn revoke(session: &Session) -> Result<()> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        success: bool,
    }
    let what = "revoking ferry's access to Facebook";
    let client = Client::new(session.clone(), Tuning::default());
    let answer: Answer = client
        .call(
            Method::DELETE,
            what,
            &GraphRequest::new("me/permissions", &[]),
        )
        .await?;
    if answer.success {
        Ok(())
    } else {
        Err(Error::permanent(format!(
            "{what}: Facebook did not confirm; remove ferry under Settings › Apps and Websites"
        )))
    }
}
