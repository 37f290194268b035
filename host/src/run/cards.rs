//! Cards as CDS Hooks JSON writes them: the shape of `results.jsonl`, the decision log and
//! (later) a CDS Hooks response.

use serde::Serialize;

use crate::wit::Card;

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

impl<'a> From<&'a Card> for CdsCard<'a> {
    fn from(card: &'a Card) -> Self {
        use crate::wit::ActionKind;
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
                            kind: match a.kind {
                                ActionKind::Create => "create",
                                ActionKind::Update => "update",
                                ActionKind::Delete => "delete",
                            },
                            description: &a.description,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}
