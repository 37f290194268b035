//! livelab's host: a wasmtime sandbox that evaluates clinical decision-support plugins
//! (WebAssembly components, WIT package `livelab:cds`) on anonymised FHIR records and
//! measures what they say and what it costs. See `docs/ARCHITECTURE.md`.

pub mod anonymise;
mod bindings;
pub mod cache;
pub mod cohort;
pub mod decision_log;
pub mod effectiveness;
pub mod fhir;
pub mod manifest;
pub mod plugin;
pub mod record;
pub mod run;
pub mod sandbox;
pub mod signing;
pub mod stats;
pub mod terminology;
pub mod trial;
pub mod units;
pub mod wit;

pub use cache::ArtifactCache;
pub use fhir::{IngestStats, RecordError, RecordReader, SourceError};
pub use plugin::{EvaluationContext, Failure, LoadError, LoadOptions, Outcome, Plugin};
pub use record::{Record, SourceLocation};
pub use sandbox::{Limits, Sandbox, SandboxConfig};
