//! What to generate: [`CohortSpec`] and its parts (format, shape, mix), the labelled
//! [`TOPICS`], and [`CohortError`]. The bottom of the crate: it uses no other module.

use std::io;
use std::path::PathBuf;

use jiff::civil::Date;

/// The labelled topics, in `labels.csv` order.
pub const TOPICS: [&str; TOPIC_COUNT] = [
    "metformin-egfr",
    "af-anticoagulation",
    "home-bp",
    "nsaid-gastroprotection",
    "score2",
    "phq9",
];

/// The number of labelled topics ([`TOPICS`]).
pub const TOPIC_COUNT: usize = 6;

/// The cohort's manifest, written first (and the mark of a directory this generator wrote).
pub const MANIFEST: &str = "cohort.json";
/// The reference labels: `record,topic,expected`.
pub const LABELS: &str = "labels.csv";

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CohortSpec {
    pub seed: u64,
    pub patients: usize,
    /// The evaluation date: every date in the records is at or before it.
    pub as_of: Date,
    pub format: CohortFormat,
    pub shape: CohortShape,
    pub mix: CohortMix,
}

/// How the records are laid out on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CohortFormat {
    /// One FHIR Bundle per patient, `<patient-id>.json`.
    Bundles,
    /// FHIR Bulk Data NDJSON, one `<Type>.000.ndjson` file per resource type.
    Ndjson,
}

impl CohortFormat {
    pub(crate) fn name(self) -> &'static str {
        match self {
            CohortFormat::Bundles => "bundles",
            CohortFormat::Ndjson => "ndjson",
        }
    }
}

/// What each patient's records hold besides what the topics read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CohortShape {
    /// The patient's conditions, medications, labs, allergies and a few encounters, in
    /// `collection` Bundles.
    #[default]
    Plain,
    /// Synthea-like `transaction` Bundles (every entry a POST), padded with encounters, claims,
    /// explanations of benefit, reports, immunizations, procedures, care plans and teams,
    /// imaging studies and a provenance: a median of ~390 KB and ~215 resources per patient in
    /// the enriched mix, ~230 KB and ~125 in the realistic one. The ingest benchmark's input.
    Synthea,
}

impl CohortShape {
    /// The names `--shape` takes, in declaration order.
    pub const NAMES: [&'static str; 2] = ["plain", "synthea"];

    pub fn name(self) -> &'static str {
        match self {
            CohortShape::Plain => "plain",
            CohortShape::Synthea => "synthea",
        }
    }

    /// The shape named `name` (one of [`Self::NAMES`]).
    pub fn from_name(name: &str) -> Result<Self, CohortError> {
        match name {
            "plain" => Ok(CohortShape::Plain),
            "synthea" => Ok(CohortShape::Synthea),
            other => Err(CohortError::InvalidSpec(format!(
                "unknown shape {other:?} (expected plain or synthea)"
            ))),
        }
    }
}

/// How often the topics' conditions occur.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CohortMix {
    /// Many positives and threshold cases (~35 % on metformin, ~20 % with AF, ~25 % with a
    /// home blood-pressure series): measures sensitivity and edge handling on a small cohort.
    /// Alert rates and predictive values measured on it do not transfer to practice.
    #[default]
    Enriched,
    /// A Dutch GP list's ages and prevalences (type 2 diabetes ~6–7 % of adults, AF ~2 %,
    /// anticoagulation in ~80 % of AF patients with an indication, ...): alert rates and
    /// predictive values of the order a practice would see.
    Realistic,
}

impl CohortMix {
    /// The names `--mix` takes, in declaration order.
    pub const NAMES: [&'static str; 2] = ["enriched", "realistic"];

    pub fn name(self) -> &'static str {
        match self {
            CohortMix::Enriched => "enriched",
            CohortMix::Realistic => "realistic",
        }
    }

    /// The mix named `name` (one of [`Self::NAMES`]).
    pub fn from_name(name: &str) -> Result<Self, CohortError> {
        match name {
            "enriched" => Ok(CohortMix::Enriched),
            "realistic" => Ok(CohortMix::Realistic),
            other => Err(CohortError::InvalidSpec(format!(
                "unknown mix {other:?} (expected enriched or realistic)"
            ))),
        }
    }
}

/// Why a cohort could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CohortError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is not empty and holds no livelab-cohort {MANIFEST}; refusing to write a cohort there",
        path.display()
    )]
    NotACohortDir { path: PathBuf },
    #[error("invalid cohort spec: {0}")]
    InvalidSpec(String),
}
