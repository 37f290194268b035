//! `POST {base}/cds-services/{id}/feedback`: what the user did with livelab's cards.
//!
//! For livelab feedback is trial data (was the advice followed?), so the parse is strict
//! about what makes an item meaningful (which card, what outcome, when) and tolerant of
//! extensions.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::RequestError;
use super::limits::Limits;
use super::request::parse_object;
use super::response::Coding;
use crate::text::untrusted_text;

/// `{"feedback": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRequest {
    pub feedback: Vec<Feedback>,
}

/// The outcome of one card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Feedback {
    /// The card's `uuid`.
    pub card: String,
    pub outcome: FeedbackOutcome,
    /// Required (non-empty) when `outcome` is `accepted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_suggestions: Vec<AcceptedSuggestion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<OverrideReason>,
    /// RFC 3339 date-time; see [`Feedback::outcome_time`].
    pub outcome_timestamp: String,
    /// Fields this crate does not know (e.g. `extension`); tolerated.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// What the user did. Ignored cards produce no feedback at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackOutcome {
    Accepted,
    Overridden,
}

/// One accepted suggestion, by the suggestion's `uuid`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedSuggestion {
    pub id: String,
}

/// Why the user overrode a card: a reason the card offered, a comment, or both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideReason {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Coding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_comment: Option<String>,
}

impl FeedbackRequest {
    /// Parses and checks a feedback body: size (413), shape (400), then per item a card id,
    /// accepted suggestions when accepted, a non-empty override reason when given, and an RFC
    /// 3339 `outcomeTimestamp` (400, naming the item's index).
    ///
    /// Whether the card ids are ones livelab issued is the caller's business: it holds the
    /// issued cards.
    pub fn parse(body: &[u8], limits: &Limits) -> Result<FeedbackRequest, RequestError> {
        let map = parse_object(body, limits)?;
        let request: FeedbackRequest =
            serde_json::from_value(Value::Object(map)).map_err(|error| {
                RequestError::MalformedJson {
                    detail: untrusted_text(&error.to_string(), 200),
                }
            })?;
        if request.feedback.is_empty() {
            return Err(RequestError::InvalidField {
                field: "feedback",
                reason: "must be a non-empty array",
            });
        }
        for (index, item) in request.feedback.iter().enumerate() {
            item.check()
                .map_err(|reason| RequestError::InvalidFeedback { index, reason })?;
        }
        Ok(request)
    }
}

impl Feedback {
    fn check(&self) -> Result<(), &'static str> {
        if self.card.is_empty() {
            return Err("`card` is empty");
        }
        if self.outcome == FeedbackOutcome::Accepted && self.accepted_suggestions.is_empty() {
            return Err("an accepted outcome needs `acceptedSuggestions`");
        }
        if self.accepted_suggestions.iter().any(|s| s.id.is_empty()) {
            return Err("an accepted suggestion has an empty `id`");
        }
        if let Some(reason) = &self.override_reason {
            let has_reason = reason.reason.as_ref().is_some_and(|c| !c.code.is_empty());
            let has_comment = reason
                .user_comment
                .as_deref()
                .is_some_and(|c| !c.is_empty());
            if !has_reason && !has_comment {
                return Err("`overrideReason` has neither a reason code nor a comment");
            }
        }
        if self.outcome_time().is_none() {
            return Err("`outcomeTimestamp` is not an RFC 3339 date-time");
        }
        Ok(())
    }

    /// The `outcomeTimestamp` as an instant. The spec asks for UTC; other offsets are
    /// accepted and converted, since the instant is what matters. `None` only for a value that
    /// did not come through [`FeedbackRequest::parse`].
    pub fn outcome_time(&self) -> Option<jiff::Timestamp> {
        self.outcome_timestamp.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorResponse;

    fn parse(value: &Value) -> Result<FeedbackRequest, RequestError> {
        FeedbackRequest::parse(value.to_string().as_bytes(), &Limits::default())
    }

    #[test]
    fn the_spec_examples_parse() {
        let examples = [
            json!({"feedback": [{
                "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
                "outcomeTimestamp": "2021-12-11T10:05:31Z"
            }]}),
            json!({"feedback": [{
                "card": "f6b95768-b1c8-40dc-8385-bf3504b82ffb",
                "outcome": "overridden",
                "outcomeTimestamp": "2020-12-11T00:00:00Z"
            }]}),
            json!({"feedback": [{
                "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"code": "d7ecf885", "system": "https://example.com/cds-hooks/override-reason-system"},
                    "userComment": "A comment entered by the clinician."
                },
                "outcomeTimestamp": "2020-12-11T00:00:00Z",
                "extension": {"com.example": 1}
            }]}),
        ];
        for example in examples {
            let parsed = parse(&example);
            let Ok(parsed) = parsed else {
                panic!("{example}: {parsed:?}");
            };
            assert_eq!(serde_json::to_value(&parsed).ok(), Some(example));
        }
    }

    #[test]
    fn timestamps() {
        let item = |ts: &str| Feedback {
            card: "c".into(),
            outcome: FeedbackOutcome::Overridden,
            accepted_suggestions: vec![],
            override_reason: None,
            outcome_timestamp: ts.into(),
            extensions: Map::new(),
        };
        let at = |ts: &str| item(ts).outcome_time().map(|t| t.as_second());
        assert_eq!(at("1985-04-12T23:20:50.52Z"), Some(482196050));
        assert_eq!(at("1985-04-12T23:20:50Z"), at("1985-04-13T01:20:50+02:00"));
        assert_eq!(at("1985-04-12"), None);
        assert_eq!(at("yesterday"), None);
    }

    #[test]
    fn refusals() {
        let base = || {
            json!({
                "card": "c1",
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "s1"}],
                "outcomeTimestamp": "2024-01-01T00:00:00Z"
            })
        };
        type Mutation = fn(&mut Value);
        #[rustfmt::skip]
        let cases: Vec<(&str, Mutation, &str)> = vec![
            ("empty card", |v| v["card"] = json!(""), "invalid-feedback"),
            ("no card", |v| { v.as_object_mut().map(|m| m.remove("card")); }, "malformed-json"),
            ("ignored outcome", |v| v["outcome"] = json!("ignored"), "malformed-json"),
            ("accepted without suggestions", |v| { v.as_object_mut().map(|m| m.remove("acceptedSuggestions")); }, "invalid-feedback"),
            ("empty suggestion id", |v| v["acceptedSuggestions"] = json!([{"id": ""}]), "invalid-feedback"),
            ("empty override reason", |v| { v["outcome"] = json!("overridden"); v["overrideReason"] = json!({}); }, "invalid-feedback"),
            ("bad timestamp", |v| v["outcomeTimestamp"] = json!("last tuesday"), "invalid-feedback"),
        ];
        for (name, mutate, code) in cases {
            let mut item = base();
            mutate(&mut item);
            let got = parse(&json!({"feedback": [item]}));
            assert_eq!(
                got.as_ref().err().map(ErrorResponse::code),
                Some(code),
                "{name}: {got:?}"
            );
            assert_eq!(got.err().map(|e| e.status()), Some(400), "{name}");
        }
        assert_eq!(
            parse(&json!({"feedback": []})).err().map(|e| e.code()),
            Some("invalid-field")
        );
        assert_eq!(
            parse(&json!({"feedback": [base(), {"card": "c2", "outcome": "accepted", "outcomeTimestamp": "2024-01-01T00:00:00Z"}]})).err(),
            Some(RequestError::InvalidFeedback { index: 1, reason: "an accepted outcome needs `acceptedSuggestions`" })
        );
    }

    #[test]
    fn serde_messages_quoting_client_text_are_bounded() {
        let hostile = format!("{}\n", "x".repeat(5000));
        let got = parse(
            &json!({"feedback": [{"card": "c", "outcome": hostile, "outcomeTimestamp": "2024-01-01T00:00:00Z"}]}),
        );
        let message = got.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.len() < 400, "{message}");
        assert!(!message.contains('\n'));
    }
}
