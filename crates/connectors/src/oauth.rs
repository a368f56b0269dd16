//! Connecting an account: the OAuth 2.0 authorization-code flow with PKCE, through a loopback
//! redirect (RFC 8252 §7.3): ferry listens on 127.0.0.1 on a free port, the person approves in
//! their browser, the service redirects back with a code, and ferry exchanges it for tokens.
//!
//! Each service says what is special about it in its `auth.rs` ([`OAuthApp`]): scopes, extra
//! authorize parameters (Dropbox `token_access_type=offline`, Google `access_type=offline`),
//! and whether it takes PKCE.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use ferry_core::{Error, Result};

use crate::auth::{OAuthHttpError, Secret, oauth_client};
use crate::config::ServiceConfig;
use crate::service::Service;

/// What is particular about a service's OAuth app.
#[derive(Clone, Debug)]
pub struct OAuthApp {
    pub service: &'static Service,
    /// The full authorization endpoint (base URL + documented path).
    pub authorize_url: String,
    /// The full token endpoint.
    pub token_url: String,
    pub scopes: Vec<String>,
    /// Joins scopes in the authorize URL (`" "` for most, `","` for Facebook).
    pub scope_separator: &'static str,
    /// Extra authorize parameters.
    pub extra: Vec<(&'static str, &'static str)>,
    pub pkce: bool,
}

/// An authorization for a web app's callback: the URL to send the browser to, and the state
/// and PKCE verifier to keep (secret, server-side) until the callback comes.
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub verifier: Option<String>,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// An authorization in progress: the URL to open, and what to check when the browser comes
/// back.
pub struct Pending {
    pub url: String,
    pub redirect_uri: String,
    state: CsrfToken,
    verifier: Option<PkceCodeVerifier>,
    listener: TcpListener,
}

impl OAuthApp {
    fn client(
        &self,
        config: &ServiceConfig,
        redirect_uri: &str,
    ) -> Result<
        BasicClient<
            oauth2::EndpointSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
    > {
        let client_id = config
            .require_client_id()
            .map_err(|e| Error::permanent(e.to_string()))?;
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            Error::permanent(format!("{} {what}: {e}", self.service))
        };
        let mut client = BasicClient::new(ClientId::new(client_id.to_string()))
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(
                AuthUrl::new(self.authorize_url.clone()).map_err(|e| bad("authorize URL", &e))?,
            )
            .set_token_uri(TokenUrl::new(self.token_url.clone()).map_err(|e| bad("token URL", &e))?)
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.to_string()).map_err(|e| bad("redirect URI", &e))?,
            );
        if let Some(secret) = &config.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().into()));
        }
        Ok(client)
    }

    /// Opens the loopback listener and builds the URL the person approves in their browser.
    pub async fn begin(&self, config: &ServiceConfig) -> Result<Pending> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::permanent(format!("cannot listen for the OAuth redirect: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("the OAuth redirect listener", &e))?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}/callback");
        let authorization = self.authorize(config, &redirect_uri)?;
        Ok(Pending {
            url: authorization.url,
            redirect_uri,
            state: CsrfToken::new(authorization.state),
            verifier: authorization.verifier.map(PkceCodeVerifier::new),
            listener,
        })
    }

    /// The URL the person approves in their browser, redirecting to `redirect_uri` (a web
    /// app's callback), with a fresh random state and, where the service takes it, a PKCE
    /// challenge. The caller keeps the state and verifier to check the callback.
    pub fn authorize(&self, config: &ServiceConfig, redirect_uri: &str) -> Result<Authorization> {
        let client = self.client(config, redirect_uri)?;
        let mut request = client.authorize_url(CsrfToken::new_random);
        if !self.scopes.is_empty() {
            // One parameter, joined the service's way (oauth2 joins with spaces).
            request = request.add_scope(Scope::new(self.scopes.join(self.scope_separator)));
        }
        for (key, value) in &self.extra {
            request = request.add_extra_param(*key, *value);
        }
        let mut verifier = None;
        if self.pkce {
            let (challenge, v) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            verifier = Some(v.into_secret());
        }
        let (url, state) = request.url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.into_secret(),
            verifier,
        })
    }

    /// Exchanges the code a callback brought for tokens, the service's way (Facebook's own
    /// exchange and long-lived token; the standard form POST elsewhere).
    pub async fn exchange(
        &self,
        http: &reqwest::Client,
        config: &ServiceConfig,
        redirect_uri: &str,
        code: String,
        verifier: Option<String>,
    ) -> Result<Secret> {
        if let Some(exchange) = self.service.exchange {
            return exchange(http, config, redirect_uri, &code).await;
        }
        let verifier = verifier.map(PkceCodeVerifier::new);
        self.exchange_standard(http, config, redirect_uri, code, verifier)
            .await
    }

    /// Exchanges an authorization code for tokens (the standard form POST).
    pub async fn exchange_standard(
        &self,
        http: &reqwest::Client,
        config: &ServiceConfig,
        redirect_uri: &str,
        code: String,
        verifier: Option<PkceCodeVerifier>,
    ) -> Result<Secret> {
        let client = self.client(config, redirect_uri)?;
        let mut request = client.exchange_code(AuthorizationCode::new(code));
        if let Some(v) = verifier {
            request = request.set_pkce_verifier(v);
        }
        let answer = request
            .request_async(&oauth_client(http.clone()))
            .await
            .map_err(token_error)?;
        Ok(Secret {
            access_token: Some(answer.access_token().secret().clone()),
            refresh_token: answer.refresh_token().map(|r| r.secret().clone()),
            expires_at: answer
                .expires_in()
                .map(|d| (OffsetDateTime::now_utc() + d).unix_timestamp()),
            password: None,
        })
    }
}

fn token_error(
    err: oauth2::RequestTokenError<
        OAuthHttpError,
        oauth2::StandardErrorResponse<oauth2::basic::BasicErrorResponseType>,
    >,
) -> Error {
    match err {
        oauth2::RequestTokenError::ServerResponse(answer) => Error::AuthExpired(format!(
            "the service refused the authorization: {}",
            answer.error()
        )),
        other => Error::Retryable(format!("exchanging the authorization code: {other}")),
    }
}

impl Pending {
    /// Waits for the browser to come back to the loopback redirect (at most `timeout`), checks
    /// the state, and returns the authorization code with the PKCE verifier.
    pub async fn wait(
        self,
        timeout: Duration,
    ) -> Result<(String, Option<PkceCodeVerifier>, String)> {
        let wait = async {
            loop {
                let (stream, _) = self
                    .listener
                    .accept()
                    .await
                    .map_err(|e| Error::io("the OAuth redirect listener", &e))?;
                match answer_callback(stream, self.state.secret()).await {
                    Ok(Some(code)) => return Ok(code),
                    Ok(None) => continue, // a favicon or a stray request
                    Err(err) => return Err(err),
                }
            }
        };
        let code = tokio::time::timeout(timeout, wait).await.map_err(|_| {
            Error::permanent(format!(
                "no answer from the browser within {} minutes",
                timeout.as_secs() / 60
            ))
        })??;
        Ok((code, self.verifier, self.redirect_uri))
    }
}

/// Reads one HTTP request on the loopback listener; answers it with a short page.
async fn answer_callback(mut stream: tokio::net::TcpStream, state: &str) -> Result<Option<String>> {
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    // The request line is all we need; a hostile local client gets a bounded read.
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut limited = (&mut reader).take(8192);
        limited.read_line(&mut line).await
    })
    .await;
    if !matches!(read, Ok(Ok(n)) if n > 0) {
        return Ok(None);
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let url = url::Url::parse(&format!("http://127.0.0.1{target}"))
        .map_err(|e| Error::permanent(format!("bad redirect: {e}")))?;
    if url.path() != "/callback" {
        let _ = respond(&mut stream, 404, "Not found.").await;
        return Ok(None);
    }
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let outcome = if param("state").as_deref() != Some(state) {
        Err(Error::permanent(
            "the authorization came back with the wrong state; try again",
        ))
    } else if let Some(error) = param("error") {
        let why = param("error_description").unwrap_or_default();
        Err(Error::permanent(format!(
            "the authorization was refused: {error} {why}"
        )))
    } else if let Some(code) = param("code") {
        Ok(Some(code))
    } else {
        Err(Error::permanent(
            "the redirect carried no authorization code",
        ))
    };
    let page = match &outcome {
        Ok(_) => "ferry is connected. You can close this tab and go back to the terminal.",
        Err(_) => "ferry could not connect. See the terminal for why.",
    };
    let _ = respond(&mut stream, 200, page).await;
    outcome
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: u16,
    text: &str,
) -> std::io::Result<()> {
    let body = format!("<!doctype html><meta charset=utf-8><title>ferry</title><p>{text}</p>");
    let head = format!(
        "HTTP/1.1 {status} OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

use tokio::io::AsyncReadExt as _;
