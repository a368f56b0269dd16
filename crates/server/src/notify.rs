//! Telling people what happened to their transfers and archives, as the platforms do: an
//! in-app notice (always) and an e-mail (when the server has an SMTP server configured).
//!
//! E-mail goes out in the background: a slow or refusing mail server never holds up a job or
//! a request, and a failure is logged (without the address's credentials) and noted in the
//! account's audit log rather than lost silently.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_engine::AppStore;

use crate::ServerConfig;

/// Something that delivers a plain-text e-mail (the SMTP client in production).
#[async_trait]
pub trait Outbox: Send + Sync {
    async fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), String>;
}

/// One message to an account: the notice's text, and the e-mail's subject and body.
pub struct Message {
    pub subject: String,
    /// The notice, and the e-mail's first paragraph.
    pub text: String,
    /// A path in the web app (`/jobs/…`); the e-mail carries it as an absolute link.
    pub link: String,
}

#[derive(Clone)]
pub struct Notifier {
    app: Arc<dyn AppStore>,
    outbox: Option<Arc<dyn Outbox>>,
    config: ServerConfig,
}

impl Notifier {
    pub fn new(
        app: Arc<dyn AppStore>,
        outbox: Option<Arc<dyn Outbox>>,
        config: ServerConfig,
    ) -> Notifier {
        Notifier {
            app,
            outbox,
            config,
        }
    }

    /// Where notices and the audit log are kept.
    pub fn app(&self) -> &Arc<dyn AppStore> {
        &self.app
    }

    /// Records the notice, then sends the e-mail in the background.
    pub async fn tell(&self, owner: &str, message: Message) {
        if let Err(err) = self.app.notify(owner, &message.text, &message.link).await {
            tracing::warn!(error = %err, "could not record a notice");
        }
        let Some(outbox) = self.outbox.clone() else {
            return;
        };
        let account = match self.app.account(owner).await {
            Ok(Some(account)) => account,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "cannot find whom to e-mail");
                return;
            }
        };
        let mut body = message.text.clone();
        if !message.link.is_empty() {
            body.push_str("\n\n");
            body.push_str(&self.config.absolute(&message.link));
        }
        body.push_str(
            "\n\nYou receive this because you use ferry. If this was not you, change your \
             password and check your account's activity.\n",
        );
        let app = self.app.clone();
        let owner = owner.to_string();
        tokio::spawn(async move {
            match outbox.send(&account.email, &message.subject, &body).await {
                Ok(()) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "could not send an e-mail");
                    let _ = app.audit(&owner, "email_failed", &message.subject).await;
                }
            }
        });
    }
}
