//! CDS Hooks 2.0 wire types and the checks of what clients send.
//!
//! Input types (the service request, feedback) tolerate fields they do not know: clients send
//! `extension` objects and newer fields, and refusing them would break interop for no safety
//! gain. The caller bounds the body's size ([`Limits`]); the parse functions check that bound
//! again so a router that forgets cannot be flooded. Output types (discovery, cards) omit
//! absent optional fields instead of writing `null` or `[]`, which the spec prohibits.
//!
//! The modules, each importing only from those before it (this file only re-exports them):
//!
//! - `hook`: [`Hook`], the hooks this service understands.
//! - `limits`: [`Limits`] and [`is_fhir_id`], bounds and formats of what a client sends.
//! - [`outcome`]: FHIR `OperationOutcome` and [`crate::ErrorResponse`].
//! - `error`: the typed refusals — [`RequestError`] (with [`PrefetchGap`]), and
//!   [`ResponseError`] (with [`CardError`]) for a response that would break the spec.
//! - `template`: [`validate_template`], what CDS Hooks 2.0.1 allows in a prefetch template.
//! - `response`: [`CdsResponse`], cards and system actions.
//! - `discovery`: [`DiscoveryResponse`] and [`ServiceDescriptor`].
//! - `request`: [`ServiceRequest`] and its typed [`HookContext`].
//! - `feedback`: [`FeedbackRequest`].

mod discovery;
mod error;
mod feedback;
mod hook;
mod limits;
pub mod outcome;
mod request;
mod response;
mod template;

pub use discovery::{DescriptorError, DiscoveryResponse, ServiceDescriptor};
pub use error::{CardError, GapReason, PrefetchGap, RequestError, ResponseError};
pub use feedback::{
    AcceptedSuggestion, Feedback, FeedbackOutcome, FeedbackRequest, OverrideReason,
};
pub use hook::Hook;
pub use limits::{Limits, is_fhir_id};
pub use request::{
    FhirAuthorization, HookContext, OrderSelectContext, OrderSignContext, PatientViewContext,
    ServiceRequest,
};
pub use response::{
    Action, ActionType, Card, CdsResponse, Coding, Indicator, Link, LinkType, SUMMARY_MAX_CHARS,
    SelectionBehavior, Source, Suggestion,
};
pub use template::{TemplateError, validate_template};
