//! Feedback on the cards a session issued: which card uuid belongs to which service and
//! decision ([`IssuedCards`], bounded), and the append-only `feedback.jsonl` beside the
//! decision log ([`FeedbackLog`]). A feedback line names the decision it refers to by the
//! record's pseudonym, the plugin and the output hash of its decision-log line; it holds no
//! patient data, and no free text a clinician typed (an override's `userComment` is counted,
//! not kept). A leaf module: it imports nothing of this crate.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use livelab_cds_hooks::protocol::{Coding, Feedback, FeedbackOutcome};
use livelab_host::run::decision_log::open_append;
use livelab_host::trial::live::FeedbackTally;
use serde::{Deserialize, Serialize};

/// The schema of a feedback line; bump on any incompatible change.
pub const FEEDBACK_SCHEMA: &str = "livelab.feedback/1";

/// How many issued cards a session remembers: feedback on an older card is answered 404, as
/// for a card livelab never issued. At a few hundred bytes each, about 20 MB.
pub const ISSUED_CARDS_MAX: usize = 65_536;

/// The decision a card came from, as the decision log names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionRef {
    /// The record's pseudonym (`None` when the trial's decision log omits `record`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    pub plugin: String,
    pub plugin_version: String,
    /// The component's SHA-256.
    pub plugin_sha256: String,
    /// The decision line's `output_sha256`.
    pub output_sha256: String,
    pub evaluation_date: String,
}

/// One card livelab answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCard {
    /// The index of the service (plugin) that issued it.
    pub service: usize,
    pub decision: std::sync::Arc<DecisionRef>,
    /// The card's position among the decision's cards.
    pub card_index: usize,
    /// The uuids of its suggestions, in order.
    pub suggestions: Vec<String>,
}

/// The cards issued most recently, by uuid, at most `capacity` (the oldest forgotten first).
pub struct IssuedCards {
    capacity: usize,
    by_uuid: HashMap<String, IssuedCard>,
    order: VecDeque<String>,
}

impl IssuedCards {
    pub fn new(capacity: usize) -> IssuedCards {
        IssuedCards {
            capacity: capacity.max(1),
            by_uuid: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn insert(&mut self, uuid: String, card: IssuedCard) {
        while self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.by_uuid.remove(&old);
            }
        }
        if self.by_uuid.insert(uuid.clone(), card).is_none() {
            self.order.push_back(uuid);
        }
    }

    pub fn get(&self, uuid: &str) -> Option<&IssuedCard> {
        self.by_uuid.get(uuid)
    }
}

/// One feedback line.
#[derive(Serialize)]
pub struct FeedbackLine<'a> {
    pub schema: &'static str,
    /// The service called (the plugin's id).
    pub service: &'a str,
    pub decision: &'a DecisionRef,
    pub card_index: usize,
    pub outcome: FeedbackOutcome,
    /// The accepted suggestions, by their position on the card.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted_suggestions: Vec<usize>,
    /// The override reason's code, when one of the card's reasons was chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<&'a Coding>,
    /// Whether the user typed a comment (its text is not kept: it may name the patient).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub override_comment: bool,
    /// The client's `outcomeTimestamp`, as an RFC 3339 UTC instant.
    pub outcome_timestamp: String,
    /// When livelab received it (RFC 3339, UTC, seconds).
    pub received: String,
}

impl<'a> FeedbackLine<'a> {
    /// The line for `item` on `card`, whose accepted suggestions are `accepted` (positions).
    pub fn new(
        service: &'a str,
        card: &'a IssuedCard,
        item: &'a Feedback,
        accepted: Vec<usize>,
    ) -> FeedbackLine<'a> {
        let reason = item.override_reason.as_ref();
        FeedbackLine {
            schema: FEEDBACK_SCHEMA,
            service,
            decision: &card.decision,
            card_index: card.card_index,
            outcome: item.outcome,
            accepted_suggestions: accepted,
            override_reason: reason.and_then(|r| r.reason.as_ref()),
            override_comment: reason
                .and_then(|r| r.user_comment.as_deref())
                .is_some_and(|c| !c.is_empty()),
            outcome_timestamp: item
                .outcome_time()
                .map_or_else(|| item.outcome_timestamp.clone(), |t| t.to_string()),
            received: now_seconds(),
        }
    }
}

fn now_seconds() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Second)
        .map_or_else(|_| now.to_string(), |t| t.to_string())
}

/// Why feedback cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("feedback log {path}: {source}")]
pub struct FeedbackLogError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The append-only feedback log.
pub struct FeedbackLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl FeedbackLog {
    pub fn open(path: &Path) -> Result<FeedbackLog, FeedbackLogError> {
        let io = |source| FeedbackLogError {
            path: path.to_owned(),
            source,
        };
        Ok(FeedbackLog {
            path: path.to_owned(),
            out: open_append(path).map_err(io)?,
        })
    }

    /// Appends the lines and flushes them.
    pub fn append(&mut self, lines: &[FeedbackLine<'_>]) -> Result<(), FeedbackLogError> {
        let io = |source| FeedbackLogError {
            path: self.path.clone(),
            source,
        };
        for line in lines {
            serde_json::to_writer(&mut self.out, line)
                .map_err(std::io::Error::from)
                .map_err(io)?;
            self.out.write_all(b"\n").map_err(io)?;
        }
        self.out.flush().map_err(io)
    }

    pub fn flush(&mut self) -> Result<(), FeedbackLogError> {
        self.out.flush().map_err(|source| FeedbackLogError {
            path: self.path.clone(),
            source,
        })
    }
}

/// Why a feedback log cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackReadError {
    #[error(transparent)]
    Io(#[from] FeedbackLogError),
    #[error("{path}:{line}: not a feedback line of schema {FEEDBACK_SCHEMA} ({message})")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// The fields of a [`FeedbackLine`] a live trial counts, read back.
#[derive(Deserialize)]
struct ReadLine {
    schema: String,
    decision: ReadDecision,
    outcome: FeedbackOutcome,
    #[serde(default)]
    accepted_suggestions: Vec<usize>,
    #[serde(default)]
    override_reason: Option<Coding>,
}

#[derive(Deserialize)]
struct ReadDecision {
    plugin_sha256: String,
}

/// A session's feedback log counted per plugin (by component SHA-256), for
/// `livelab trial --decisions` (the live trial's accept and override rates).
pub fn tally(path: &Path) -> Result<HashMap<String, FeedbackTally>, FeedbackReadError> {
    let io = |source| FeedbackLogError {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut tallies: HashMap<String, FeedbackTally> = HashMap::new();
    for (i, text) in BufReader::new(file).lines().enumerate() {
        let text = text.map_err(io)?;
        if text.trim().is_empty() {
            continue;
        }
        let invalid = |message: String| FeedbackReadError::Invalid {
            path: path.to_owned(),
            line: i + 1,
            message,
        };
        let line: ReadLine = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if line.schema != FEEDBACK_SCHEMA {
            return Err(invalid(format!("schema {:?}", line.schema)));
        }
        let tally = tallies.entry(line.decision.plugin_sha256).or_default();
        match line.outcome {
            FeedbackOutcome::Accepted => tally.accepted += 1,
            FeedbackOutcome::Overridden => tally.overridden += 1,
        }
        tally.suggestions_accepted += line.accepted_suggestions.len() as u64;
        if let Some(reason) = line.override_reason {
            let key = format!("{}|{}", reason.system.unwrap_or_default(), reason.code);
            *tally.override_reasons.entry(key).or_default() += 1;
        }
    }
    Ok(tallies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(service: usize) -> IssuedCard {
        IssuedCard {
            service,
            decision: std::sync::Arc::new(DecisionRef {
                record: Some("pt-1".into()),
                plugin: "p".into(),
                plugin_version: "1".into(),
                plugin_sha256: "00".into(),
                output_sha256: "11".into(),
                evaluation_date: "2026-01-01".into(),
            }),
            card_index: 0,
            suggestions: Vec::new(),
        }
    }

    #[test]
    fn issued_cards_forget_the_oldest_beyond_capacity() {
        let mut issued = IssuedCards::new(2);
        issued.insert("a".into(), card(0));
        issued.insert("b".into(), card(1));
        issued.insert("c".into(), card(2));
        assert_eq!(issued.by_uuid.len(), 2);
        assert_eq!(issued.order.len(), 2);
        assert!(issued.get("a").is_none());
        assert_eq!(issued.get("b").map(|c| c.service), Some(1));
        assert_eq!(issued.get("c").map(|c| c.service), Some(2));
    }
}
