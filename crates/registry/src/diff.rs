//! Two runs compared, keeping only what differs (as `dvc exp diff` or MLflow's run
//! comparison do): the runs' facts, plugins (version, component, signature), effectiveness
//! with intervals, alert counts, paired comparisons, case mix and errors by cause. Plugins are
//! matched by id, paired comparisons by baseline, candidate and topic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::civil::Date;
use livelab_host::plugin::Cause;
use livelab_host::run::outcome::Subgroup;
use livelab_host::run::{CardCounts, PluginSummary};
use livelab_host::trial::effectiveness::{ComparisonReport, PluginEffectiveness};
use livelab_host::trial::stats::{Confusion, McNemar, Paired, PairedDifference, Proportion};
use serde::{Deserialize, Serialize};

use crate::model::{RunId, SignatureKind, StoredRun};

/// What differs between run `a` and run `b`; every list is empty when nothing does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDiff {
    pub a: RunId,
    pub b: RunId,
    pub fields: Vec<FieldChange>,
    pub plugins: Vec<Changed<PluginVersion>>,
    pub effectiveness: Vec<Changed<Measures>>,
    pub alerts: Vec<Changed<Alerts>>,
    /// Paired comparisons (`[[compare]]`) in one run only, or whose figures differ.
    pub paired: Vec<Changed<PairedFigures, PairKey>>,
    pub case_mix: Vec<CaseMixChange>,
    pub errors: Vec<ErrorChange>,
}

/// A run's fact that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: Field,
    pub a: FieldValue,
    pub b: FieldValue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Field {
    Trial,
    Region,
    EvaluationDate,
    TrialSha256,
    RecordsSource,
    RecordsSha256,
    RecordsRead,
    RecordsEvaluated,
    RecordErrors,
    LivelabVersion,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Trial => "trial",
            Field::Region => "region",
            Field::EvaluationDate => "evaluation date",
            Field::TrialSha256 => "trial file sha256",
            Field::RecordsSource => "records",
            Field::RecordsSha256 => "records sha256",
            Field::RecordsRead => "records read",
            Field::RecordsEvaluated => "records evaluated",
            Field::RecordErrors => "record errors",
            Field::LivelabVersion => "livelab version",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    Text(String),
    Date(Date),
    Count(u64),
    Missing,
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Text(text) => f.write_str(text),
            FieldValue::Date(date) => write!(f, "{date}"),
            FieldValue::Count(n) => write!(f, "{n}"),
            FieldValue::Missing => f.write_str("–"),
        }
    }
}

/// Something that is in one run only, or differs: what it is (`key`, a plugin by default,
/// its fields flattened into the JSON: `{"plugin": ..., "a": ..., "b": ...}`) and its value in
/// each run, `None` where it is absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Changed<T, K = PluginKey> {
    #[serde(flatten)]
    pub key: K,
    pub a: Option<T>,
    pub b: Option<T>,
}

/// A plugin, by id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PluginKey {
    pub plugin: String,
}

/// The plugin id (as stored: the caller escapes it for where it shows it).
impl fmt::Display for PluginKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plugin)
    }
}

/// A paired comparison: a candidate against a baseline on one label topic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PairKey {
    pub baseline: String,
    pub candidate: String,
    pub topic: String,
}

/// `baseline → candidate (topic t)` (as stored: the caller escapes it).
impl fmt::Display for PairKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let PairKey {
            baseline,
            candidate,
            topic,
        } = self;
        write!(f, "{baseline} → {candidate} (topic {topic})")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginVersion {
    pub version: String,
    pub sha256: String,
    pub signature: SignatureKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// A plugin's effectiveness on its topic, each measure with its 95 % Wilson interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    pub topic: String,
    pub confusion: Confusion,
    pub sensitivity: Proportion,
    pub specificity: Proportion,
    pub ppv: Proportion,
    pub alert_rate: Proportion,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alerts {
    pub patients_with_cards: u64,
    pub cards: CardCounts,
}

/// A paired comparison's figures: the candidate minus the baseline on the same patients, with
/// Newcombe's 95 % interval and McNemar's test, for sensitivity (label-positive patients) and
/// specificity (label-negative ones), and the paired tables they come from. (The discordant
/// patients themselves are not compared: the tables count them.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedFigures {
    /// Patients both plugins evaluated and the labels cover.
    pub patients: u64,
    pub excluded: u64,
    pub label_positive: Paired,
    pub label_negative: Paired,
    pub sensitivity_difference: PairedDifference,
    pub sensitivity_mcnemar: McNemar,
    pub specificity_difference: PairedDifference,
    pub specificity_mcnemar: McNemar,
}

/// Where one measure's difference and test are in a [`PairedFigures`].
pub type PairedMeasure = fn(&PairedFigures) -> (&PairedDifference, &McNemar);

impl PairedFigures {
    /// Sensitivity and specificity, by name, in that order.
    pub const MEASURES: [(&'static str, PairedMeasure); 2] = [
        ("sensitivity", |p| {
            (&p.sensitivity_difference, &p.sensitivity_mcnemar)
        }),
        ("specificity", |p| {
            (&p.specificity_difference, &p.specificity_mcnemar)
        }),
    ];
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseMixChange {
    #[serde(flatten)]
    pub subgroup: Subgroup,
    pub a: u64,
    pub b: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorChange {
    pub plugin: String,
    pub cause: Cause,
    pub a: u64,
    pub b: u64,
}

impl RunDiff {
    pub fn between(a: &StoredRun, b: &StoredRun) -> RunDiff {
        RunDiff {
            a: a.row.id,
            b: b.row.id,
            fields: fields(a, b),
            plugins: by_key(a, b, |run| {
                run.row
                    .plugins
                    .iter()
                    .map(|p| {
                        let version = PluginVersion {
                            version: p.version.clone(),
                            sha256: p.sha256.clone(),
                            signature: p.signature,
                            signer: p.signer.clone(),
                        };
                        (plugin_key(&p.plugin), version)
                    })
                    .collect()
            }),
            effectiveness: by_key(a, b, |run| {
                effectiveness(run)
                    .map(|e| (plugin_key(&e.plugin), measures(e)))
                    .collect()
            }),
            alerts: by_key(a, b, |run| {
                plugins(run)
                    .map(|p| {
                        let alerts = Alerts {
                            patients_with_cards: p.patients_with_cards,
                            cards: p.cards.clone(),
                        };
                        (plugin_key(&p.plugin.id), alerts)
                    })
                    .collect()
            }),
            paired: by_key(a, b, |run| comparisons(run).map(paired).collect()),
            case_mix: case_mix(a, b),
            errors: errors(a, b),
        }
    }

    /// Whether the runs agree on everything compared.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
            && self.plugins.is_empty()
            && self.effectiveness.is_empty()
            && self.alerts.is_empty()
            && self.paired.is_empty()
            && self.case_mix.is_empty()
            && self.errors.is_empty()
    }
}

fn plugins(run: &StoredRun) -> impl Iterator<Item = &PluginSummary> {
    run.summary.run.plugins.iter()
}

fn effectiveness(run: &StoredRun) -> impl Iterator<Item = &PluginEffectiveness> {
    run.summary
        .effectiveness
        .iter()
        .flat_map(|e| e.plugins.iter())
}

fn comparisons(run: &StoredRun) -> impl Iterator<Item = &ComparisonReport> {
    run.summary
        .effectiveness
        .iter()
        .flat_map(|e| e.comparisons.iter())
}

fn plugin_key(id: &str) -> PluginKey {
    PluginKey { plugin: id.into() }
}

fn paired(c: &ComparisonReport) -> (PairKey, PairedFigures) {
    let key = PairKey {
        baseline: c.baseline.clone(),
        candidate: c.candidate.clone(),
        topic: c.topic.clone(),
    };
    let figures = PairedFigures {
        patients: c.patients,
        excluded: c.excluded,
        label_positive: c.label_positive,
        label_negative: c.label_negative,
        sensitivity_difference: c.sensitivity_difference,
        sensitivity_mcnemar: c.sensitivity_mcnemar,
        specificity_difference: c.specificity_difference,
        specificity_mcnemar: c.specificity_mcnemar,
    };
    (key, figures)
}

fn measures(e: &PluginEffectiveness) -> Measures {
    Measures {
        topic: e.topic.clone(),
        confusion: e.confusion,
        sensitivity: e.metrics.sensitivity,
        specificity: e.metrics.specificity,
        ppv: e.metrics.ppv,
        alert_rate: e.metrics.alert_rate,
    }
}

fn fields(a: &StoredRun, b: &StoredRun) -> Vec<FieldChange> {
    let text = |s: &str| FieldValue::Text(s.to_owned());
    let optional = |s: &Option<String>| s.as_deref().map_or(FieldValue::Missing, text);
    let facts = |run: &StoredRun| {
        let (row, summary) = (&run.row, &run.summary);
        [
            (Field::Trial, text(&row.trial)),
            (Field::Region, text(&row.region)),
            (Field::EvaluationDate, FieldValue::Date(row.evaluation_date)),
            (Field::TrialSha256, text(&summary.trial.sha256)),
            (Field::RecordsSource, text(&row.records_source)),
            (Field::RecordsSha256, optional(&row.records_sha256)),
            (Field::RecordsRead, FieldValue::Count(row.records_read)),
            (
                Field::RecordsEvaluated,
                FieldValue::Count(row.records_evaluated),
            ),
            (Field::RecordErrors, FieldValue::Count(row.record_errors)),
            (Field::LivelabVersion, text(&summary.run.livelab_version)),
        ]
    };
    facts(a)
        .into_iter()
        .zip(facts(b))
        .filter(|((_, x), (_, y))| x != y)
        .map(|((field, a), (_, b))| FieldChange { field, a, b })
        .collect()
}

/// Values keyed (by plugin, or by pair) in either run, kept where they differ, in key
/// order. (A key twice in a run keeps its first value.)
fn by_key<K: Ord + Clone, T: PartialEq>(
    a: &StoredRun,
    b: &StoredRun,
    values: impl Fn(&StoredRun) -> Vec<(K, T)>,
) -> Vec<Changed<T, K>> {
    let first = |run: &StoredRun| {
        let mut map = BTreeMap::new();
        for (key, value) in values(run) {
            map.entry(key).or_insert(value);
        }
        map
    };
    let (mut a, mut b) = (first(a), first(b));
    let keys: BTreeSet<K> = a.keys().chain(b.keys()).cloned().collect();
    keys.into_iter()
        .filter_map(|key| {
            let (x, y) = (a.remove(&key), b.remove(&key));
            (x != y).then_some(Changed { key, a: x, b: y })
        })
        .collect()
}

fn case_mix(a: &StoredRun, b: &StoredRun) -> Vec<CaseMixChange> {
    let (x, y) = (&a.summary.run.case_mix, &b.summary.run.case_mix);
    let groups: BTreeSet<Subgroup> = x.keys().chain(y.keys()).copied().collect();
    groups
        .into_iter()
        .map(|subgroup| CaseMixChange {
            subgroup,
            a: x.get(&subgroup).copied().unwrap_or(0),
            b: y.get(&subgroup).copied().unwrap_or(0),
        })
        .filter(|c| c.a != c.b)
        .collect()
}

fn errors(a: &StoredRun, b: &StoredRun) -> Vec<ErrorChange> {
    let counts = |run: &StoredRun| {
        let mut map: BTreeMap<(String, Cause), u64> = BTreeMap::new();
        for p in plugins(run) {
            for (&cause, seen) in &p.errors {
                *map.entry((p.plugin.id.clone(), cause)).or_default() += seen.count;
            }
        }
        map
    };
    let (x, y) = (counts(a), counts(b));
    let keys: BTreeSet<&(String, Cause)> = x.keys().chain(y.keys()).collect();
    keys.into_iter()
        .map(|key| ErrorChange {
            plugin: key.0.clone(),
            cause: key.1,
            a: x.get(key).copied().unwrap_or(0),
            b: y.get(key).copied().unwrap_or(0),
        })
        .filter(|e| e.a != e.b)
        .collect()
}

#[cfg(test)]
mod tests {
    use livelab_host::run::{RecordCounts, RunSummary};
    use livelab_host::trial::TrialInfo;
    use livelab_host::trial::effectiveness::{ComparisonCounts, EffectivenessCounts};
    use livelab_host::trial::stats::PairedComparison;
    use livelab_host::{IngestStats, Limits};

    use super::*;
    use crate::model::RunRow;

    /// A paired comparison of `baseline` and `candidate` on topic `t`: `positive` and
    /// `negative` are the label-positive and label-negative tables (both, only baseline,
    /// only candidate, neither), with the figures derived as a trial derives them.
    fn comparison(
        baseline: &str,
        candidate: &str,
        positive: [u64; 4],
        negative: [u64; 4],
    ) -> ComparisonReport {
        let table = |[both, only_a, only_b, neither]: [u64; 4]| Paired {
            both,
            only_a,
            only_b,
            neither,
        };
        let counts = EffectivenessCounts {
            labels: "labels.csv".into(),
            plugins: Vec::new(),
            comparisons: vec![ComparisonCounts {
                baseline: baseline.into(),
                candidate: candidate.into(),
                topic: "t".into(),
                paired: PairedComparison {
                    label_positive: table(positive),
                    label_negative: table(negative),
                },
                ..ComparisonCounts::default()
            }],
        };
        counts.report().comparisons.remove(0)
    }

    /// A stored run whose only content is its paired comparisons.
    fn run(id: i64, comparisons: Vec<ComparisonReport>) -> StoredRun {
        let date = Date::new(2026, 1, 1).unwrap();
        StoredRun {
            row: RunRow {
                id: RunId(id),
                trial: "t".into(),
                region: "r".into(),
                evaluation_date: date,
                recorded_at: jiff::Timestamp::UNIX_EPOCH,
                records_source: "export".into(),
                records_sha256: None,
                report_dir: "out".into(),
                shards: None,
                records_read: 0,
                records_evaluated: 0,
                record_errors: 0,
                plugins: Vec::new(),
            },
            summary: livelab_host::trial::TrialSummary {
                schema: "test".into(),
                trial: TrialInfo {
                    name: "t".into(),
                    region: "r".into(),
                    description: None,
                    file: "t.toml".into(),
                    sha256: "0".repeat(64),
                    allow_unsigned: true,
                    trust: None,
                    labels: Some("labels.csv".into()),
                    shards: None,
                    decision_log: None,
                },
                run: RunSummary {
                    schema: "test".into(),
                    livelab_version: "0".into(),
                    evaluation_date: date,
                    seed: 0,
                    records_source: "export".into(),
                    records: RecordCounts {
                        read: 0,
                        evaluated: 0,
                        errors: 0,
                    },
                    record_errors: Vec::new(),
                    ingest: IngestStats::default(),
                    terminology: Vec::new(),
                    identifiers_allowed: false,
                    limits: Limits::default(),
                    workers: 1,
                    wall_ms: 0.0,
                    host_peak_rss_bytes: None,
                    evaluations_per_second: 0.0,
                    plugins: Vec::new(),
                    case_mix: BTreeMap::new(),
                },
                effectiveness: Some(livelab_host::trial::effectiveness::Effectiveness {
                    labels: "labels.csv".into(),
                    plugins: Vec::new(),
                    comparisons,
                }),
                live: None,
            },
        }
    }

    /// The changed comparisons as `(baseline → candidate, in a, in b)`.
    fn shape(diff: &RunDiff) -> Vec<(String, bool, bool)> {
        diff.paired
            .iter()
            .map(|c| {
                let k = &c.key;
                (
                    format!("{}→{}", k.baseline, k.candidate),
                    c.a.is_some(),
                    c.b.is_some(),
                )
            })
            .collect()
    }

    #[test]
    fn paired_comparisons_in_one_run_or_changed_are_listed_and_equal_ones_are_not() {
        let pos = [20, 3, 8, 4];
        let neg = [2, 9, 4, 50];
        let same = comparison("v1", "v2", pos, neg);
        let a = run(
            1,
            vec![
                same.clone(),
                comparison("v1", "v3", pos, neg),
                comparison("v1", "only-in-a", pos, neg),
            ],
        );
        let b = run(
            2,
            vec![
                comparison("v1", "only-in-b", pos, neg),
                same,
                // One more patient alerted by the candidate only, among label-positives.
                comparison("v1", "v3", [20, 3, 9, 4], neg),
            ],
        );
        let diff = RunDiff::between(&a, &b);
        assert_eq!(
            shape(&diff),
            [
                ("v1→only-in-a".to_owned(), true, false),
                ("v1→only-in-b".to_owned(), false, true),
                ("v1→v3".to_owned(), true, true),
            ],
            "in key order; v1→v2 is equal in both and absent: {diff:#?}"
        );
        assert!(!diff.is_empty());
        let changed = &diff.paired[2];
        let (x, y) = (changed.a.as_ref().unwrap(), changed.b.as_ref().unwrap());
        assert_eq!((x.patients, y.patients), (100, 101));
        assert_eq!(
            (x.sensitivity_mcnemar.c, y.sensitivity_mcnemar.c),
            (8, 9),
            "the candidate-only discordant pairs"
        );
        assert_ne!(x.sensitivity_difference, y.sensitivity_difference);
        assert_eq!(x.specificity_difference, y.specificity_difference);
        assert_eq!(
            changed.key.to_string(),
            "v1 → v3 (topic t)",
            "what the terminal and the dashboard name it by"
        );

        // A run against itself, and two runs with the same comparisons: nothing differs.
        assert!(RunDiff::between(&a, &a).is_empty());
        let again = run(3, a.summary.effectiveness.clone().unwrap().comparisons);
        assert!(RunDiff::between(&a, &again).paired.is_empty());
    }

    #[test]
    fn a_changed_comparison_reads_as_json_by_its_pair_and_back() {
        let a = run(1, vec![comparison("v1", "v2", [5, 0, 1, 0], [0, 1, 0, 9])]);
        let b = run(2, Vec::new());
        let diff = RunDiff::between(&a, &b);
        let json = serde_json::to_value(&diff).unwrap();
        let paired = &json["paired"][0];
        assert_eq!(
            (
                &paired["baseline"],
                &paired["candidate"],
                &paired["topic"],
                &paired["b"]
            ),
            (
                &serde_json::json!("v1"),
                &serde_json::json!("v2"),
                &serde_json::json!("t"),
                &serde_json::Value::Null
            ),
            "{json:#}"
        );
        assert_eq!(paired["a"]["sensitivity_mcnemar"]["c"], 1, "{json:#}");
        let back: RunDiff = serde_json::from_value(json).unwrap();
        assert_eq!(back, diff);
        // The per-plugin sections keep their `plugin` field.
        let plugin: Changed<Alerts> = Changed {
            key: plugin_key("p"),
            a: None,
            b: None,
        };
        assert_eq!(
            serde_json::to_value(&plugin).unwrap(),
            serde_json::json!({"plugin": "p", "a": null, "b": null})
        );
    }
}
