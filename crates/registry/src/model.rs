//! What the registry stores and answers, as typed values (dates are dates, statuses enums).

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use livelab_host::package::signing::SignatureStatus;
use livelab_host::run::outcome::{Subgroup, subgroup_keys};
use livelab_host::trial::TrialSummary;
use livelab_host::trial::stats::Confusion;
use serde::{Deserialize, Serialize};

/// A run's number in its registry: what `livelab runs` lists and `runs diff` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for RunId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<RunId, Self::Err> {
        s.trim_start_matches('#').parse().map(RunId)
    }
}

/// A finished trial (or merge) to record.
#[derive(Clone, Debug)]
pub struct NewRun<'a> {
    pub summary: &'a TrialSummary,
    /// Where its report.html and summary.json are.
    pub report_dir: String,
    /// The export's content hash ([`crate::export_sha256`]); `None` when it could not be read.
    pub records_sha256: Option<String>,
    /// When it was recorded (library code does not read the clock).
    pub recorded_at: Timestamp,
}

/// How a plugin's signature stood when it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureKind {
    Trusted,
    Unsigned,
    UntrustedKey,
    Invalid,
}

impl SignatureKind {
    pub const ALL: [SignatureKind; 4] = [
        SignatureKind::Trusted,
        SignatureKind::Unsigned,
        SignatureKind::UntrustedKey,
        SignatureKind::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignatureKind::Trusted => "trusted",
            SignatureKind::Unsigned => "unsigned",
            SignatureKind::UntrustedKey => "untrusted-key",
            SignatureKind::Invalid => "invalid",
        }
    }

    /// The kind and the signer it names (the trust policy's name, or the signer's claim).
    pub fn of(status: &SignatureStatus) -> (SignatureKind, Option<String>) {
        match status {
            SignatureStatus::Trusted { publisher, .. } => {
                (SignatureKind::Trusted, Some(publisher.clone()))
            }
            SignatureStatus::Unsigned => (SignatureKind::Unsigned, None),
            SignatureStatus::UntrustedKey {
                claimed_publisher, ..
            } => (SignatureKind::UntrustedKey, Some(claimed_publisher.clone())),
            SignatureStatus::Invalid { .. } => (SignatureKind::Invalid, None),
        }
    }

    pub(crate) fn parse(text: &str) -> Option<SignatureKind> {
        SignatureKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One plugin of a listed run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPlugin {
    pub plugin: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub signature: SignatureKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    pub pinned: bool,
}

/// A run as `livelab runs` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRow {
    pub id: RunId,
    pub trial: String,
    pub region: String,
    pub evaluation_date: Date,
    pub recorded_at: Timestamp,
    pub records_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_sha256: Option<String>,
    pub report_dir: String,
    /// `merged N shards` for a merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<String>,
    pub records_read: u64,
    pub records_evaluated: u64,
    pub record_errors: u64,
    pub plugins: Vec<RunPlugin>,
}

/// One run read back: its row and the summary exactly as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRun {
    pub row: RunRow,
    pub summary: TrialSummary,
}

/// Which runs to list; every field narrows, `None` lets all through. Dates are inclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub region: Option<String>,
    /// A plugin id that must be among the run's plugins.
    pub plugin: Option<String>,
    /// With `plugin`: that plugin's version; alone: any plugin at this version.
    pub version: Option<String>,
    pub from: Option<Date>,
    pub to: Option<Date>,
}

/// Which series to build: the runs of one region, one plugin, or all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeriesFilter {
    pub region: Option<String>,
    pub plugin: Option<String>,
}

/// What makes runs one series: the same region, plugin, topic and component. A component
/// with another SHA-256 starts another series: a new version is not drift.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeriesKey {
    pub region: String,
    pub plugin: String,
    pub topic: String,
    pub sha256: String,
}

/// A plugin's measures over successive runs of one region, ordered by evaluation date
/// (then by run id, for two exports of one day).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub key: SeriesKey,
    pub version: String,
    pub points: Vec<SeriesPoint>,
}

/// One run of a series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    pub run: RunId,
    pub trial: String,
    pub evaluation_date: Date,
    /// The plugin's 2×2 table against the labels in this run.
    pub confusion: Confusion,
    /// Labelled evaluations that failed (not in the table).
    pub label_errors: u64,
    /// The run's records by subgroup.
    #[serde(with = "subgroup_keys")]
    pub case_mix: BTreeMap<Subgroup, u64>,
}
