//! `livelab anonymise`: identifiable FHIR export in, anonymised export out.
//!
//! STUB: the API below is the contract `src/main.rs` codes against; the implementation is
//! being written (see the helper brief).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AnonymiseError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// The region-held secret that keys the pseudonyms.
pub struct PseudonymKey(Vec<u8>);

impl PseudonymKey {
    pub fn from_file(_path: &Path) -> Result<PseudonymKey, AnonymiseError> {
        todo!()
    }
}

/// What an anonymisation did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct AnonymiseSummary {
    pub files: u64,
    pub resources: u64,
}

impl std::fmt::Display for AnonymiseSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} files, {} resources", self.files, self.resources)
    }
}

/// Reads the export at `input` (Bundles or Bulk NDJSON), writes the anonymised one to `output`.
pub fn anonymise(
    _input: &Path,
    _output: &Path,
    _key: &PseudonymKey,
) -> Result<AnonymiseSummary, AnonymiseError> {
    todo!()
}
