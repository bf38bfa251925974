//! The key log (`key_log` of either driver): one text line per session with the secrets that
//! decrypt it, appended to a file the user named, for reading one's own captures with
//! `stt decrypt` and Wireshark. The core reports the secrets (`Event::KeyLog`, only when asked);
//! this module owns the file. The line format is in `docs/PROTOCOL.md`, section 14.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use stt_proto::SessionSecrets;

use crate::Error;

/// An open key-log file. Lines are appended whole, one `write` each, so several nodes (or
/// processes) may share one file.
#[derive(Debug)]
pub struct KeyLog {
    file: Mutex<File>,
    path: PathBuf,
}

impl KeyLog {
    /// Opens `path` for appending, creating it (mode 0600 on Unix) if it does not exist.
    pub fn open(path: &Path) -> Result<KeyLog, Error> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|source| Error::KeyLog { path: path.to_path_buf(), source })?;
        Ok(KeyLog { file: Mutex::new(file), path: path.to_path_buf() })
    }

    /// Appends the line of one session. A failed write is logged and the session goes on (the
    /// line is lost).
    pub fn write(&self, secrets: &SessionSecrets) {
        let mut line = secrets.key_log_line();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::warn!(path = %self.path.display(), "cannot write the key log: {e}");
        }
        zeroize::Zeroize::zeroize(&mut line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_log_is_private_to_its_owner() {
        let dir = std::env::temp_dir().join(format!("stt-keylog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys");
        let _ = std::fs::remove_file(&path);
        KeyLog::open(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let missing = dir.join("no-such-dir").join("keys");
        assert!(matches!(KeyLog::open(&missing), Err(Error::KeyLog { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
