//! `livelab-registry`: the run registry. Every `livelab trial` and `livelab merge` records
//! its run here (trial, region, evaluation date, the export and its content hash, each
//! plugin's identity, effectiveness per plugin, topic and subgroup, paired comparisons,
//! cost, case mix, errors by cause, and where the report is), so that runs can be listed,
//! compared and watched for drift over time.
//!
//! A registry is a SQLite file (the default: `registry.sqlite` in the platform's data
//! directory) or a PostgreSQL database that a region's machines share; both hold one
//! schema, migrated on open. See `docs/REGISTRY.md`.
//!
//! ```no_run
//! # async fn example() -> Result<(), livelab_registry::RegistryError> {
//! use livelab_registry::{Registry, RegistryUrl, RunFilter, SeriesFilter, drift};
//! let registry = Registry::open(&RegistryUrl::resolve(None)?).await?;
//! let runs = registry.list(&RunFilter { region: Some("Utrecht-West".into()), ..RunFilter::default() }).await?;
//! let first = registry.run(runs[0].id).await?; // the summary as recorded
//! for series in registry.series(&SeriesFilter::default()).await? {
//!     let judged = drift::watch(&series, &drift::DriftOptions::default());
//!     println!("{} {}: flagged {}", series.key.plugin, series.key.topic, judged.flagged());
//! }
//! # Ok(()) }
//! ```
//!
//! The API is async (tokio), for the dashboard's server; [`blocking::Registry`] wraps it
//! for the command line. [`diff`] and [`drift`] are pure functions over what the registry
//! returns.
//!
//! Modules in dependency order: `error`, `model`, `location`, `export`, `store`,
//! `blocking`, `diff`, `drift`.

mod error;
mod export;
mod location;
mod model;
mod store;

pub mod blocking;
pub mod diff;
pub mod drift;

pub use error::RegistryError;
pub use export::export_sha256;
pub use location::{REGISTRY_ENV, RegistryUrl};
pub use model::{
    NewRun, RunFilter, RunId, RunPlugin, RunRow, Series, SeriesFilter, SeriesKey, SeriesPoint,
    SignatureKind, StoredRun,
};
pub use store::Registry;
