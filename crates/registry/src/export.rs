//! The content hash of a trial's export, so that two runs on the same data can be told
//! from two runs on different data whatever the paths say.

use std::io::Read as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// A file's SHA-256, or a directory's tree hash (the hash `plugin.toml` pins a data
/// directory with: every file's path and content), as lowercase hex.
pub fn export_sha256(path: &Path) -> std::io::Result<String> {
    if path.is_dir() {
        return livelab_host::package::manifest::tree_sha256(path);
    }
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(livelab_host::digest::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_hashes_as_its_bytes_and_a_directory_changes_with_any_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Patient.000.ndjson");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(
            super::export_sha256(&file).unwrap(),
            livelab_host::digest::sha256_hex(b"abc")
        );
        let before = super::export_sha256(dir.path()).unwrap();
        std::fs::write(&file, b"abd").unwrap();
        assert_ne!(super::export_sha256(dir.path()).unwrap(), before);
    }
}
