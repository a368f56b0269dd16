//! Accounts and sessions: password hashing, session tokens and cookies, sign-in throttling,
//! and the extractor that finds who is signed in.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine as _;
use ferry_engine::{AccountRow, SessionRow};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::{ApiError, AppState};

/// The session cookie's name; browsers only accept a `__Host-` cookie that is `Secure`,
/// `Path=/` and has no `Domain`, which pins it to this host.
const COOKIE: &str = "ferry_session";
const SECURE_COOKIE: &str = "__Host-ferry_session";

/// How recently the password must have been entered for transfers and downloads (issue 6:
/// "asked again when the last entry is older than 5 minutes").
pub const CONFIRMATION_MAX_AGE: Duration = Duration::from_secs(5 * 60);

const MIN_PASSWORD_CHARS: usize = 8;
/// Long enough for any passphrase, short enough that hashing stays cheap.
const MAX_PASSWORD_BYTES: usize = 1024;

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A password as it arrives: wiped from memory when dropped, never printed.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(password: String) -> Password {
        Password(password)
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Lowercased and trimmed, after checking it looks like an address at all (whether mail
/// reaches it is for the e-mail notifications to find out).
pub fn normalize_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(ApiError::BadRequest("not an e-mail address".into()))
    }
}

fn check_new_password(password: &Password) -> Result<(), ApiError> {
    if password.0.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::BadRequest(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.bytes().len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::BadRequest(format!(
            "the password must be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Hashes at once: each takes 19 MiB and a core for tens of milliseconds, so a burst of
/// sign-ins must queue rather than exhaust memory.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    tokio::sync::Semaphore::new(cores * 2)
});

async fn hashing_permit() -> Result<tokio::sync::SemaphorePermit<'static>, ApiError> {
    HASHING
        .acquire()
        .await
        .map_err(|err| ApiError::Internal(format!("hashing queue: {err}")))
}

/// An argon2id PHC string (argon2's defaults: 19 MiB, 2 passes, the OWASP minimum). Hashing
/// takes tens of milliseconds of CPU, so it runs off the async workers.
async fn hash_password(password: Password) -> Result<String, ApiError> {
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.bytes())
            .map(|hash| hash.to_string())
            .map_err(|err| ApiError::Internal(format!("hashing a password: {err}")))
    })
    .await
    .map_err(|err| ApiError::Internal(format!("hashing a password: {err}")))?
}

/// Whether `password` matches `phc`. The parameters come from the stored string, so hashes
/// made with older parameters keep working.
async fn verify_password(password: &Password, phc: String) -> Result<bool, ApiError> {
    let password = Password(password.0.clone());
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&phc)
            .map_err(|err| ApiError::Internal(format!("a stored password hash: {err}")))?;
        Ok(Argon2::default()
            .verify_password(password.bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|err| ApiError::Internal(format!("checking a password: {err}")))?
}

/// A hash of no one's password, checked against when the address is unknown so that sign-in
/// takes as long for unknown addresses as for known ones.
async fn decoy_hash() -> Result<String, ApiError> {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DECOY.get() {
        return Ok(hash.clone());
    }
    let hash = hash_password(Password(new_token())).await?;
    Ok(DECOY.get_or_init(|| hash).clone())
}

/// 256 random bits, URL-safe base64: the session cookie's value.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new session: the cookie's token (given to the browser, never stored) and its row.
pub struct NewSession {
    pub token: String,
    pub row: SessionRow,
}

async fn start_session(state: &AppState, account: &AccountRow) -> Result<NewSession, ApiError> {
    let token = new_token();
    let now = unix_now();
    let lifetime = i64::try_from(state.config().session_lifetime.as_secs()).unwrap_or(i64::MAX);
    let row = SessionRow {
        token_hash: token_hash(&token),
        account_id: account.id.clone(),
        created_at: now,
        expires_at: now.saturating_add(lifetime),
        confirmed_at: now,
    };
    state.app().create_session(&row).await?;
    Ok(NewSession { token, row })
}

/// Creates an account and signs it in.
pub async fn sign_up(
    state: &AppState,
    email: &str,
    password: Password,
    ip: IpAddr,
) -> Result<(AccountRow, NewSession), ApiError> {
    // Bounds accounts made from one address (sign-up spam, and probing which addresses are
    // taken); every attempt counts, made or not.
    state.throttle().sign_up(ip, Instant::now())?;
    let email = normalize_email(email)?;
    check_new_password(&password)?;
    let account = AccountRow {
        id: uuid::Uuid::now_v7().to_string(),
        email,
        password_hash: hash_password(password).await?,
        created_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    };
    if !state.app().create_account(&account).await? {
        return Err(ApiError::EmailTaken);
    }
    state.app().audit(&account.id, "sign_up", "").await?;
    let session = start_session(state, &account).await?;
    Ok((account, session))
}

/// Checks the password (throttled per account and per address) and starts a session.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &Password,
    ip: IpAddr,
) -> Result<(AccountRow, NewSession), ApiError> {
    // An unparseable address still counts against the IP, so probing cannot go unthrottled.
    let email = normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
    let throttle = state.throttle();
    throttle.check(&email, ip, Instant::now())?;
    let account = state.app().account_by_email(&email).await?;
    let phc = match &account {
        Some(account) => account.password_hash.clone(),
        None => decoy_hash().await?,
    };
    let matches = verify_password(password, phc).await?;
    let account = match account {
        Some(account) if matches => account,
        other => {
            throttle.fail(&email, ip, Instant::now());
            if let Some(account) = other {
                state
                    .app()
                    .audit(&account.id, "sign_in_failed", &ip.to_string())
                    .await?;
            }
            return Err(ApiError::WrongCredentials);
        }
    };
    throttle.succeed(&email);
    state
        .app()
        .audit(&account.id, "sign_in", &ip.to_string())
        .await?;
    let session = start_session(state, &account).await?;
    Ok((account, session))
}

/// The `Set-Cookie` value that gives the browser its session.
pub fn session_cookie(state: &AppState, token: &str) -> String {
    let secs = state.config().session_lifetime.as_secs();
    if state.config().secure_cookies {
        format!("{SECURE_COOKIE}={token}; Path=/; Max-Age={secs}; HttpOnly; SameSite=Lax; Secure")
    } else {
        format!("{COOKIE}={token}; Path=/; Max-Age={secs}; HttpOnly; SameSite=Lax")
    }
}

/// The `Set-Cookie` value that makes the browser forget its session.
pub fn clear_cookie(state: &AppState) -> String {
    if state.config().secure_cookies {
        format!("{SECURE_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure")
    } else {
        format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
    }
}

fn cookie_token<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The signed-in person of a request; handlers that take it refuse anyone else with 401.
#[derive(Clone, Debug)]
pub struct CurrentSession {
    pub account: AccountRow,
    pub session: SessionRow,
}

impl CurrentSession {
    /// Refuses unless the password was entered in this session within `max_age`: what
    /// starting a transfer or downloading an archive asks for.
    pub fn require_recent_confirmation(&self, max_age: Duration) -> Result<(), ApiError> {
        let age = unix_now().saturating_sub(self.session.confirmed_at);
        if u64::try_from(age).is_ok_and(|age| age <= max_age.as_secs()) {
            Ok(())
        } else {
            Err(ApiError::ConfirmationRequired)
        }
    }

    /// Checks the password again and records the time, for `require_recent_confirmation`.
    /// Failures count towards the sign-in throttle: this is a password oracle too.
    pub async fn confirm(
        &self,
        state: &AppState,
        password: &Password,
        ip: IpAddr,
    ) -> Result<(), ApiError> {
        let throttle = state.throttle();
        throttle.check(&self.account.email, ip, Instant::now())?;
        if !verify_password(password, self.account.password_hash.clone()).await? {
            throttle.fail(&self.account.email, ip, Instant::now());
            state
                .app()
                .audit(&self.account.id, "confirmation_failed", &ip.to_string())
                .await?;
            return Err(ApiError::WrongPassword);
        }
        throttle.succeed(&self.account.email);
        state
            .app()
            .confirm_session(&self.session.token_hash, unix_now())
            .await?;
        Ok(())
    }

    pub async fn sign_out(&self, state: &AppState) -> Result<(), ApiError> {
        state.app().delete_session(&self.session.token_hash).await?;
        state.app().audit(&self.account.id, "sign_out", "").await?;
        Ok(())
    }
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let name = if state.config().secure_cookies {
            SECURE_COOKIE
        } else {
            COOKIE
        };
        let token = cookie_token(parts, name).ok_or(ApiError::Unauthorized)?;
        let session = state
            .app()
            .session(&token_hash(token), unix_now())
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let account = state
            .app()
            .account(&session.account_id)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(CurrentSession { account, session })
    }
}

impl OptionalFromRequestParts<AppState> for CurrentSession {
    type Rejection = ApiError;

    /// `None` when nobody is signed in; a failing store is still an error.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        match <Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(current) => Ok(Some(current)),
            Err(ApiError::Unauthorized) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

/// The address a request came from, for throttling and the audit log: the peer of the TCP
/// connection, or, when that peer is a trusted reverse proxy, the nearest address in
/// `X-Forwarded-For` that is not itself a trusted proxy (the entries before it are whatever
/// the client chose to send, so they are never believed).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Ok(ClientIp(client_ip(
            peer,
            &forwarded,
            &state.config().trusted_proxies,
        )))
    }
}

fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted.contains(&ip) {
                    break;
                }
            }
            // Garbage where an address should be: stop at the last address believed.
            Err(_) => break,
        }
    }
    client
}

/// How many failed sign-ins are allowed before a pause.
#[derive(Clone, Debug)]
pub struct ThrottleConfig {
    /// Failures for one e-mail address (from anywhere) within `window`.
    pub account_failures: u32,
    /// Failures from one address (any account) within `window`; higher, since many people
    /// may share an address behind NAT.
    pub ip_failures: u32,
    pub window: Duration,
    /// How long sign-in is refused once a limit is reached.
    pub lockout: Duration,
    /// Sign-up attempts per client address within `window` (then refused for `lockout`).
    pub ip_sign_ups: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            account_failures: 5,
            ip_failures: 20,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            ip_sign_ups: 10,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Ip(IpAddr),
    SignUp(IpAddr),
}

#[derive(Debug)]
struct Entry {
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// Failed sign-ins per account and per client address, in memory. One process serves an
/// instance today; a fleet will need these counters in the Store.
pub struct Throttle {
    config: ThrottleConfig,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// Entries kept before expired ones are swept: bounds memory under a spray of addresses.
const SWEEP_AT: usize = 10_000;

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Throttle {
        Throttle {
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn keys(email: &str, ip: IpAddr) -> [Key; 2] {
        [Key::Account(email.to_owned()), Key::Ip(ip_key(ip))]
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        // A panic elsewhere while holding the lock leaves plain counters behind; keep going.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refuses while the account or the address is locked out.
    pub fn check(&self, email: &str, ip: IpAddr, now: Instant) -> Result<(), ApiError> {
        let entries = self.entries();
        let wait = Self::keys(email, ip)
            .iter()
            .filter_map(|key| entries.get(key)?.locked_until)
            .filter_map(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max();
        match wait {
            Some(retry_after) => Err(ApiError::Throttled { retry_after }),
            None => Ok(()),
        }
    }

    pub fn fail(&self, email: &str, ip: IpAddr, now: Instant) {
        let mut entries = self.entries();
        for key in Self::keys(email, ip) {
            let limit = match key {
                Key::Account(_) => self.config.account_failures,
                _ => self.config.ip_failures,
            };
            self.bump(&mut entries, key, limit, now);
        }
    }

    /// Counts a sign-up attempt from `ip`; refuses while the address is locked out.
    pub fn sign_up(&self, ip: IpAddr, now: Instant) -> Result<(), ApiError> {
        let key = Key::SignUp(ip_key(ip));
        let mut entries = self.entries();
        if let Some(wait) = entries
            .get(&key)
            .and_then(|entry| entry.locked_until?.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
        {
            return Err(ApiError::Throttled { retry_after: wait });
        }
        self.bump(&mut entries, key, self.config.ip_sign_ups, now);
        Ok(())
    }

    /// Adds one to a key's count in the window; at `limit`, locks it out.
    fn bump(&self, entries: &mut HashMap<Key, Entry>, key: Key, limit: u32, now: Instant) {
        let config = &self.config;
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, entry| {
                entry.locked_until.is_some_and(|until| until > now)
                    || now.duration_since(entry.since) < config.window
            });
        }
        let entry = entries.entry(key).or_insert(Entry {
            failures: 0,
            since: now,
            locked_until: None,
        });
        if now.duration_since(entry.since) >= config.window {
            entry.failures = 0;
            entry.since = now;
        }
        entry.failures += 1;
        if entry.failures >= limit {
            entry.locked_until = Some(now + config.lockout);
            entry.failures = 0;
            entry.since = now;
        }
    }

    /// A right password clears the account's count. Not the address's: signing in to one's
    /// own account must not reset the count of guesses at others.
    pub fn succeed(&self, email: &str) {
        self.entries().remove(&Key::Account(email.to_owned()));
    }
}

/// IPv6 clients usually hold a whole /64, so count them per /64.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(ThrottleConfig {
            account_failures: 3,
            ip_failures: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(600),
            ip_sign_ups: 2,
        })
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let inner: IpAddr = "10.0.0.8".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let direct: IpAddr = "198.51.100.1".parse().unwrap();
        // Not from a proxy: the header is the client's word, ignored.
        assert_eq!(client_ip(direct, "203.0.113.7", &[proxy]), direct);
        // From the proxy: the nearest untrusted hop; a forged first entry is not believed.
        assert_eq!(client_ip(proxy, "1.2.3.4, 203.0.113.7", &[proxy]), client);
        assert_eq!(
            client_ip(proxy, "1.2.3.4, 203.0.113.7, 10.0.0.8", &[proxy, inner]),
            client
        );
        assert_eq!(client_ip(proxy, "", &[proxy]), proxy);
        assert_eq!(client_ip(proxy, "junk", &[proxy]), proxy);
        assert_eq!(client_ip(proxy, "203.0.113.7", &[]), proxy);
    }

    #[test]
    fn locks_an_account_after_its_limit_and_releases_it_after_the_lockout() {
        let t = throttle();
        let start = Instant::now();
        for _ in 0..3 {
            assert!(t.check("a@x", IP, start).is_ok());
            t.fail("a@x", IP, start);
        }
        let Err(ApiError::Throttled { retry_after }) = t.check("a@x", IP, start) else {
            panic!("expected a lockout");
        };
        assert_eq!(retry_after, Duration::from_secs(600));
        // Another account from another address is not affected.
        let other = IpAddr::from([10, 0, 0, 2]);
        assert!(t.check("b@x", other, start).is_ok());
        assert!(t.check("a@x", IP, start + Duration::from_secs(601)).is_ok());
    }

    #[test]
    fn locks_an_address_that_guesses_at_many_accounts() {
        let t = throttle();
        let now = Instant::now();
        for n in 0..5 {
            t.fail(&format!("user{n}@x"), IP, now);
        }
        assert!(t.check("fresh@x", IP, now).is_err());
        assert!(t.check("fresh@x", IpAddr::from([10, 0, 0, 9]), now).is_ok());
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let t = throttle();
        let start = Instant::now();
        t.fail("a@x", IP, start);
        t.fail("a@x", IP, start);
        let later = start + Duration::from_secs(61);
        t.fail("a@x", IP, later);
        assert!(t.check("a@x", IP, later).is_ok());
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..2 {
            t.fail("a@x", IP, now);
        }
        t.succeed("a@x");
        t.fail("a@x", IP, now);
        assert!(t.check("a@x", IP, now).is_ok());
        // The address has 3 failures now; 2 more lock it.
        t.fail("c@x", IP, now);
        t.fail("d@x", IP, now);
        assert!(t.check("e@x", IP, now).is_err());
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ann@Example.ORG ").unwrap(),
            "ann@example.org"
        );
        for bad in ["", "ann", "@x", "ann@", "a b@x"] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    fn session_confirmed_ago(secs: i64) -> CurrentSession {
        let now = unix_now();
        CurrentSession {
            account: AccountRow {
                id: "a".into(),
                email: "a@x".into(),
                password_hash: String::new(),
                created_at: String::new(),
            },
            session: SessionRow {
                token_hash: String::new(),
                account_id: "a".into(),
                created_at: now - 3600,
                expires_at: now + 3600,
                confirmed_at: now - secs,
            },
        }
    }

    #[test]
    fn a_confirmation_is_fresh_for_five_minutes() {
        assert!(
            session_confirmed_ago(10)
                .require_recent_confirmation(CONFIRMATION_MAX_AGE)
                .is_ok()
        );
        assert!(matches!(
            session_confirmed_ago(301).require_recent_confirmation(CONFIRMATION_MAX_AGE),
            Err(ApiError::ConfirmationRequired)
        ));
        // A confirmation "from the future" (a clock stepped back) is not trusted.
        assert!(
            session_confirmed_ago(-600)
                .require_recent_confirmation(CONFIRMATION_MAX_AGE)
                .is_err()
        );
    }

    #[test]
    fn a_password_does_not_print() {
        let password = Password::new("correct horse".into());
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id() {
        let phc = hash_password(Password::new("correct horse".into()))
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(
            verify_password(&Password::new("correct horse".into()), phc.clone())
                .await
                .unwrap()
        );
        assert!(
            !verify_password(&Password::new("wrong horse".into()), phc)
                .await
                .unwrap()
        );
    }
}
