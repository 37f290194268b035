//! What a live session adds to a trial summary: the cards each plugin issued and what the
//! clinicians did with them. Apart from [`super::live`], which fills it in, so that the
//! summary (in the parent module) can hold it without naming the code that judges a session.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// What a session's clinicians did with one plugin's cards (`feedback.jsonl`), as the serve
/// crate counts it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackTally {
    pub accepted: u64,
    pub overridden: u64,
    /// Suggestions accepted (a card can have several).
    pub suggestions_accepted: u64,
    /// Override reasons by `system|code`, for those given one of the card's reasons.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub override_reasons: BTreeMap<String, u64>,
}

/// One plugin in a live session: the cards it issued and the feedback on them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LivePlugin {
    pub plugin: String,
    pub sha256: String,
    /// Cards in every decision of the session (every hook, superseded ones included): what
    /// clinicians were shown, unless the session was silent.
    pub cards_issued: u64,
    pub feedback: FeedbackTally,
}

impl LivePlugin {
    /// Accepted among the cards with feedback; `None` without feedback.
    pub fn acceptance_rate(&self) -> Option<f64> {
        let answered = self.feedback.accepted + self.feedback.overridden;
        (answered > 0).then(|| self.feedback.accepted as f64 / answered as f64)
    }

    /// Overridden among the cards with feedback; `None` without feedback.
    pub fn override_rate(&self) -> Option<f64> {
        self.acceptance_rate().map(|a| 1.0 - a)
    }

    /// Cards that got feedback, among those issued; `None` when none was issued.
    pub fn feedback_rate(&self) -> Option<f64> {
        let answered = self.feedback.accepted + self.feedback.overridden;
        (self.cards_issued > 0).then(|| answered as f64 / self.cards_issued as f64)
    }
}

/// What a live trial was made from, in `summary.json` beside the usual run and effectiveness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveSummary {
    pub decision_log: String,
    pub feedback_log: Option<String>,
    /// Decision lines read.
    pub decisions: u64,
    /// Earlier `patient-view` decisions of a patient and plugin with a later one.
    pub superseded: u64,
    /// Decisions at an order hook (counted, not judged).
    pub order_decisions: u64,
    /// The first and last evaluation dates of the session's decisions.
    pub first_date: Date,
    pub last_date: Date,
    /// Per plugin of the trial, in trial order.
    pub plugins: Vec<LivePlugin>,
}
