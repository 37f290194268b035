//! Effectiveness: each plugin's alerts against the reference labels, overall and by
//! subgroup, and paired comparisons of two plugins on the same patients (shadow mode).
//!
//! Everything here is built from counts ([`EffectivenessCounts`]), which add up exactly
//! across shards; the figures (Wilson intervals, McNemar, Newcombe) are derived from the
//! counts when a report is made, so a merged run and a single run report the same numbers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ingest::record::SourceLocation;
use crate::run::MergeError;
use crate::run::outcome::{Subgroup, subgroup_keys};
use crate::trial::stats::{
    Confusion, McNemar, Metrics, Paired, PairedComparison, PairedDifference,
};
use crate::wit::{Card, Indicator};

/// Why a labels file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("cannot read the labels file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Reference labels: for each (record, topic), whether a clinician would want an alert.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    pub path: PathBuf,
    expected: HashMap<(String, String), bool>,
    topics: BTreeSet<String>,
}

impl Labels {
    /// Reads `record,topic,expected` CSV (`expected` is 0 or 1), with that header.
    pub fn load(path: &Path) -> Result<Labels, LabelError> {
        let file = std::fs::File::open(path).map_err(|source| LabelError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut labels = Labels {
            path: path.to_owned(),
            ..Labels::default()
        };
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line_no = i + 1;
            let line = line.map_err(|source| LabelError::Io {
                path: path.to_owned(),
                source,
            })?;
            let invalid = |message: String| LabelError::Invalid {
                path: path.to_owned(),
                line: line_no,
                message,
            };
            let line = line.trim_end_matches('\r');
            if i == 0 {
                // Spreadsheets saving "CSV UTF-8" start the file with a byte-order mark.
                let line = line.strip_prefix('\u{feff}').unwrap_or(line);
                if line != "record,topic,expected" {
                    return Err(invalid(format!(
                        "the header is {line:?}; a labels file starts with `record,topic,expected`"
                    )));
                }
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').collect();
            let [record, topic, expected] = fields[..] else {
                return Err(invalid(format!(
                    "{} fields; each row is `record,topic,expected`",
                    fields.len()
                )));
            };
            let expected = match expected.trim() {
                "1" => true,
                "0" => false,
                other => {
                    return Err(invalid(format!("expected is {other:?}; it must be 0 or 1")));
                }
            };
            let key = (record.trim().to_owned(), topic.trim().to_owned());
            if labels.expected.insert(key, expected).is_some() {
                return Err(invalid(format!(
                    "a second label for record {record} and topic {topic}; each pair is labelled once"
                )));
            }
            labels.topics.insert(topic.trim().to_owned());
        }
        Ok(labels)
    }

    pub fn get(&self, record: &str, topic: &str) -> Option<bool> {
        self.expected
            .get(&(record.to_owned(), topic.to_owned()))
            .copied()
    }

    pub fn topics(&self) -> &BTreeSet<String> {
        &self.topics
    }
}

/// A card counts as an alert when its indicator is at least this urgent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertThreshold {
    Info,
    Warning,
    Critical,
}

impl AlertThreshold {
    pub fn counts(self, indicator: Indicator) -> bool {
        let rank = |i: Indicator| match i {
            Indicator::Info => 0,
            Indicator::Warning => 1,
            Indicator::Critical => 2,
        };
        let threshold = match self {
            AlertThreshold::Info => Indicator::Info,
            AlertThreshold::Warning => Indicator::Warning,
            AlertThreshold::Critical => Indicator::Critical,
        };
        rank(indicator) >= rank(threshold)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertThreshold::Info => "info",
            AlertThreshold::Warning => "warning",
            AlertThreshold::Critical => "critical",
        }
    }
}

/// What a plugin answers in a trial: the label topic and what counts as an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicSpec {
    pub plugin: String,
    pub topic: String,
    pub alert_from: AlertThreshold,
}

/// One evaluation judged against its plugin's topic, computed once per evaluation and used
/// by the effectiveness tallies and by `results.csv` alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Whether the cards raise an alert; `None` when the plugin answers no topic or the
    /// evaluation failed.
    pub alert: Option<bool>,
    /// The reference label of the record for the topic, if the labels have one.
    pub label: Option<bool>,
}

impl Judgement {
    pub fn of(
        spec: Option<&TopicSpec>,
        labels: Option<&Labels>,
        record: &str,
        result: &Result<Vec<Card>, crate::plugin::Failure>,
    ) -> Judgement {
        let Some(spec) = spec else {
            return Judgement::default();
        };
        Judgement {
            alert: result
                .as_ref()
                .ok()
                .map(|cards| alerted(cards, spec.alert_from)),
            label: labels.and_then(|l| l.get(record, &spec.topic)),
        }
    }
}

/// Counts of one plugin against its topic's labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginCounts {
    pub spec: Option<TopicSpec>,
    /// Evaluations that returned cards (or none), with a label.
    pub confusion: Confusion,
    /// Evaluations that failed, by whether the label was positive: never counted as
    /// negatives.
    pub errors_label_positive: u64,
    pub errors_label_negative: u64,
    /// Evaluated records with no label for the topic.
    pub unlabelled: u64,
    /// Per subgroup, keyed `dimension=value`.
    #[serde(with = "subgroup_keys")]
    pub subgroups: BTreeMap<Subgroup, Confusion>,
}

/// A discordant patient of a paired comparison, for a clinician to review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Discordant {
    pub record: String,
    pub source: String,
    pub label: bool,
    pub baseline_alert: bool,
    pub candidate_alert: bool,
    /// Subgroups, `dimension=value`.
    #[serde(with = "subgroup_keys::list")]
    pub subgroups: Vec<Subgroup>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComparisonCounts {
    pub baseline: String,
    pub candidate: String,
    pub topic: String,
    pub paired: PairedComparison,
    /// Patients left out because either plugin failed on them, or unlabelled.
    pub excluded: u64,
    pub discordant: Vec<Discordant>,
}

/// Everything effectiveness needs, as counts that merge exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EffectivenessCounts {
    pub labels: String,
    pub plugins: Vec<PluginCounts>,
    pub comparisons: Vec<ComparisonCounts>,
}

impl EffectivenessCounts {
    /// Adds another shard's counts; the plugins and comparisons must be the same.
    pub fn merge(&mut self, other: EffectivenessCounts) -> Result<(), MergeError> {
        if self.plugins.len() != other.plugins.len()
            || self.comparisons.len() != other.comparisons.len()
            || self
                .plugins
                .iter()
                .zip(&other.plugins)
                .any(|(a, b)| a.spec != b.spec)
        {
            return Err(MergeError(
                "the shards ran different plugins or topics".into(),
            ));
        }
        for (mine, theirs) in self.plugins.iter_mut().zip(other.plugins) {
            mine.confusion.merge(theirs.confusion);
            mine.errors_label_positive += theirs.errors_label_positive;
            mine.errors_label_negative += theirs.errors_label_negative;
            mine.unlabelled += theirs.unlabelled;
            for (key, confusion) in theirs.subgroups {
                mine.subgroups.entry(key).or_default().merge(confusion);
            }
        }
        for (mine, theirs) in self.comparisons.iter_mut().zip(other.comparisons) {
            mine.paired.merge(theirs.paired);
            mine.excluded += theirs.excluded;
            mine.discordant.extend(theirs.discordant);
            mine.discordant
                .sort_by(|a, b| (&a.source, &a.record).cmp(&(&b.source, &b.record)));
        }
        Ok(())
    }

    /// The figures an evaluator reads.
    pub fn report(&self) -> Effectiveness {
        Effectiveness {
            labels: self.labels.clone(),
            plugins: self
                .plugins
                .iter()
                .filter_map(|p| {
                    let spec = p.spec.clone()?;
                    Some(PluginEffectiveness {
                        plugin: spec.plugin,
                        topic: spec.topic,
                        alert_from: spec.alert_from,
                        labelled: p.confusion.total(),
                        confusion: p.confusion,
                        metrics: p.confusion.metrics(),
                        errors_label_positive: p.errors_label_positive,
                        errors_label_negative: p.errors_label_negative,
                        unlabelled: p.unlabelled,
                        alerts_per_100: crate::trial::stats::rate_per_100(
                            p.confusion.tp + p.confusion.fp,
                            p.confusion.total(),
                        ),
                        subgroups: p
                            .subgroups
                            .iter()
                            .map(|(&subgroup, confusion)| SubgroupEffectiveness {
                                subgroup,
                                confusion: *confusion,
                                metrics: confusion.metrics(),
                            })
                            .collect(),
                    })
                })
                .collect(),
            comparisons: self
                .comparisons
                .iter()
                .map(|c| ComparisonReport {
                    baseline: c.baseline.clone(),
                    candidate: c.candidate.clone(),
                    topic: c.topic.clone(),
                    patients: c.paired.label_positive.total() + c.paired.label_negative.total(),
                    excluded: c.excluded,
                    label_positive: c.paired.label_positive,
                    label_negative: c.paired.label_negative,
                    sensitivity_mcnemar: c.paired.label_positive.mcnemar(),
                    specificity_mcnemar: c.paired.label_negative.mcnemar(),
                    sensitivity_difference: c.paired.sensitivity_difference(),
                    specificity_difference: c.paired.specificity_difference(),
                    discordant: c.discordant.clone(),
                })
                .collect(),
        }
    }
}

/// Effectiveness figures of a trial (part of the trial summary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Effectiveness {
    pub labels: String,
    pub plugins: Vec<PluginEffectiveness>,
    pub comparisons: Vec<ComparisonReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginEffectiveness {
    pub plugin: String,
    pub topic: String,
    pub alert_from: AlertThreshold,
    /// Evaluations with a label and a result (the denominator of the metrics).
    pub labelled: u64,
    pub confusion: Confusion,
    pub metrics: Metrics,
    pub errors_label_positive: u64,
    pub errors_label_negative: u64,
    pub unlabelled: u64,
    pub alerts_per_100: Option<f64>,
    pub subgroups: Vec<SubgroupEffectiveness>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubgroupEffectiveness {
    #[serde(flatten)]
    pub subgroup: Subgroup,
    pub confusion: Confusion,
    pub metrics: Metrics,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonReport {
    pub baseline: String,
    pub candidate: String,
    pub topic: String,
    /// Patients both plugins evaluated and the labels cover.
    pub patients: u64,
    pub excluded: u64,
    /// Alerts of baseline (a) and candidate (b) among label-positive patients.
    pub label_positive: Paired,
    pub label_negative: Paired,
    /// McNemar on the label-positive discordant pairs: do the sensitivities differ?
    pub sensitivity_mcnemar: McNemar,
    /// McNemar on the label-negative discordant pairs: do the specificities differ?
    pub specificity_mcnemar: McNemar,
    /// Candidate minus baseline, with Newcombe's paired 95 % interval.
    pub sensitivity_difference: PairedDifference,
    pub specificity_difference: PairedDifference,
    pub discordant: Vec<Discordant>,
}

/// Tallies a run's outcomes against the labels.
pub struct EffectivenessBuilder {
    /// Per plugin (run order): its topic spec, if it answers one.
    specs: Vec<Option<TopicSpec>>,
    /// (baseline index, candidate index) per comparison.
    pairs: Vec<(usize, usize)>,
    counts: EffectivenessCounts,
}

/// Whether an evaluation's cards raise an alert at `threshold`.
pub fn alerted(cards: &[Card], threshold: AlertThreshold) -> bool {
    cards.iter().any(|c| threshold.counts(c.indicator))
}

impl EffectivenessBuilder {
    /// `specs[i]` is plugin i's topic (or `None`); `pairs` are (baseline, candidate)
    /// indices into the same plugin order.
    pub fn new(labels: &Labels, specs: Vec<Option<TopicSpec>>, pairs: Vec<(usize, usize)>) -> Self {
        let counts = EffectivenessCounts {
            labels: labels.path.display().to_string(),
            plugins: specs
                .iter()
                .map(|spec| PluginCounts {
                    spec: spec.clone(),
                    ..PluginCounts::default()
                })
                .collect(),
            comparisons: pairs
                .iter()
                .map(|&(a, b)| ComparisonCounts {
                    baseline: specs[a]
                        .as_ref()
                        .map_or(String::new(), |s| s.plugin.clone()),
                    candidate: specs[b]
                        .as_ref()
                        .map_or(String::new(), |s| s.plugin.clone()),
                    topic: specs[a].as_ref().map_or(String::new(), |s| s.topic.clone()),
                    ..ComparisonCounts::default()
                })
                .collect(),
        };
        EffectivenessBuilder {
            specs,
            pairs,
            counts,
        }
    }

    /// Adds one record's judged evaluations (in plugin order).
    pub fn add(
        &mut self,
        key: &str,
        source: &SourceLocation,
        groups: &[Subgroup],
        judged: &[Judgement],
    ) {
        for ((spec, counts), judgement) in
            self.specs.iter().zip(&mut self.counts.plugins).zip(judged)
        {
            if spec.is_none() {
                continue;
            }
            match (judgement.label, judgement.alert) {
                (None, _) => counts.unlabelled += 1,
                (Some(true), None) => counts.errors_label_positive += 1,
                (Some(false), None) => counts.errors_label_negative += 1,
                (Some(label), Some(alert)) => {
                    counts.confusion.add(alert, label);
                    for &group in groups {
                        counts.subgroups.entry(group).or_default().add(alert, label);
                    }
                }
            }
        }
        for (&(a, b), comparison) in self.pairs.iter().zip(&mut self.counts.comparisons) {
            // Both plugins answer the comparison's topic: the label is the same for both.
            match (judged[a].alert, judged[b].alert, judged[a].label) {
                (Some(alert_a), Some(alert_b), Some(label)) => {
                    comparison.paired.add(alert_a, alert_b, label);
                    if alert_a != alert_b {
                        comparison.discordant.push(Discordant {
                            record: key.to_owned(),
                            source: source.to_string(),
                            label,
                            baseline_alert: alert_a,
                            candidate_alert: alert_b,
                            subgroups: groups.to_vec(),
                        });
                    }
                }
                _ => comparison.excluded += 1,
            }
        }
    }

    pub fn finish(self) -> EffectivenessCounts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_labels_file_saved_as_csv_utf8_with_a_byte_order_mark_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.csv");
        std::fs::write(&path, "\u{feff}record,topic,expected\r\npt-1,af,1\r\n").unwrap();
        let labels = Labels::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(labels.get("pt-1", "af"), Some(true));
    }

    #[test]
    fn alert_thresholds_rank_indicators() {
        assert!(AlertThreshold::Warning.counts(Indicator::Critical));
        assert!(AlertThreshold::Warning.counts(Indicator::Warning));
        assert!(!AlertThreshold::Warning.counts(Indicator::Info));
        assert!(AlertThreshold::Info.counts(Indicator::Info));
        assert!(!AlertThreshold::Critical.counts(Indicator::Warning));
    }
}
