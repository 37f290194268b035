//! The protocol-and-security half of `livelab serve`: a CDS Hooks 2.0 service.
//!
//! This crate knows nothing about plugins or the wasmtime host on purpose: it turns what a CDS
//! client sends into checked, typed values (or typed refusals), and what livelab answers into
//! spec-shaped JSON. The HTTP router (axum, later) only moves bytes and status codes.
//!
//! - [`auth`]: the client's `Authorization: Bearer <JWT>` — algorithm allowlist, issuer
//!   allowlist with JWK Sets loaded from files, audience, lifetime and a bounded `jti` replay
//!   cache.
//! - [`protocol`]: the discovery document, the service request (with a typed hook context),
//!   the response and its cards, feedback, and FHIR `OperationOutcome` for errors.
//! - [`prefetch`]: prefetch templates derived from a plugin's declared data needs, and the
//!   check of what a client prefetched against them (the spec's 412).
//! - `text` (private; [`untrusted_text`] is re-exported here): client-supplied text cut and
//!   escaped for messages and logs.
//!
//! No module imports from one that imports it back: `text` and `protocol` come first (the
//! protocol's own modules in the order its docs list), then `prefetch` (which uses
//! `protocol`) and `auth` (which uses `text` and `protocol::outcome`). This file only declares
//! and re-exports; nothing imports from it but tests.
//!
//! Every error a router may answer with implements [`ErrorResponse`]: an HTTP status, a stable
//! machine-readable code for metrics, and an `OperationOutcome` body. Messages never echo
//! client-supplied text unbounded: such text is cut and escaped first (see
//! [`untrusted_text`]).
//!
//! Spec: HL7 CDS Hooks 2.0.1 (`cds-hooks.hl7.org/2.0`), with the hook definitions of the CDS
//! Hooks library for `patient-view`, `order-select` and `order-sign`.

pub mod auth;
pub mod prefetch;
pub mod protocol;
mod text;

pub use protocol::outcome::{ErrorResponse, IssueSeverity, IssueType, OperationOutcome};
pub use text::{QUOTE_MAX_CHARS, untrusted_text};
