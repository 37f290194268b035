//! Two runs compared, keeping only what differs (as `dvc exp diff` or MLflow's run
//! comparison do): the runs' facts, plugins (version, component, signature), effectiveness
//! with intervals, alert counts, case mix and errors by cause. Plugins are matched by id.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::civil::Date;
use livelab_host::plugin::Cause;
use livelab_host::run::outcome::Subgroup;
use livelab_host::run::{CardCounts, PluginSummary};
use livelab_host::trial::effectiveness::PluginEffectiveness;
use livelab_host::trial::stats::{Confusion, Proportion};
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

/// Something keyed by plugin (and topic) that is in one run only, or differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Changed<T> {
    pub plugin: String,
    pub a: Option<T>,
    pub b: Option<T>,
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
            plugins: by_plugin(a, b, |run| {
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
                        (p.plugin.clone(), version)
                    })
                    .collect()
            }),
            effectiveness: by_plugin(a, b, |run| {
                effectiveness(run)
                    .map(|e| (e.plugin.clone(), measures(e)))
                    .collect()
            }),
            alerts: by_plugin(a, b, |run| {
                plugins(run)
                    .map(|p| {
                        let alerts = Alerts {
                            patients_with_cards: p.patients_with_cards,
                            cards: p.cards.clone(),
                        };
                        (p.plugin.id.clone(), alerts)
                    })
                    .collect()
            }),
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

/// Values keyed by plugin id in either run, kept where they differ. (A plugin id twice in a
/// run keeps its first.)
fn by_plugin<T: PartialEq>(
    a: &StoredRun,
    b: &StoredRun,
    values: impl Fn(&StoredRun) -> Vec<(String, T)>,
) -> Vec<Changed<T>> {
    let first = |run: &StoredRun| {
        let mut map = BTreeMap::new();
        for (plugin, value) in values(run) {
            map.entry(plugin).or_insert(value);
        }
        map
    };
    let (mut a, mut b) = (first(a), first(b));
    let ids: BTreeSet<String> = a.keys().chain(b.keys()).cloned().collect();
    ids.into_iter()
        .filter_map(|plugin| {
            let (x, y) = (a.remove(&plugin), b.remove(&plugin));
            (x != y).then_some(Changed { plugin, a: x, b: y })
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
