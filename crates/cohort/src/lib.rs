//! Seeded, reproducible generator of synthetic, anonymised patients as FHIR R4 JSON, with
//! reference labels from the generator's own ground truth.
//!
//! Each patient's latent state is decided first, then the FHIR resources that express it, then
//! one label per topic in [`TOPICS`], computed from the generator's own items by the rule text of
//! each topic (never by plugin code). Thresholds follow `docs/CLINICAL_REFERENCE.md` (rules
//! 1–6): metformin/eGFR dose limits (NHG/KNMP), CHA2DS2-VASc with ESC 2020 anticoagulation
//! thresholds, the ESC/ESH home blood-pressure threshold of 135/85 mmHg, NSAID gastroprotection
//! (CBO/NHG), SCORE2 (ESC 2021, low-risk region) and PHQ-9 (`guideline_topics.rs`).
//!
//! - **Labels follow the recorded data.** A lab value in the record is the latent truth plus
//!   measurement scatter, in the patient's reporting unit (`measure.rs`); the label is what the
//!   guideline rule gives on the values a clinician sees, the most recent one deciding. Refuted
//!   and entered-in-error items are written but never count. Labels do not depend on the code
//!   system (ICPC, SNOMED CT, ATC, RxNorm): a clinician's judgement does not.
//! - **Two mixes** ([`CohortMix`]): `enriched` (many positives and threshold cases; the shipped
//!   sample) and `realistic` (a Dutch GP list's ages and prevalences; see `realistic.rs` for the
//!   sources and assumptions).
//! - **Two shapes** ([`CohortShape`]): `plain` records, or `synthea`-like transaction Bundles
//!   padded with the resources a plugin never needs (`synthea.rs`).
//! - **Real-export shapes** on a fraction of the items in every mix and shape: Medication
//!   resources by reference or `contained`, MedicationStatements, Observations timed by
//!   `effectivePeriod` or only `issued`, comparators, conditions unverified, refuted or entered
//!   in error, SNOMED CT-coded hospital-letter diagnoses in Dutch records, US units for
//!   US-coded records, extensions (`fhir.rs`).
//!
//! Output is streamed one patient at a time (memory does not grow with the cohort size) and is a
//! pure function of the [`CohortSpec`]: same spec, byte-identical files. Patients carry no direct
//! identifiers (no name, identifier, telecom or address) and only a birth year.
//!
//! The crate depends on no other livelab crate; the `livelab` binary (`livelab generate`, the
//! ingest bench) uses it, the host library does not. Modules in dependency order, each importing only modules to its left (no
//! module imports from one that imports it back; the mixes are `Builder` methods that only
//! `generator` calls):
//!
//! ```text
//! spec ← codes ← patient ← measure ← scenario ← enriched ← realistic ← guideline_topics ← generator ← drift ← fhir ← synthea ← write ← series ← lib
//! ```
//!
//! - `spec`: [`CohortSpec`] and its parts, [`TOPICS`], [`CohortError`].
//! - `codes`: the code tables. `patient`: the patient data model and the age rule.
//! - `measure`: measurement scatter and reporting units.
//! - `scenario`: the reference labels (the rule text) and the `Builder` primitives every mix
//!   uses; `enriched`, `realistic`, `guideline_topics`: what each mix builds.
//! - `generator`: one patient from (seed, index, as_of, mix), and the pseudonyms.
//! - `fhir`: every FHIR resource written, and the plain rendering; `synthea`: the Synthea
//!   shape's padding.
//! - `drift`: what a series' drift keeps and alters in one export.
//! - `write`: [`write_cohort`]; `series`: [`write_series`], monthly exports of one region
//!   with a drift from a chosen export on ([`SeriesSpec`], [`Drift`], [`DriftKind`]). `lib`
//!   declares the modules and re-exports the public API.
//!
//! The tests' re-reader (`reread`, test-only) imports nothing from the crate: it reads the
//! written JSON back with `serde_json::Value` and recomputes every label on its own.

mod codes;
mod drift;
mod enriched;
mod fhir;
mod generator;
mod guideline_topics;
mod measure;
mod patient;
mod realistic;
mod scenario;
mod series;
mod spec;
mod synthea;
mod write;

pub use series::{SeriesExport, SeriesSummary, write_series};
pub use spec::{
    CohortError, CohortFormat, CohortMix, CohortShape, CohortSpec, Drift, DriftKind, SeriesSpec,
    TOPICS,
};
pub use write::{CohortSummary, write_cohort};

#[cfg(test)]
mod reread;
#[cfg(test)]
mod tests;
