//! The vault seals secrets (tokens, passwords) before they reach the database: XChaCha20-
//! Poly1305 with a random 24-byte nonce per secret, and the owning record's id as associated
//! data, so that a sealed value copied onto another record does not open.
//!
//! The master key comes from `FERRY_MASTER_KEY` (64 hex digits or base64 of 32 bytes) or from a
//! key file in the data dir, created on first use with mode 0600 and never written again.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Generate, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::{EngineError, Result};

/// The first byte of every sealed value: which format (and key scheme) sealed it.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;

/// The environment variable that carries the master key.
pub const MASTER_KEY_ENV: &str = "FERRY_MASTER_KEY";
/// The key file's name in the data dir.
pub const KEY_FILE: &str = "master.key";

pub struct Vault {
    cipher: XChaCha20Poly1305,
    /// Where the key came from, for messages (never the key).
    origin: String,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({})", self.origin)
    }
}

impl Vault {
    /// The vault of this machine: `FERRY_MASTER_KEY` when set, else the key file in
    /// `data_dir` (created when missing).
    pub fn open(data_dir: &Path) -> Result<Vault> {
        match std::env::var(MASTER_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => {
                let key = parse_key(text.trim()).ok_or_else(|| {
                    EngineError::Setup(format!(
                        "{MASTER_KEY_ENV} must be 64 hex digits or the base64 of 32 bytes"
                    ))
                })?;
                Ok(Vault::with_key(&key, MASTER_KEY_ENV.to_string()))
            }
            _ => Vault::from_key_file(&data_dir.join(KEY_FILE)),
        }
    }

    pub fn with_key(key: &[u8; 32], origin: String) -> Vault {
        let key = Key::from(*key);
        Vault {
            cipher: XChaCha20Poly1305::new(&key),
            origin,
        }
    }

    /// Reads the key file, or creates it (0600, exclusively, so two first runs cannot write
    /// two keys).
    pub fn from_key_file(path: &Path) -> Result<Vault> {
        let origin = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                check_private(path)?;
                let key = parse_key(text.trim()).ok_or_else(|| {
                    EngineError::Setup(format!("{origin} does not hold a ferry master key"))
                })?;
                Ok(Vault::with_key(&key, origin))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(path),
            Err(e) => Err(EngineError::Setup(format!("cannot read {origin}: {e}"))),
        }
    }

    /// Seals `plaintext` for the record `owner`.
    pub fn seal(&self, owner: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce = XNonce::generate();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| EngineError::Setup("sealing a secret failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Vault::seal`] sealed for `owner`. Fails for another owner, another key, or
    /// altered bytes, without saying more (nothing about a secret goes into a message).
    pub fn open_sealed(&self, owner: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let refused = || {
            EngineError::Setup(format!(
                "a stored secret cannot be opened with the master key from {} (was the key changed?)",
                self.origin
            ))
        };
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != FORMAT_V1 {
            return Err(refused());
        }
        let nonce = XNonce::try_from(&sealed[1..1 + NONCE_LEN]).map_err(|_| refused())?;
        let plain = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| refused())?;
        Ok(Zeroizing::new(plain))
    }
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    let bytes = if text.len() == 64 {
        hex::decode(text).ok()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    };
    bytes.try_into().ok()
}

fn create_key_file(path: &Path) -> Result<Vault> {
    let origin = path.display().to_string();
    if let Some(dir) = path.parent() {
        ferry_core::private::create_dir_all(dir)
            .map_err(|e| EngineError::Setup(format!("cannot create {}: {e}", dir.display())))?;
    }
    let key = Key::generate();
    let text = Zeroizing::new(hex::encode(key.as_slice()));
    let file = ferry_core::private::create_new(path);
    match file {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .and_then(|_| file.write_all(b"\n"))
                .and_then(|_| file.sync_all())
                .map_err(|e| EngineError::Setup(format!("cannot write {origin}: {e}")))?;
            tracing::info!("created the master key {origin}");
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(key.as_slice());
            let vault = Vault::with_key(&bytes, origin);
            zeroize::Zeroize::zeroize(&mut bytes);
            Ok(vault)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Vault::from_key_file(path),
        Err(e) => Err(EngineError::Setup(format!("cannot create {origin}: {e}"))),
    }
}

/// Refuses a key file others can read: the key opens every stored token.
fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| EngineError::Setup(format!("cannot read {}: {e}", path.display())))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(EngineError::Setup(format!(
            "{} is readable by other users; run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

/// The key file's path in a data dir.
pub fn key_file(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::with_key(&[7u8; 32], "test".into())
    }

    #[test]
    fn seals_and_opens_for_the_same_owner_only() {
        let v = vault();
        let sealed = v.seal("conn-1", b"token-abc").unwrap();
        assert!(!sealed.windows(9).any(|w| w == b"token-abc"));
        assert_eq!(&**v.open_sealed("conn-1", &sealed).unwrap(), b"token-abc");
        assert!(v.open_sealed("conn-2", &sealed).is_err());
        let other = Vault::with_key(&[8u8; 32], "other".into());
        assert!(other.open_sealed("conn-1", &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(v.open_sealed("conn-1", &altered).is_err());
        assert!(v.open_sealed("conn-1", &sealed[..10]).is_err());
    }

    #[test]
    fn nonces_differ() {
        let v = vault();
        assert_ne!(v.seal("a", b"x").unwrap(), v.seal("a", b"x").unwrap());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(KEY_FILE);
        // A permissive umask must not make the data dir or the key readable by others.
        unsafe { libc::umask(0o022) };
        let first = Vault::from_key_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let folder = std::fs::metadata(dir.path().join("sub")).unwrap();
        assert_eq!(folder.permissions().mode() & 0o777, 0o700);
        let sealed = first.seal("c", b"secret").unwrap();
        let second = Vault::from_key_file(&path).unwrap();
        assert_eq!(&**second.open_sealed("c", &sealed).unwrap(), b"secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Vault::from_key_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn keys_parse_as_hex_or_base64() {
        assert_eq!(parse_key(&"ab".repeat(32)), Some([0xab; 32]));
        let b64 = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
        assert_eq!(parse_key(&b64), Some([3; 32]));
        assert_eq!(parse_key("short"), None);
    }
}
