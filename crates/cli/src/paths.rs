//! Where ferry keeps its files.

use std::path::PathBuf;

use anyhow::{Result, bail};

/// `--data-dir` / `$FERRY_DATA_DIR`, else `$XDG_DATA_HOME/ferry`, else `~/.local/share/ferry`.
pub fn data_dir(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = explicit.filter(|d| !d.as_os_str().is_empty()) {
        return Ok(dir);
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("ferry"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/ferry")),
        None => bail!("no data folder: set FERRY_DATA_DIR or HOME"),
    }
}

/// `--config` / `$FERRY_CONFIG`, else `$XDG_CONFIG_HOME/ferry/ferry.toml`, else
/// `~/.config/ferry/ferry.toml`. The file need not exist: the defaults are the real services.
pub fn config_file(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(file) = explicit.filter(|f| !f.as_os_str().is_empty()) {
        return Ok(file);
    }
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("ferry/ferry.toml"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".config/ferry/ferry.toml")),
        None => bail!("no configuration folder: set FERRY_CONFIG or HOME"),
    }
}
