//! `livelab serve`: every plugin of a trial as a CDS Hooks 2.0 service (issue 14), with the
//! packages, pins, trust policy, limits, terminology, identifier handling and decision log of
//! a batch trial. The protocol and the client-JWT check are `livelab-cds-hooks`; loading,
//! ingest and evaluation are `livelab-host`; this crate wires them to axum on tokio.
//!
//! The modules, each importing only from those before it (this file only declares and
//! re-exports):
//!
//! - `convert`: host types ↔ the wire (data needs, cards with UUIDs, the Patient reduced to
//!   what a record needs).
//! - `feedback`: the cards issued (bounded, by uuid) and `feedback.jsonl`, written and counted
//!   back for a live trial.
//! - `metrics`: the counters and their Prometheus text exposition.
//! - `session`: [`Session`], the trial's plugins, services, pseudonym key and decision log;
//!   one checked call → record → evaluation → cards.
//! - `router`: the routes, authentication, CORS, errors as `OperationOutcome`s, the
//!   request deadline and the concurrency bound.
//! - `server`: [`serve`], the runtime, the listener and a graceful shutdown.

mod convert;
mod feedback;
mod metrics;
mod router;
mod server;
mod session;

pub use convert::PATIENT_FIELDS;
pub use feedback::{FEEDBACK_SCHEMA, FeedbackReadError, ISSUED_CARDS_MAX, tally as tally_feedback};
pub use router::AUTH_DISABLED_HEADER;
pub use server::{AuthMode, DEFAULT_REQUEST_DEADLINE_MS, ServeError, ServeOptions, serve};
pub use session::{
    FEEDBACK_FILE, KeySource, PLUGIN_DEADLINE_MARGIN_MS, Session, SessionError, SessionOptions,
};
