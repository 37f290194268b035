//! livelab's integration tests: one binary, one module per topic. They drive the real
//! `livelab` CLI (or the library) with the real plugin components: the samples `build.rs` built
//! and the test guests `crates/test-programs` built.
//!
//! Golden files live in `tests/expected/`; run with `LIVELAB_BLESS=1` to rewrite them after
//! an intended change, then review the diff.

mod browser;
mod support;

mod anonymise;
mod authoring;
mod dashboard;
mod determinism;
mod export_recovery;
mod hostile;
mod ingest;
mod input_errors;
mod languages;
mod layout;
mod library;
mod minimisation;
mod registry;
mod report;
mod sample_run;
mod sandbox;
mod scale;
mod scale_out;
mod serve;
mod supply_chain;
mod trial;
mod units_and_coverage;
