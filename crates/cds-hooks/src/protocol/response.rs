//! The service response: cards and system actions.
//!
//! The types serialise as the spec requires (optional fields omitted, never `null` or `[]`),
//! and [`CdsResponse::validate`] checks the rules serde cannot express. A plugin's card has
//! passed the host's own checks before it gets here; validating again is cheap and keeps a
//! spec-breaking card from reaching a clinician's screen, where a client "MUST treat the card
//! as an error" or, worse, shows it half-rendered.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{CardError, ResponseError};
use super::limits::is_fhir_id;

/// The longest card summary: the spec says "<140-character", counted in characters (not
/// bytes, not graphemes).
pub const SUMMARY_MAX_CHARS: usize = 139;

/// `{"cards": [...], "systemActions": [...]}`. No cards means "no guidance".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CdsResponse {
    pub cards: Vec<Card>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system_actions: Vec<Action>,
}

/// One card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    /// Needed for feedback: a card without one gets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// One sentence, at most [`SUMMARY_MAX_CHARS`] characters.
    pub summary: String,
    /// GitHub-flavoured Markdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub indicator: Indicator,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
    /// Required when there are suggestions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_behavior: Option<SelectionBehavior>,
    /// Reasons the user may pick when overriding; each needs a `display`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub override_reasons: Vec<Coding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

/// Urgency, in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Indicator {
    Info,
    Warning,
    Critical,
}

/// Where the card's guidance comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub label: String,
    /// Absolute URL about the source (not a drill-down into this card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Absolute URL of a 100×100 PNG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Coding>,
}

/// A CDS Hooks `Coding` (a FHIR Coding reduced to three fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coding {
    /// Required on what livelab sends; tolerated absent in what clients send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A set of actions the user can accept with one click.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub label: String,
    /// Needed for feedback on accepted suggestions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_recommended: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

/// How many suggestions of a card the user may pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionBehavior {
    AtMostOne,
    Any,
}

/// A change to the client's FHIR data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    #[serde(rename = "type")]
    pub action_type: ActionType,
    pub description: String,
    /// The resource to create, or the whole updated resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Value>,
    /// `Type/id` of the resource to delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionType {
    Create,
    Update,
    Delete,
}

/// A link to a web page or a SMART app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub label: String,
    pub url: String,
    #[serde(rename = "type")]
    pub link_type: LinkType,
    /// Only for `smart` links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autolaunchable: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkType {
    Absolute,
    Smart,
}

impl CdsResponse {
    /// A response with these cards and no system actions.
    pub fn new(cards: Vec<Card>) -> Self {
        CdsResponse {
            cards,
            system_actions: Vec::new(),
        }
    }

    /// Checks every card and system action; the first problem is returned.
    pub fn validate(&self) -> Result<(), ResponseError> {
        for (index, card) in self.cards.iter().enumerate() {
            card.validate()
                .map_err(|source| ResponseError::Card { index, source })?;
        }
        for (index, action) in self.system_actions.iter().enumerate() {
            validate_action(action)
                .map_err(|reason| ResponseError::SystemAction { index, reason })?;
        }
        Ok(())
    }
}

impl Card {
    /// Checks the rules serde cannot: summary length, non-empty strings, `selectionBehavior`
    /// with suggestions, `display` on override reasons, action and link shapes.
    pub fn validate(&self) -> Result<(), CardError> {
        let chars = self.summary.chars().count();
        if self.summary.trim().is_empty() {
            return Err(CardError::EmptySummary);
        }
        if chars > SUMMARY_MAX_CHARS {
            return Err(CardError::SummaryTooLong { chars });
        }
        if self.uuid.as_deref().is_some_and(str::is_empty) {
            return Err(CardError::EmptyUuid);
        }
        if self.detail.as_deref().is_some_and(|d| d.trim().is_empty()) {
            return Err(CardError::EmptyDetail);
        }
        validate_source(&self.source).map_err(CardError::Source)?;
        if !self.suggestions.is_empty() {
            let Some(behavior) = self.selection_behavior else {
                return Err(CardError::MissingSelectionBehavior);
            };
            let recommended = self
                .suggestions
                .iter()
                .filter(|s| s.is_recommended == Some(true))
                .count();
            if behavior == SelectionBehavior::AtMostOne && recommended > 1 {
                return Err(CardError::TooManyRecommended { count: recommended });
            }
        }
        for (index, suggestion) in self.suggestions.iter().enumerate() {
            if suggestion.label.trim().is_empty() {
                return Err(CardError::Suggestion {
                    index,
                    reason: "the label is empty",
                });
            }
            if suggestion.uuid.as_deref().is_some_and(str::is_empty) {
                return Err(CardError::Suggestion {
                    index,
                    reason: "the uuid is empty (omit it instead)",
                });
            }
            for (action_index, action) in suggestion.actions.iter().enumerate() {
                validate_action(action).map_err(|reason| CardError::Action {
                    suggestion: index,
                    index: action_index,
                    reason,
                })?;
            }
        }
        for (index, reason) in self.override_reasons.iter().enumerate() {
            validate_coding(reason)
                .map_err(|why| CardError::OverrideReason { index, reason: why })?;
            if reason
                .display
                .as_deref()
                .is_none_or(|d| d.trim().is_empty())
            {
                return Err(CardError::OverrideReason {
                    index,
                    reason: "needs a display",
                });
            }
        }
        for (index, link) in self.links.iter().enumerate() {
            validate_link(link).map_err(|reason| CardError::Link { index, reason })?;
        }
        Ok(())
    }
}

fn validate_source(source: &Source) -> Result<(), &'static str> {
    if source.label.trim().is_empty() {
        return Err("the label is empty");
    }
    if source.url.as_deref().is_some_and(|u| !is_absolute_url(u)) {
        return Err("the url is not an absolute http(s) URL");
    }
    if source.icon.as_deref().is_some_and(|u| !is_absolute_url(u)) {
        return Err("the icon is not an absolute http(s) URL");
    }
    if let Some(topic) = &source.topic {
        validate_coding(topic)?;
    }
    Ok(())
}

fn validate_coding(coding: &Coding) -> Result<(), &'static str> {
    if coding.code.is_empty() {
        return Err("the coding has no code");
    }
    if coding.system.as_deref().is_none_or(str::is_empty) {
        return Err("the coding has no system");
    }
    Ok(())
}

fn validate_action(action: &Action) -> Result<(), &'static str> {
    if action.description.trim().is_empty() {
        return Err("the description is empty");
    }
    let has_resource = action
        .resource
        .as_ref()
        .is_some_and(|r| r.get("resourceType").and_then(Value::as_str).is_some());
    if action.resource.is_some() && !has_resource {
        return Err("the resource is not a FHIR resource (no resourceType)");
    }
    if let Some(id) = &action.resource_id
        && !id
            .split_once('/')
            .is_some_and(|(ty, id)| !ty.is_empty() && is_fhir_id(id))
    {
        return Err("the resourceId is not a Type/id reference");
    }
    match action.action_type {
        ActionType::Create | ActionType::Update if !has_resource => {
            Err("create and update need a resource")
        }
        ActionType::Delete if action.resource_id.is_none() && !has_resource => {
            Err("delete needs a resourceId")
        }
        _ => Ok(()),
    }
}

fn validate_link(link: &Link) -> Result<(), &'static str> {
    if link.label.trim().is_empty() {
        return Err("the label is empty");
    }
    if !is_absolute_url(&link.url) {
        return Err("the url is not an absolute http(s) URL");
    }
    if link.app_context.is_some() && link.link_type != LinkType::Smart {
        return Err("appContext is only valid on smart links");
    }
    Ok(())
}

fn is_absolute_url(url: &str) -> bool {
    let lower = url
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && url.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorResponse;

    fn card() -> Card {
        Card {
            uuid: Some("4e0a3a1e-3283-4575-ab82-028d55fe2719".into()),
            summary: "Metformin with eGFR below 30: stop metformin".into(),
            detail: Some("NHG-Standaard M01: stop bij eGFR < 30.".into()),
            indicator: Indicator::Warning,
            source: Source {
                label: "NHG-Standaard Diabetes mellitus type 2 (M01)".into(),
                url: Some(
                    "https://richtlijnen.nhg.org/standaarden/diabetes-mellitus-type-2".into(),
                ),
                icon: None,
                topic: Some(Coding {
                    system: Some("urn:livelab:topic".into()),
                    code: "metformin-egfr".into(),
                    display: None,
                }),
            },
            suggestions: vec![Suggestion {
                label: "Stop metformin".into(),
                uuid: Some("e56e1945-20b3-4393-8503-a1a20fd73152".into()),
                is_recommended: Some(true),
                actions: vec![Action {
                    action_type: ActionType::Delete,
                    description: "Remove the metformin order".into(),
                    resource: None,
                    resource_id: Some("MedicationRequest/draft-1".into()),
                }],
            }],
            selection_behavior: Some(SelectionBehavior::AtMostOne),
            override_reasons: vec![Coding {
                system: Some("urn:livelab:override".into()),
                code: "patient-refused".into(),
                display: Some("Patient refused".into()),
            }],
            links: vec![],
        }
    }

    #[test]
    fn a_good_card_validates_and_serialises_per_spec() {
        let response = CdsResponse::new(vec![card()]);
        assert_eq!(response.validate(), Ok(()));
        let value = serde_json::to_value(&response).unwrap_or_default();
        assert_eq!(value["cards"][0]["selectionBehavior"], "at-most-one");
        assert_eq!(value["cards"][0]["indicator"], "warning");
        assert_eq!(value["cards"][0]["suggestions"][0]["isRecommended"], true);
        assert_eq!(
            value["cards"][0]["suggestions"][0]["actions"][0]["type"],
            "delete"
        );
        assert_eq!(
            value["cards"][0]["suggestions"][0]["actions"][0]["resourceId"],
            "MedicationRequest/draft-1"
        );
        assert!(
            value["cards"][0].get("links").is_none(),
            "empty arrays are omitted"
        );
        assert!(value.get("systemActions").is_none());
        assert!(value["cards"][0]["source"].get("icon").is_none());
    }

    #[test]
    fn no_guidance_is_an_empty_card_list() {
        let value = serde_json::to_value(CdsResponse::default()).ok();
        assert_eq!(value, Some(json!({"cards": []})));
    }

    #[test]
    fn the_spec_example_round_trips() {
        let example = json!({
            "cards": [
                {
                    "uuid": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
                    "summary": "Example Card",
                    "indicator": "info",
                    "detail": "This is an example card.",
                    "source": {
                        "label": "Static CDS Service Example",
                        "url": "https://example.com",
                        "icon": "https://example.com/img/icon-100px.png"
                    },
                    "links": [
                        {"label": "Google", "url": "https://google.com", "type": "absolute"},
                        {"label": "SMART Example App", "url": "https://smart.example.com/launch",
                         "type": "smart", "appContext": "{\"session\":3456356}"}
                    ]
                },
                {
                    "summary": "Another card",
                    "indicator": "warning",
                    "source": {"label": "Static CDS Service Example"},
                    "overrideReasons": [
                        {"code": "reason-code-provided-by-service",
                         "system": "http://example.org/cds-services/fhir/CodeSystem/override-reasons",
                         "display": "Patient refused"}
                    ]
                }
            ],
            "systemActions": [
                {"type": "update", "description": "Record the score",
                 "resource": {"resourceType": "ServiceRequest", "id": "example-MRI-59879846"}}
            ]
        });
        let parsed: Result<CdsResponse, _> = serde_json::from_value(example.clone());
        let Ok(parsed) = parsed else {
            panic!("{parsed:?}");
        };
        assert_eq!(parsed.validate(), Ok(()));
        assert_eq!(serde_json::to_value(&parsed).ok(), Some(example));
    }

    #[test]
    fn summary_length_is_counted_in_characters() {
        let cases: Vec<(String, Result<(), CardError>)> = vec![
            ("a".repeat(139), Ok(())),
            (
                "a".repeat(140),
                Err(CardError::SummaryTooLong { chars: 140 }),
            ),
            ("é".repeat(139), Ok(())),
            (
                "é".repeat(140),
                Err(CardError::SummaryTooLong { chars: 140 }),
            ),
            (String::new(), Err(CardError::EmptySummary)),
            ("   ".into(), Err(CardError::EmptySummary)),
        ];
        for (summary, want) in cases {
            let card = Card {
                summary: summary.clone(),
                ..card()
            };
            assert_eq!(card.validate(), want, "{} chars", summary.chars().count());
        }
    }

    #[test]
    fn rule_violations() {
        type Mutation = fn(&mut Card);
        #[rustfmt::skip]
        let cases: Vec<(&str, Mutation, &str)> = vec![
            ("empty uuid", |c| c.uuid = Some(String::new()), "EmptyUuid"),
            ("empty detail", |c| c.detail = Some(" ".into()), "EmptyDetail"),
            ("empty source label", |c| c.source.label = String::new(), "Source"),
            ("relative source url", |c| c.source.url = Some("/about".into()), "Source"),
            ("topic without system", |c| c.source.topic = Some(Coding { system: None, code: "x".into(), display: None }), "Source"),
            ("no selection behaviour", |c| c.selection_behavior = None, "MissingSelectionBehavior"),
            ("two recommended with at-most-one", |c| { let s = c.suggestions[0].clone(); c.suggestions.push(s); }, "TooManyRecommended"),
            ("empty suggestion label", |c| c.suggestions[0].label = String::new(), "Suggestion"),
            ("create without resource", |c| c.suggestions[0].actions[0].action_type = ActionType::Create, "Action"),
            ("delete without id", |c| c.suggestions[0].actions[0].resource_id = None, "Action"),
            ("bad resource id", |c| c.suggestions[0].actions[0].resource_id = Some("draft-1".into()), "Action"),
            ("resource without type", |c| { let a = &mut c.suggestions[0].actions[0]; a.action_type = ActionType::Update; a.resource = Some(json!({"id": "x"})); }, "Action"),
            ("empty action description", |c| c.suggestions[0].actions[0].description = String::new(), "Action"),
            ("override reason without display", |c| c.override_reasons[0].display = None, "OverrideReason"),
            ("link with relative url", |c| c.links.push(Link { label: "x".into(), url: "x".into(), link_type: LinkType::Absolute, app_context: None, autolaunchable: None }), "Link"),
            ("appContext on absolute link", |c| c.links.push(Link { label: "x".into(), url: "https://x.org".into(), link_type: LinkType::Absolute, app_context: Some("{}".into()), autolaunchable: None }), "Link"),
        ];
        for (name, mutate, want) in cases {
            let mut bad = card();
            mutate(&mut bad);
            let got = bad.validate();
            assert!(
                format!("{got:?}").starts_with(&format!("Err({want}")),
                "{name}: {got:?}"
            );
        }
    }

    #[test]
    fn two_recommended_is_fine_with_any() {
        let mut c = card();
        let again = c.suggestions[0].clone();
        c.suggestions.push(again);
        c.selection_behavior = Some(SelectionBehavior::Any);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn response_errors_are_500_with_the_card_index() {
        let mut bad = card();
        bad.summary = "x".repeat(200);
        let response = CdsResponse::new(vec![card(), bad]);
        let error = response.validate().err();
        assert_eq!(error.as_ref().map(ErrorResponse::status), Some(500));
        assert_eq!(
            error.as_ref().map(ErrorResponse::code),
            Some("invalid-card")
        );
        assert_eq!(
            error.map(|e| e.to_string()),
            Some("card 1: the summary has 200 characters; the spec allows fewer than 140".into())
        );
        let system = CdsResponse {
            cards: vec![],
            system_actions: vec![Action {
                action_type: ActionType::Create,
                description: "x".into(),
                resource: None,
                resource_id: None,
            }],
        };
        assert_eq!(
            system.validate().err().map(|e| e.code()),
            Some("invalid-system-action")
        );
    }
}
