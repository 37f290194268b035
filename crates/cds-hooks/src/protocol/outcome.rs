//! FHIR R4 `OperationOutcome`: the body of an error answer.
//!
//! CDS Hooks 2.0 lets a service answer 4xx/5xx without saying what the body holds; the 3.0
//! draft recommends an `OperationOutcome`, and CDS clients already parse them (they use them in
//! prefetch too). Built here rather than with a FHIR model crate: errors need four fields.
//!
//! [`ErrorResponse`], the trait every error a router may answer with implements, lives here
//! too: its body is an `OperationOutcome`. A leaf module: it imports nothing of this crate.

use serde_json::{Value, json};

/// The code system of the machine-readable error codes livelab puts in
/// `issue.details.coding` (see [`ErrorResponse::code`]).
pub const ERROR_CODE_SYSTEM: &str = "urn:livelab:cds-hooks:error";

/// FHIR `IssueSeverity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueSeverity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl IssueSeverity {
    /// The FHIR code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fatal => "fatal",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Information => "information",
        }
    }
}

/// The FHIR `IssueType` codes livelab uses (a subset of the value set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueType {
    /// Content invalid against the specification.
    Invalid,
    /// A structural issue: not JSON, or not the expected shape.
    Structure,
    /// A required element is missing.
    Required,
    /// An element's value is wrong.
    Value,
    /// An authentication or authorisation problem.
    Security,
    /// The client needs to authenticate.
    Login,
    /// The credentials have expired.
    Expired,
    /// The thing asked for does not exist.
    NotFound,
    /// The content is too long.
    TooLong,
    /// Something the client did not or could not supply (the spec's 412).
    Incomplete,
    /// The request is not supported (e.g. a hook the service does not serve).
    NotSupported,
    /// A temporary problem; trying again later may work.
    Transient,
    /// An internal error.
    Exception,
}

impl IssueType {
    /// The FHIR code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::Structure => "structure",
            Self::Required => "required",
            Self::Value => "value",
            Self::Security => "security",
            Self::Login => "login",
            Self::Expired => "expired",
            Self::NotFound => "not-found",
            Self::TooLong => "too-long",
            Self::Incomplete => "incomplete",
            Self::NotSupported => "not-supported",
            Self::Transient => "transient",
            Self::Exception => "exception",
        }
    }
}

/// One `OperationOutcome.issue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeIssue {
    pub severity: IssueSeverity,
    pub code: IssueType,
    /// Human-readable text (`issue.diagnostics`).
    pub diagnostics: Option<String>,
    /// livelab's machine-readable error code (`issue.details.coding`, system
    /// [`ERROR_CODE_SYSTEM`]).
    pub error_code: Option<String>,
}

/// A FHIR `OperationOutcome` under construction.
///
/// ```
/// use livelab_cds_hooks::{IssueSeverity, IssueType, OperationOutcome};
/// let body = OperationOutcome::new()
///     .with_issue(IssueSeverity::Error, IssueType::NotFound, Some("no such service".into()), None)
///     .to_value();
/// assert_eq!(body["resourceType"], "OperationOutcome");
/// assert_eq!(body["issue"][0]["code"], "not-found");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperationOutcome {
    pub issues: Vec<OutcomeIssue>,
}

impl OperationOutcome {
    pub fn new() -> Self {
        Self::default()
    }

    /// An outcome with one `error` issue.
    pub fn error(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Self::new().with_issue(IssueSeverity::Error, code, Some(diagnostics.into()), None)
    }

    /// Adds an issue.
    pub fn with_issue(
        mut self,
        severity: IssueSeverity,
        code: IssueType,
        diagnostics: Option<String>,
        error_code: Option<&str>,
    ) -> Self {
        self.issues.push(OutcomeIssue {
            severity,
            code,
            diagnostics,
            error_code: error_code.map(str::to_owned),
        });
        self
    }

    /// The FHIR JSON. An outcome without issues gets one `information` issue, because FHIR
    /// requires at least one.
    pub fn to_value(&self) -> Value {
        let issues: Vec<Value> = if self.issues.is_empty() {
            vec![json!({"severity": "information", "code": "informational"})]
        } else {
            self.issues.iter().map(issue_json).collect()
        };
        json!({"resourceType": "OperationOutcome", "issue": issues})
    }
}

fn issue_json(issue: &OutcomeIssue) -> Value {
    let mut out = json!({
        "severity": issue.severity.as_str(),
        "code": issue.code.as_str(),
    });
    if let Some(code) = &issue.error_code {
        out["details"] = json!({"coding": [{"system": ERROR_CODE_SYSTEM, "code": code}]});
    }
    if let Some(diagnostics) = &issue.diagnostics {
        out["diagnostics"] = Value::String(diagnostics.clone());
    }
    out
}

/// What an HTTP router needs from an error to answer a CDS client.
///
/// Implemented by [`crate::auth::AuthError`], [`crate::protocol::RequestError`] and
/// [`crate::protocol::ResponseError`], so that one generic function can turn any of them into a
/// response.
pub trait ErrorResponse: std::error::Error {
    /// The HTTP status to answer with.
    fn status(&self) -> u16;

    /// A stable, machine-readable code (lowercase, dashes), for metrics and logs. Codes are
    /// part of the API: they do not change when messages are reworded.
    fn code(&self) -> &'static str;

    /// The FHIR `IssueType` that best describes the error.
    fn issue_type(&self) -> IssueType;

    /// The text the client is told: this error's message, unless an error whose message
    /// names something of the server's (a path) says less.
    fn diagnostics(&self) -> String {
        self.to_string()
    }

    /// The body to send: a FHIR `OperationOutcome` whose diagnostics are
    /// [`ErrorResponse::diagnostics`] and whose `details.coding` carries [`ErrorResponse::code`].
    fn operation_outcome(&self) -> Value {
        OperationOutcome::new()
            .with_issue(
                IssueSeverity::Error,
                self.issue_type(),
                Some(self.diagnostics()),
                Some(self.code()),
            )
            .to_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_fhir_json() {
        let value = OperationOutcome::new()
            .with_issue(
                IssueSeverity::Error,
                IssueType::Incomplete,
                Some("prefetch key `patient` missing".into()),
                Some("missing-prefetch"),
            )
            .with_issue(IssueSeverity::Warning, IssueType::Value, None, None)
            .to_value();
        assert_eq!(
            value,
            json!({
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "error",
                        "code": "incomplete",
                        "details": {"coding": [{"system": ERROR_CODE_SYSTEM, "code": "missing-prefetch"}]},
                        "diagnostics": "prefetch key `patient` missing"
                    },
                    {"severity": "warning", "code": "value"}
                ]
            })
        );
    }

    #[test]
    fn empty_outcome_still_has_an_issue() {
        let value = OperationOutcome::new().to_value();
        assert_eq!(value["issue"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            OperationOutcome::error(IssueType::Exception, "x")
                .issues
                .len(),
            1
        );
    }
}
