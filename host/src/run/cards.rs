//! Cards as CDS Hooks JSON writes them: the shape of `results.jsonl`, the decision log and
//! (later) a CDS Hooks response.

use serde::{Deserialize, Serialize};

use crate::wit::{Action, ActionKind, Card, CodeSystem, Coding, Indicator, Source, Suggestion};

/// A card as CDS Hooks writes it (optional fields omitted, never null).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CdsCard<'a> {
    pub summary: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    pub indicator: &'static str,
    pub source: CdsSource<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<CdsSuggestion<'a>>,
}

#[derive(Debug, Serialize)]
pub struct CdsSource<'a> {
    pub label: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<CdsCoding<'a>>,
}

#[derive(Debug, Serialize)]
pub struct CdsCoding<'a> {
    pub system: &'a str,
    pub code: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CdsSuggestion<'a> {
    pub label: &'a str,
    pub is_recommended: bool,
    pub actions: Vec<CdsAction<'a>>,
}

#[derive(Debug, Serialize)]
pub struct CdsAction<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub description: &'a str,
}

/// An action type as CDS Hooks names it.
fn action_kind(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Create => "create",
        ActionKind::Update => "update",
        ActionKind::Delete => "delete",
    }
}

impl<'a> From<&'a Card> for CdsCard<'a> {
    fn from(card: &'a Card) -> Self {
        CdsCard {
            summary: &card.summary,
            detail: card.detail.as_deref(),
            indicator: card.indicator.as_str(),
            source: CdsSource {
                label: &card.source.label,
                url: card.source.url.as_deref(),
                topic: card.source.topic.as_ref().map(|t| CdsCoding {
                    system: t.system.uri(),
                    code: &t.code,
                }),
            },
            suggestions: card
                .suggestions
                .iter()
                .map(|s| CdsSuggestion {
                    label: &s.label,
                    is_recommended: s.is_recommended,
                    actions: s
                        .actions
                        .iter()
                        .map(|a| CdsAction {
                            kind: action_kind(a.kind),
                            description: &a.description,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// A card as [`CdsCard`] wrote it, read back (a session's decision log judged as a trial).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedCard {
    summary: String,
    #[serde(default)]
    detail: Option<String>,
    indicator: String,
    source: LoggedSource,
    #[serde(default)]
    suggestions: Vec<LoggedSuggestion>,
}

#[derive(Debug, Deserialize)]
struct LoggedSource {
    label: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    topic: Option<LoggedCoding>,
}

#[derive(Debug, Deserialize)]
struct LoggedCoding {
    system: String,
    code: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoggedSuggestion {
    label: String,
    is_recommended: bool,
    actions: Vec<LoggedAction>,
}

#[derive(Debug, Deserialize)]
struct LoggedAction {
    #[serde(rename = "type")]
    kind: String,
    description: String,
}

impl TryFrom<LoggedCard> for Card {
    /// What is not a card [`CdsCard`] writes.
    type Error = String;

    fn try_from(card: LoggedCard) -> Result<Card, String> {
        let indicator = [Indicator::Info, Indicator::Warning, Indicator::Critical]
            .into_iter()
            .find(|i| i.as_str() == card.indicator)
            .ok_or_else(|| format!("unknown indicator {:?}", card.indicator))?;
        let kind = |name: &str| {
            [ActionKind::Create, ActionKind::Update, ActionKind::Delete]
                .into_iter()
                .find(|k| action_kind(*k) == name)
                .ok_or_else(|| format!("unknown action type {name:?}"))
        };
        let mut suggestions = Vec::with_capacity(card.suggestions.len());
        for s in card.suggestions {
            let mut actions = Vec::with_capacity(s.actions.len());
            for a in s.actions {
                actions.push(Action {
                    kind: kind(&a.kind)?,
                    description: a.description,
                });
            }
            suggestions.push(Suggestion {
                label: s.label,
                is_recommended: s.is_recommended,
                actions,
            });
        }
        Ok(Card {
            summary: card.summary,
            detail: card.detail,
            indicator,
            source: Source {
                label: card.source.label,
                url: card.source.url,
                topic: card.source.topic.map(|t| Coding {
                    system: CodeSystem::from_uri(&t.system),
                    code: t.code,
                }),
            },
            suggestions,
        })
    }
}
