//! livelab's host: a wasmtime sandbox that evaluates clinical decision-support plugins
//! (WebAssembly components, WIT package `livelab:cds`) on anonymised FHIR records and
//! measures what they say and what it costs. See `docs/ARCHITECTURE.md`.
//!
//! The modules in dependency order (each uses only those above it):
//! - [`digest`]: SHA-256 and hex, the one encoder of hashes;
//! - [`text`]: plugin-controlled text made harmless (hidden characters refused or escaped);
//! - [`wit`]: the plugin contract's types (the one `bindgen!`);
//! - [`sandbox`]: the engine, limits and per-evaluation store;
//! - [`package`]: plugin packages: manifests, signatures, trust policies, writing packages;
//! - [`ingest`]: FHIR exports to records: reader, terminology, units, minimisation;
//! - [`anonymise`]: pseudonymised copies of identified exports;
//! - [`plugin`]: loading a verified plugin and evaluating one record;
//! - [`run`]: a plan, every plugin on every record, the outcome writers and the run summary;
//! - [`trial`]: trial files, labels, effectiveness and its statistics, the trial summary.

pub mod digest;
pub mod text;
pub mod wit;

pub mod sandbox;

pub mod package;

pub mod ingest;

pub mod anonymise;
pub mod plugin;

pub mod run;

pub mod trial;

pub use ingest::record::{Record, SourceLocation};
pub use ingest::{IngestStats, RecordError, RecordReader, SourceError, Unit};
pub use plugin::cache::ArtifactCache;
pub use plugin::{EvaluationContext, Failure, Fuel, LoadError, LoadOptions, Outcome, Plugin};
pub use sandbox::{Limits, Sandbox, SandboxConfig};
