//! Connections to services, per owner: stored with their credentials sealed by the vault (the
//! connection's id as associated data) and unsealed only to build a session. A token that
//! the service refreshes mid-transfer is sealed and saved again at once.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use ferry_connectors::auth::{Secret, TokenSaver};
use ferry_connectors::config::Config;
use ferry_connectors::registry;
use ferry_connectors::service::{Service, Session, Settings};
use ferry_engine::{ConnectionRow, Store, Vault};

/// The connections of one journal, with the configuration and the vault to open them.
pub struct Connections {
    store: Arc<dyn Store>,
    data_dir: PathBuf,
    /// The configuration, or why it could not be read: only connections need it, so a
    /// folder-to-folder transfer never fails on it.
    config: std::result::Result<Config, String>,
    vault: OnceLock<Arc<Vault>>,
}

/// What storing a connection did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    /// Who the account is at the service.
    pub account: String,
    /// The name existed and its credentials were replaced.
    pub reconnected: bool,
}

impl Connections {
    pub fn new(
        store: Arc<dyn Store>,
        data_dir: PathBuf,
        config: std::result::Result<Config, String>,
    ) -> Connections {
        Connections {
            store,
            data_dir,
            config,
            vault: OnceLock::new(),
        }
    }

    pub fn config(&self) -> Result<&Config> {
        self.config.as_ref().map_err(|e| anyhow!("{e}"))
    }

    /// The vault, opened (and its key file created) on first need only: a folder-to-folder
    /// transfer never makes a key.
    fn vault(&self) -> Result<Arc<Vault>> {
        if let Some(v) = self.vault.get() {
            return Ok(v.clone());
        }
        let vault = Arc::new(Vault::open(&self.data_dir)?);
        Ok(self.vault.get_or_init(|| vault).clone())
    }

    pub async fn exists(&self, owner: &str, name: &str) -> Result<bool> {
        Ok(self.store.connection(owner, name).await?.is_some())
    }

    pub async fn list(&self, owner: &str) -> Result<Vec<ConnectionRow>> {
        Ok(self.store.connections(owner).await?)
    }

    pub async fn row(&self, owner: &str, name: &str) -> Result<ConnectionRow> {
        self.store.connection(owner, name).await?.ok_or_else(|| {
            // Said to CLI and web users alike: no command names here.
            anyhow!("no connection named '{name}': it was disconnected, or never connected; connect it again")
        })
    }

    /// A session for a stored connection; refreshed tokens are saved back, sealed.
    pub async fn session(&self, owner: &str, name: &str) -> Result<Session> {
        let row = self.row(owner, name).await?;
        let service = registry::named(&row.service).ok_or_else(|| {
            anyhow!(
                "connection '{name}' is for an unknown service '{}'",
                row.service
            )
        })?;
        let vault = self.vault()?;
        let plain = vault.open_sealed(&row.id, &row.sealed_secret)?;
        let secret: Secret = serde_json::from_slice(&plain)
            .map_err(|_| anyhow!("connection '{name}': its stored credentials are unreadable"))?;
        let settings: Settings = serde_json::from_str(&row.settings).unwrap_or_default();
        let saver = Arc::new(SealedSaver {
            store: self.store.clone(),
            vault,
            id: row.id.clone(),
        });
        Ok(Session::new(
            service,
            name,
            self.config()?,
            settings,
            &secret,
            Some(saver),
        )?)
    }

    /// Checks the credentials with the service (who is this?), then stores them sealed under
    /// `name`. Connecting again under the same name (after a token expired for good) replaces
    /// the credentials and keeps every job that names the connection working.
    pub async fn save(
        &self,
        owner: &str,
        name: &str,
        service: &'static Service,
        settings: Settings,
        secret: &Secret,
    ) -> Result<Saved> {
        validate_name(name)?;
        let existing = self.store.connection(owner, name).await?;
        if let Some(row) = &existing
            && row.service != service.name
        {
            bail!(
                "a {} connection named '{name}' exists already; choose another name or disconnect it first",
                row.service
            );
        }
        let session = Session::new(
            service,
            name,
            self.config()?,
            settings.clone(),
            secret,
            None,
        )?;
        let account = session
            .account()
            .await
            .with_context(|| format!("{} refused the credentials", service.title))?;
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(secret)?);
        if let Some(row) = existing {
            let sealed = self.vault()?.seal(&row.id, &plain)?;
            self.store
                .update_connection(
                    &row.id,
                    &account,
                    &serde_json::to_string(&settings)?,
                    &sealed,
                )
                .await?;
            return Ok(Saved {
                account,
                reconnected: true,
            });
        }
        let id = uuid::Uuid::now_v7().to_string();
        let sealed = self.vault()?.seal(&id, &plain)?;
        self.store
            .add_connection(&ConnectionRow {
                id,
                owner: owner.to_string(),
                name: name.to_string(),
                service: service.name.to_string(),
                account: account.clone(),
                settings: serde_json::to_string(&settings)?,
                sealed_secret: sealed,
                created_at: String::new(),
            })
            .await?;
        Ok(Saved {
            account,
            reconnected: false,
        })
    }

    /// A free name for a new connection to `service`: the service's name, else with a number.
    pub async fn free_name(&self, owner: &str, service: &'static Service) -> Result<String> {
        let taken: Vec<String> = self
            .list(owner)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
        let base = service.name.to_string();
        if !taken.contains(&base) {
            return Ok(base);
        }
        (2..1000)
            .map(|n| format!("{base}-{n}"))
            .find(|name| !taken.contains(name))
            .ok_or_else(|| anyhow!("too many {} connections", service.title))
    }

    /// Revokes where the service allows, then deletes. A failure to revoke does not keep the
    /// connection (the person asked to forget it): it is returned as a warning.
    pub async fn forget(&self, owner: &str, name: &str) -> Result<Option<String>> {
        let row = self.row(owner, name).await?;
        let warning = match self.session(owner, name).await {
            Ok(session) => match session.revoke().await {
                Ok(()) => None,
                Err(err) => Some(format!(
                    "could not revoke {name} at the service ({err}); forgot it anyway"
                )),
            },
            Err(err) => Some(format!(
                "cannot open {name} to revoke it ({err}); forgot it anyway"
            )),
        };
        self.store.delete_connection(owner, &row.name).await?;
        Ok(warning)
    }
}

/// Saves refreshed tokens, sealed, onto their connection.
struct SealedSaver {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    id: String,
}

#[async_trait]
impl TokenSaver for SealedSaver {
    async fn save(&self, secret: &Secret) -> ferry_core::Result<()> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(secret).map_err(|e| ferry_core::Error::permanent(e.to_string()))?,
        );
        let sealed = self
            .vault
            .seal(&self.id, &plain)
            .map_err(|e| ferry_core::Error::permanent(e.to_string()))?;
        self.store
            .update_connection_secret(&self.id, &sealed)
            .await
            .map_err(|e| ferry_core::Error::Retryable(e.to_string()))
    }
}

/// Connection names are what comes before `:` in an endpoint.
pub fn validate_name(name: &str) -> Result<()> {
    if name.len() < 2
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("'{name}': a connection name has 2 to 64 letters, digits, '-' or '_'");
    }
    Ok(())
}
