//! Files and folders that only their owner may read, whatever the umask: ferry's data dir
//! holds the journal, the key that opens every stored token and people's archives.
//!
//! The modes are set explicitly after creating, not left to the umask (which only takes
//! bits away from what `open` and `mkdir` ask for, and may take away too few, or too many).

use std::fs::File;
use std::io;
use std::path::Path;

/// The mode of the files ferry writes in its data dir.
pub const FILE_MODE: u32 = 0o600;
/// The mode of the folders ferry makes there.
pub const DIR_MODE: u32 = 0o700;

/// Creates `path` and its missing parents as folders only the owner may enter. Folders that
/// exist already are left as they are (a data dir given with `--data-dir` may be shared on
/// purpose).
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    match std::fs::create_dir(path) {
        Ok(()) => set_mode(path, DIR_MODE),
        // Made by someone else meanwhile (another process starting at the same time).
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates a new file (it must not exist) that only the owner may read, open for writing.
pub fn create_new(path: &Path) -> io::Result<File> {
    let file = options().create_new(true).open(path)?;
    set_file_mode(&file)?;
    Ok(file)
}

/// Creates `path` empty and private when it is missing; an existing file keeps its content.
/// A file that others may read (made by an older ferry, which left modes to the umask) is
/// made private too: it is ferry's own.
pub fn ensure_file(path: &Path) -> io::Result<()> {
    match options().create_new(true).open(path) {
        Ok(file) => set_file_mode(&file),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => restrict(path),
        Err(e) => Err(e),
    }
}

/// Takes the group's and others' permissions away from an existing file of ferry's.
pub fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            set_mode(path, mode & 0o700)?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Never readable by others, not even between the open and the chmod below.
        options.mode(FILE_MODE);
    }
    options
}

fn set_file_mode(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_and_files_are_private_and_existing_folders_are_left_alone() {
        let dir = std::env::temp_dir().join(format!("ferry-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();

        let nested = dir.join("a/b");
        create_dir_all(&nested).unwrap();
        create_dir_all(&nested).unwrap();
        assert_eq!(mode(&dir.join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&dir), 0o755, "an existing folder keeps its mode");

        let file = nested.join("f");
        create_new(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert!(create_new(&file).is_err(), "never opens an existing file");

        let old = nested.join("old");
        std::fs::write(&old, b"kept").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        ensure_file(&old).unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(std::fs::read(&old).unwrap(), b"kept");
        let new = nested.join("new");
        ensure_file(&new).unwrap();
        assert_eq!(mode(&new), 0o600);

        std::fs::remove_dir_all(&dir).unwrap();
    }
}
