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
/// A series' manifest, in the series directory beside its exports.
pub const SERIES_MANIFEST: &str = "series.json";
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

/// A series of monthly exports of one region: export `k` (1-based) is a fresh draw of the
/// region's list, current on `cohort.as_of` plus `k - 1` months, with a seed of its own derived
/// from `cohort.seed`; from export `drift.from` on, the drift changes what is drawn or how it is
/// written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesSpec {
    /// Seed, patients per export, first export's date, format, shape and mix.
    pub cohort: CohortSpec,
    pub exports: usize,
    /// `None`: a stable control series.
    pub drift: Option<Drift>,
}

/// A drift and the export it starts at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drift {
    pub kind: DriftKind,
    /// The first drifting export, 1-based (2 ≤ from ≤ exports: at least one export before it
    /// to compare with).
    pub from: usize,
}

impl Drift {
    /// `KIND[:FROM]` for a series of `exports`; FROM defaults to the middle export
    /// (`exports / 2 + 1`).
    pub fn parse(text: &str, exports: usize) -> Result<Self, CohortError> {
        let (kind, from) = match text.split_once(':') {
            Some((kind, from)) => {
                let from = from.parse::<usize>().map_err(|_| {
                    CohortError::InvalidSpec(format!(
                        "drift {text:?}: {from:?} is not an export number (expected KIND:FROM, e.g. egfr-unit:7)"
                    ))
                })?;
                (kind, from)
            }
            None => (text, exports / 2 + 1),
        };
        let drift = Drift {
            kind: DriftKind::from_name(kind)?,
            from,
        };
        drift.check(exports)?;
        Ok(drift)
    }

    /// Refuses a first drifting export outside 2..=`exports`.
    pub fn check(self, exports: usize) -> Result<(), CohortError> {
        if (2..=exports).contains(&self.from) {
            return Ok(());
        }
        Err(CohortError::InvalidSpec(format!(
            "drift {}:{}: the first drifting export must be between 2 and {exports} \
             (one stable export at least before the drift)",
            self.kind.name(),
            self.from
        )))
    }

    /// Whether export `number` (1-based) drifts.
    pub fn applies_to(self, number: usize) -> bool {
        number >= self.from
    }
}

/// What drifts. Labels always follow the patients' true state: a lab or coding change leaves
/// them as they were, which is what makes a plugin's sensitivity fall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriftKind {
    /// More patients meeting the `metformin-egfr` topic: two of every three patients without
    /// that label are left out of the draw (the enriched mix's ~9 % becomes ~23 %).
    Prevalence,
    /// Coding habits: a Dutch-coded patient's diagnoses are coded in SNOMED CT instead of
    /// ICPC, each with probability 7/10 (a practice system moving to SNOMED CT).
    Coding,
    /// The eGFR arrives in `mL/min` instead of `mL/min/{1.73_m2}` (its lab dropped the
    /// body-surface normalisation): a unit-checking reader withholds it.
    EgfrUnit,
    /// The eGFR arrives under a laboratory's local code only, no LOINC or NHG code.
    EgfrCode,
    /// An older list: two of every three patients under 65 are left out of the draw.
    Age,
}

impl DriftKind {
    /// The names `--drift` takes, in declaration order.
    pub const NAMES: [&'static str; 5] = ["prevalence", "coding", "egfr-unit", "egfr-code", "age"];

    pub fn name(self) -> &'static str {
        match self {
            DriftKind::Prevalence => "prevalence",
            DriftKind::Coding => "coding",
            DriftKind::EgfrUnit => "egfr-unit",
            DriftKind::EgfrCode => "egfr-code",
            DriftKind::Age => "age",
        }
    }

    /// The drift named `name` (one of [`Self::NAMES`]).
    pub fn from_name(name: &str) -> Result<Self, CohortError> {
        match name {
            "prevalence" => Ok(DriftKind::Prevalence),
            "coding" => Ok(DriftKind::Coding),
            "egfr-unit" => Ok(DriftKind::EgfrUnit),
            "egfr-code" => Ok(DriftKind::EgfrCode),
            "age" => Ok(DriftKind::Age),
            other => Err(CohortError::InvalidSpec(format!(
                "unknown drift {other:?} (expected one of {})",
                Self::NAMES.join(", ")
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
    #[error(
        "{} is not empty and holds no livelab-cohort {SERIES_MANIFEST}; refusing to write a series there",
        path.display()
    )]
    NotASeriesDir { path: PathBuf },
    #[error("invalid cohort spec: {0}")]
    InvalidSpec(String),
}
