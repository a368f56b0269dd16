//! Notification e-mails ("your archive is ready") over SMTP, through lettre on rustls.
//!
//! One connection per message: notifications are rare, and a pooled connection would sit idle
//! until the server drops it.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::settings::{MailSettings, SmtpSecurity};

/// How long sending one e-mail may take, connecting included, before giving up.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends e-mails through the configured SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port (security)`, for logs and errors; never credentials.
    description: String,
    timeout: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.description)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Why an e-mail was not sent, as one line without credentials.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0:?} is not a valid e-mail address")]
    InvalidAddress(String),
    #[error("cannot use SMTP server {server}: {message}")]
    Setup { server: String, message: String },
    #[error("cannot build the e-mail: {0}")]
    Build(String),
    #[error("cannot send e-mail through {server}: {message}")]
    Send {
        server: String,
        message: String,
        /// The server refused for good (5xx): retrying the same message will not help.
        permanent: bool,
    },
    #[error("cannot send e-mail through {server}: no answer within {seconds} s")]
    Timeout { server: String, seconds: u64 },
}

impl MailError {
    /// Whether trying again later cannot succeed (bad address, permanent refusal).
    pub fn is_permanent(&self) -> bool {
        match self {
            MailError::InvalidAddress(_) | MailError::Build(_) => true,
            MailError::Send { permanent, .. } => *permanent,
            MailError::Setup { .. } | MailError::Timeout { .. } => false,
        }
    }
}

impl Mailer {
    /// A mailer for `settings`; nothing connects until the first `send`.
    pub fn new(settings: &MailSettings) -> Result<Mailer, MailError> {
        Mailer::with_timeout(settings, SMTP_TIMEOUT)
    }

    /// Like `new`, with another timeout.
    pub fn with_timeout(settings: &MailSettings, timeout: Duration) -> Result<Mailer, MailError> {
        let description = format!(
            "{}:{} ({})",
            settings.smtp_host, settings.smtp_port, settings.security
        );
        let host = settings.smtp_host.as_str();
        let setup = |e: lettre::transport::smtp::Error| MailError::Setup {
            server: description.clone(),
            message: one_line(&e.to_string()),
        };
        let builder = match settings.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            // STARTTLS is required, not opportunistic: a server that does not offer it fails.
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(setup)?
            }
            SmtpSecurity::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(setup)?
            }
        };
        let mut builder = builder.port(settings.smtp_port).timeout(Some(timeout));
        if let Some(credentials) = &settings.credentials {
            builder = builder.credentials(Credentials::new(
                credentials.user.clone(),
                credentials.password.expose_secret().to_string(),
            ));
        }
        Ok(Mailer {
            transport: builder.build(),
            from: settings.from.clone(),
            description,
            timeout,
        })
    }

    /// The server as `host:port (security)`, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Sends a plain-text UTF-8 e-mail to one address.
    pub async fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), MailError> {
        let to: Mailbox = to
            .trim()
            .parse()
            .map_err(|_| MailError::InvalidAddress(to.to_string()))?;
        // The Message-ID's right side is the sender's domain, which the sender controls, so
        // the ID is unique without revealing this machine's host name.
        let message_id = format!("<{}@{}>", uuid::Uuid::now_v7(), self.from.email.domain());
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .date_now()
            .message_id(Some(message_id))
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_string())
            .map_err(|e| MailError::Build(one_line(&e.to_string())))?;
        // lettre's own timeout only bounds connecting (with tokio); a server that accepts
        // and then never answers is bounded here.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) if e.is_timeout() => Err(self.timed_out()),
            Ok(Err(e)) => Err(MailError::Send {
                server: self.description.clone(),
                message: one_line(&e.to_string()),
                permanent: e.is_permanent(),
            }),
            Err(_) => Err(self.timed_out()),
        }
    }

    fn timed_out(&self) -> MailError {
        MailError::Timeout {
            server: self.description.clone(),
            seconds: self.timeout.as_secs().max(1),
        }
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[async_trait::async_trait]
impl crate::notify::Outbox for Mailer {
    async fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), String> {
        Mailer::send(self, to, subject, text)
            .await
            .map_err(|e| e.to_string())
    }
}
