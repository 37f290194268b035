//! What can go wrong reading an export: the source as a whole ([`SourceError`]: nothing can be
//! read) or one record ([`RecordError`]: reported beside the others' outcomes).

use std::path::PathBuf;

use super::record::SourceLocation;

/// A problem with the record source as a whole: nothing can be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The export cannot be listed: missing, unreadable, empty or ambiguous.
    #[error(transparent)]
    Listing(#[from] super::listing::ListError),
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error(
        "cannot make a scratch directory for grouping the Bulk export by patient: {source} (set TMPDIR to a writable directory)"
    )]
    Scratch { source: std::io::Error },
}

/// A record that could not be read. It is reported in the results beside the outcomes of
/// the records that could.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct RecordError {
    pub location: SourceLocation,
    /// The record's pseudonym, when it could be read.
    pub key: Option<String>,
    pub message: String,
}
