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

pub use protocol::outcome::{IssueSeverity, IssueType, OperationOutcome};

/// What an HTTP router needs from an error to answer a CDS client.
///
/// Implemented by [`auth::AuthError`], [`protocol::RequestError`] and
/// [`protocol::ResponseError`], so that one generic function can turn any of them into a
/// response.
pub trait ErrorResponse: std::error::Error {
    /// The HTTP status to answer with.
    fn status(&self) -> u16;

    /// A stable, machine-readable code (lowercase, dashes), for metrics and logs. Codes are
    /// part of the API: they do not change when messages are reworded.
    fn code(&self) -> &'static str;

    /// The FHIR `IssueType` that best describes the error.
    fn issue_type(&self) -> IssueType;

    /// The body to send: a FHIR `OperationOutcome` whose diagnostics are this error's message
    /// and whose `details.coding` carries [`ErrorResponse::code`].
    fn operation_outcome(&self) -> serde_json::Value {
        OperationOutcome::new()
            .with_issue(
                IssueSeverity::Error,
                self.issue_type(),
                Some(self.to_string()),
                Some(self.code()),
            )
            .to_value()
    }
}

/// How many characters of client-supplied text an error message may quote.
pub const QUOTE_MAX_CHARS: usize = 64;

/// Renders client-supplied (possibly hostile) text for an error message or a log line.
///
/// Keeps at most `max_chars` characters; keeps printable ASCII except `\` and `"`, and writes
/// everything else (control characters, newlines, non-ASCII — including bidirectional
/// overrides that could disguise a log line) as a `\u{…}` escape; marks a cut with `…`. The
/// result is at most `10 * max_chars + 1` characters whatever the input, so a caller can quote
/// attacker-controlled values without letting them forge or flood logs.
pub fn untrusted_text(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    for ch in chars.by_ref().take(max_chars) {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            ' '..='~' => out.push(ch),
            other => out.push_str(&format!("\\u{{{:x}}}", other as u32)),
        }
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// [`untrusted_text`] with the default bound, [`QUOTE_MAX_CHARS`].
pub(crate) fn quote(text: &str) -> String {
    untrusted_text(text, QUOTE_MAX_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_escapes_and_bounds() {
        let cases: &[(&str, usize, &str)] = &[
            ("plain", 64, "plain"),
            ("", 64, ""),
            ("a\nb", 64, "a\\u{a}b"),
            ("quote\"back\\", 64, "quote\\\"back\\\\"),
            ("\u{202e}evil", 64, "\\u{202e}evil"),
            ("é", 64, "\\u{e9}"),
            ("abcdef", 3, "abc…"),
            ("abc", 3, "abc"),
        ];
        for (input, max, want) in cases {
            assert_eq!(untrusted_text(input, *max), *want, "input {input:?}");
        }
    }

    #[test]
    fn untrusted_text_output_is_bounded_for_any_input() {
        let hostile: String = std::iter::repeat_n('\u{10ffff}', 100_000).collect();
        let shown = untrusted_text(&hostile, QUOTE_MAX_CHARS);
        assert!(shown.chars().count() <= 10 * QUOTE_MAX_CHARS + 1);
    }
}
