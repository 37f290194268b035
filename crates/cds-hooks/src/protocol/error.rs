//! The typed refusals of requests, and of responses that would break the spec.

use super::hook::Hook;
use super::outcome::{ErrorResponse, IssueType};

/// Why a prefetch key cannot be used (see [`RequestError::PrefetchUnavailable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapReason {
    /// The client did not send the key: it could not or chose not to satisfy the template.
    Missing,
    /// The client sent an `OperationOutcome` in place of the data: its query failed.
    ClientError,
    /// The client sent the first page of a paginated search (a `next` link): the rest would
    /// need FHIR access.
    Paginated,
}

impl GapReason {
    fn describe(self) -> &'static str {
        match self {
            GapReason::Missing => "not sent",
            GapReason::ClientError => "the client's query failed",
            GapReason::Paginated => "only the first page was sent",
        }
    }
}

/// One prefetch template whose data the request lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefetchGap {
    /// The prefetch key (one of the service's own template keys, never client text).
    pub key: String,
    pub reason: GapReason,
}

/// Why a request to the discovery, service or feedback endpoint is refused.
///
/// Fields holding client-supplied text are already cut and escaped
/// ([`crate::untrusted_text`]); field names and prefetch keys are the service's own.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the request body is {size} bytes, more than the {max} this service accepts")]
    BodyTooLarge { size: usize, max: usize },

    #[error("the request body is not valid JSON of the expected shape: {detail}")]
    MalformedJson { detail: String },

    #[error("there is no CDS service with id \"{id}\"")]
    UnknownService { id: String },

    #[error("hook \"{hook}\" is not one this service understands")]
    UnsupportedHook { hook: String },

    #[error("this service is invoked on {expected}, not {got}")]
    WrongHook { expected: Hook, got: Hook },

    #[error("the request lacks `{field}`")]
    MissingField { field: &'static str },

    #[error("`{field}` is invalid: {reason}")]
    InvalidField {
        field: &'static str,
        reason: &'static str,
    },

    #[error("`fhirServer` is required when `fhirAuthorization` is sent")]
    FhirServerRequired,

    #[error("{}", describe_gaps(.gaps))]
    PrefetchUnavailable { gaps: Vec<PrefetchGap> },

    #[error("prefetch `{key}` is invalid: {reason}")]
    InvalidPrefetch { key: String, reason: &'static str },

    #[error("prefetch `{key}` holds data of a different patient than `context.patientId`")]
    PrefetchPatientMismatch { key: String },

    #[error("feedback item {index} is invalid: {reason}")]
    InvalidFeedback { index: usize, reason: &'static str },
}

fn describe_gaps(gaps: &[PrefetchGap]) -> String {
    let listed: Vec<String> = gaps
        .iter()
        .map(|gap| format!("`{}` ({})", gap.key, gap.reason.describe()))
        .collect();
    format!(
        "the request lacks prefetched data this service needs and cannot fetch itself: {}",
        listed.join(", ")
    )
}

impl ErrorResponse for RequestError {
    fn status(&self) -> u16 {
        match self {
            RequestError::BodyTooLarge { .. } => 413,
            RequestError::UnknownService { .. } => 404,
            RequestError::PrefetchUnavailable { .. } => 412,
            RequestError::MalformedJson { .. }
            | RequestError::UnsupportedHook { .. }
            | RequestError::WrongHook { .. }
            | RequestError::MissingField { .. }
            | RequestError::InvalidField { .. }
            | RequestError::FhirServerRequired
            | RequestError::InvalidPrefetch { .. }
            | RequestError::PrefetchPatientMismatch { .. }
            | RequestError::InvalidFeedback { .. } => 400,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            RequestError::BodyTooLarge { .. } => "body-too-large",
            RequestError::MalformedJson { .. } => "malformed-json",
            RequestError::UnknownService { .. } => "unknown-service",
            RequestError::UnsupportedHook { .. } => "unsupported-hook",
            RequestError::WrongHook { .. } => "wrong-hook",
            RequestError::MissingField { .. } => "missing-field",
            RequestError::InvalidField { .. } => "invalid-field",
            RequestError::FhirServerRequired => "fhir-server-required",
            RequestError::PrefetchUnavailable { .. } => "missing-prefetch",
            RequestError::InvalidPrefetch { .. } => "invalid-prefetch",
            RequestError::PrefetchPatientMismatch { .. } => "prefetch-patient-mismatch",
            RequestError::InvalidFeedback { .. } => "invalid-feedback",
        }
    }

    fn issue_type(&self) -> IssueType {
        match self {
            RequestError::BodyTooLarge { .. } => IssueType::TooLong,
            RequestError::MalformedJson { .. } => IssueType::Structure,
            RequestError::UnknownService { .. } => IssueType::NotFound,
            RequestError::UnsupportedHook { .. } => IssueType::NotSupported,
            RequestError::MissingField { .. } | RequestError::FhirServerRequired => {
                IssueType::Required
            }
            RequestError::InvalidField { .. } => IssueType::Value,
            RequestError::PrefetchUnavailable { .. } => IssueType::Incomplete,
            RequestError::WrongHook { .. }
            | RequestError::InvalidPrefetch { .. }
            | RequestError::PrefetchPatientMismatch { .. }
            | RequestError::InvalidFeedback { .. } => IssueType::Invalid,
        }
    }
}

/// Why a card breaks the spec. Reasons are fixed strings: the card is livelab's own output.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("the summary is empty")]
    EmptySummary,
    #[error("the summary has {chars} characters; the spec allows fewer than 140")]
    SummaryTooLong { chars: usize },
    #[error("the uuid is empty (omit it instead)")]
    EmptyUuid,
    #[error("the detail is empty (omit it instead)")]
    EmptyDetail,
    #[error("source: {0}")]
    Source(&'static str),
    #[error("a card with suggestions needs a selectionBehavior")]
    MissingSelectionBehavior,
    #[error("selectionBehavior at-most-one allows one recommended suggestion, not {count}")]
    TooManyRecommended { count: usize },
    #[error("suggestion {index}: {reason}")]
    Suggestion { index: usize, reason: &'static str },
    #[error("suggestion {suggestion}, action {index}: {reason}")]
    Action {
        suggestion: usize,
        index: usize,
        reason: &'static str,
    },
    #[error("override reason {index}: {reason}")]
    OverrideReason { index: usize, reason: &'static str },
    #[error("link {index}: {reason}")]
    Link { index: usize, reason: &'static str },
}

/// A response livelab was about to send that breaks the spec: a bug on the service side (a
/// plugin's card that slipped past the host's checks), answered with 500 rather than sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("card {index}: {source}")]
    Card { index: usize, source: CardError },

    #[error("system action {index}: {reason}")]
    SystemAction { index: usize, reason: &'static str },
}

impl ErrorResponse for ResponseError {
    fn status(&self) -> u16 {
        500
    }

    fn code(&self) -> &'static str {
        match self {
            ResponseError::Card { .. } => "invalid-card",
            ResponseError::SystemAction { .. } => "invalid-system-action",
        }
    }

    fn issue_type(&self) -> IssueType {
        IssueType::Exception
    }
}
