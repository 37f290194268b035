//! How to read an export: the region's terminology, whether identified records are admitted,
//! and the Bulk partition size.

use std::sync::Arc;

use jiff::civil::Date;

use super::terminology::Terminology;

/// How to read an export.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Code translations applied to every coding of every used resource.
    pub terminology: Arc<Terminology>,
    /// Admit records whose Patient still carries direct identifiers (counted in the stats).
    /// For data a region has reviewed; the default refuses them.
    pub allow_identifiers: bool,
    /// Bulk NDJSON is grouped by patient in partitions of about this many bytes of input;
    /// ingest holds one partition (and its parsed records) at a time.
    pub partition_bytes: u64,
}

impl IngestOptions {
    /// 32 MiB: a partition and its parsed records stay near 100 MiB.
    pub const DEFAULT_PARTITION_BYTES: u64 = 32 << 20;
}

impl Default for IngestOptions {
    /// The shipped terminology, identifiers refused.
    fn default() -> Self {
        IngestOptions {
            terminology: Arc::new(Terminology::shipped()),
            allow_identifiers: false,
            partition_bytes: Self::DEFAULT_PARTITION_BYTES,
        }
    }
}

/// What reading needs besides the files: shared by Bundle and Bulk reading.
pub(crate) struct Ingest {
    pub(crate) evaluation_date: Date,
    pub(crate) options: IngestOptions,
}
