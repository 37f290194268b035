//! A `serve` session: a trial's plugins loaded as `livelab trial` loads them (the same
//! packages, pins, trust policy, limits, terminology and identifier handling, through
//! `Trial::planned_plugins` and `load_plugins`), one CDS service per plugin, the pseudonym
//! key, and the decision log. [`Session::evaluate`] is one service call after its request has
//! been checked: prefetch → record (the batch ingest) → the host's per-record evaluation →
//! decision log → spec cards, each card remembered (bounded) for feedback;
//! [`Session::feedback`] stores feedback on those cards beside the decision log. Both block
//! (an evaluation for as long as its plugin's deadline at most).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use jiff::civil::Date;
use livelab_cds_hooks::prefetch::{CodeFilterMode, PrefetchOptions, PrefetchPlan, derive_prefetch};
use livelab_cds_hooks::protocol::{
    Card, DiscoveryResponse, FeedbackOutcome, FeedbackRequest, Hook, RequestError,
    ServiceDescriptor,
};
use livelab_host::anonymise::{AnonymiseError, PseudonymKey};
use livelab_host::ingest::terminology::{Terminology, TerminologyError};
use livelab_host::ingest::{IngestOptions, record_from_resources};
use livelab_host::plugin::{Cause, Outcome};
use livelab_host::run::decision_log::{
    DecisionLog, DecisionLogConfig, DecisionLogError, OmittableField, output_json,
};
use livelab_host::run::plan::{PlanError, load_plugins, sandbox};
use livelab_host::trial::Trial;
use livelab_host::trial::run::TrialRunError;
use livelab_host::wit::{self, HookKind};
use livelab_host::{ArtifactCache, EvaluationContext, Plugin, Sandbox};
use serde_json::Value;

use crate::convert::{self, strip_patient};
use crate::feedback::{
    DecisionRef, FeedbackLine, FeedbackLog, FeedbackLogError, ISSUED_CARDS_MAX, IssuedCard,
    IssuedCards,
};

/// How much below the request deadline a plugin's own deadline is capped, so that a plugin
/// that runs to its deadline is answered as its failure, not as the request's timeout.
pub const PLUGIN_DEADLINE_MARGIN_MS: u64 = 50;

/// How to start a session besides what the trial file says.
pub struct SessionOptions<'a> {
    /// Where the decision log goes. Default `livelab-serve-out`.
    pub out: Option<PathBuf>,
    /// A pseudonym key file (as `livelab anonymise --key-file`); none: a random key.
    pub key_file: Option<PathBuf>,
    /// Evaluations in flight at once. Default: one per core.
    pub workers: Option<usize>,
    pub cache: ArtifactCache,
    /// Resolves `sample:<id>` plugin paths.
    pub samples: &'a dyn Fn(&str) -> Option<PathBuf>,
    /// The per-request deadline, if any: every plugin's own deadline is capped
    /// [`PLUGIN_DEADLINE_MARGIN_MS`] below it (the decision log shows the capped limits).
    pub request_deadline_ms: Option<u64>,
}

/// Why a session cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Trial(#[from] TrialRunError),
    #[error(transparent)]
    Terminology(#[from] TerminologyError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Key(#[from] AnonymiseError),
    #[error(transparent)]
    DecisionLog(#[from] DecisionLogError),
    #[error(transparent)]
    FeedbackLog(#[from] FeedbackLogError),
    #[error("plugin {id}: its discovery entry is not valid CDS Hooks: {message}")]
    Descriptor { id: String, message: String },
}

/// Where the record keys' pseudonym key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    /// Made at start-up and held only in memory: pseudonyms link within this session only.
    Random,
}

/// Why one call could not be answered with cards (the router maps each to a status).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The prefetched data does not make a record (no birth date, a resource of the wrong
    /// shape, ...). The message names the problem, never a value of the Patient.
    #[error("the prefetched data cannot be read as a record: {0}")]
    Record(String),
    /// The plugin failed (a trap, a limit, an invalid card such as a summary of 140
    /// characters or more): counted and logged as in a trial.
    #[error("the plugin failed: {0}")]
    Plugin(Cause),
    #[error("writing the decision log: {0}")]
    DecisionLog(#[from] DecisionLogError),
}

/// Why feedback was refused or could not be stored (the router maps each to a status).
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// A card uuid this session did not issue (or has forgotten), or one issued by another
    /// service. `index` is the feedback item's position.
    #[error("feedback item {index}: no card with this uuid was issued by this service")]
    UnknownCard { index: usize },
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("writing the feedback log: {0}")]
    Log(#[from] FeedbackLogError),
    /// The task storing it did not finish (it panicked).
    #[error("storing the feedback was interrupted")]
    Interrupted,
}

/// What one evaluation gave.
pub struct Answer {
    pub cards: Vec<Card>,
    /// The record's pseudonym (for the caller's logs).
    pub record: String,
    pub latency_ns: u64,
}

/// The decision log and the date its current run was opened for: a new day opens a new run
/// in the same file (each run's lines carry their evaluation date).
struct LogState {
    date: Date,
    log: DecisionLog,
}

/// One CDS service: a plugin at one hook, with the prefetch its data needs ask for.
struct Service {
    /// The index of its plugin.
    plugin: usize,
    hook: Hook,
    plan: PrefetchPlan,
}

/// The services of a plugin that serves `hooks`, as `(hook, service id)`: `patient-view` under
/// the plugin's id, a plugin that serves the WIT's `order-sign` under `<id>-order-sign` and
/// `<id>-order-select` (both hooks carry draft orders; the plugin sees them as `order-sign`).
pub fn services_of(plugin_id: &str, hooks: &[HookKind]) -> Vec<(Hook, String)> {
    let mut services = Vec::new();
    for hook in hooks {
        match hook {
            HookKind::PatientView => services.push((Hook::PatientView, plugin_id.to_owned())),
            HookKind::OrderSign => {
                for hook in [Hook::OrderSign, Hook::OrderSelect] {
                    services.push((hook, format!("{plugin_id}-{}", hook.as_str())));
                }
            }
        }
    }
    services
}

/// A running session's plugins, services and logs.
pub struct Session {
    sandbox: Sandbox,
    plugins: Vec<Plugin>,
    discovery: DiscoveryResponse,
    services: Vec<Service>,
    ingest: IngestOptions,
    seed: u64,
    key: PseudonymKey,
    pub key_source: KeySource,
    log: Mutex<LogState>,
    log_config: DecisionLogConfig,
    out: PathBuf,
    workers: usize,
    issued: Mutex<IssuedCards>,
    feedback: Mutex<FeedbackLog>,
}

impl Session {
    /// Loads the trial's plugins as `livelab trial` does and opens the decision log.
    pub fn start(trial: &Trial, options: SessionOptions<'_>) -> Result<Session, SessionError> {
        let spec = &trial.spec;
        let (_limits, planned) = trial.planned_plugins(options.samples)?;
        let workers = options
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let sandbox = sandbox(workers)?;
        let mut plugins = load_plugins(&sandbox, &options.cache, &planned)?;
        if let Some(request) = options.request_deadline_ms {
            let cap = request.saturating_sub(PLUGIN_DEADLINE_MARGIN_MS).max(1);
            for plugin in &mut plugins {
                plugin.limits.deadline_ms = plugin.limits.deadline_ms.min(cap);
            }
        }
        let terminology = Terminology::load(true, &spec.terminology)?;
        // A client's FHIR server does not translate codes: when the session's maps do (shipped
        // or the region's), a code filter could miss items coded in a mapped source system, so
        // sections are fetched whole and minimisation cuts them down to the declared codes.
        let prefetch = PrefetchOptions {
            code_filters: if terminology.maps().is_empty() {
                CodeFilterMode::CompleteCodesOnly
            } else {
                CodeFilterMode::Never
            },
        };
        let mut descriptors = Vec::new();
        let mut services = Vec::new();
        for (index, plugin) in plugins.iter().enumerate() {
            for (hook, id) in services_of(&plugin.info.id, &plugin.info.hooks) {
                let plan =
                    derive_prefetch(&convert::data_needs(&plugin.info.data_needs), &prefetch);
                let descriptor = ServiceDescriptor {
                    hook,
                    title: Some(plugin.info.name.clone()),
                    description: plugin.info.description.clone(),
                    id,
                    prefetch: plan.discovery_map(),
                    usage_requirements: None,
                };
                descriptor
                    .validate()
                    .map_err(|e| SessionError::Descriptor {
                        id: plugin.info.id.clone(),
                        message: e.to_string(),
                    })?;
                descriptors.push(descriptor);
                services.push(Service {
                    plugin: index,
                    hook,
                    plan,
                });
            }
        }
        // `--key-file`, else the trial file's `pseudonym_key`, else a key for this session only.
        let (key, key_source) = match options.key_file.as_ref().or(spec.pseudonym_key.as_ref()) {
            Some(path) => (
                PseudonymKey::from_file(path)?,
                KeySource::File(path.clone()),
            ),
            None => (PseudonymKey::random(), KeySource::Random),
        };
        let out = options
            .out
            .unwrap_or_else(|| PathBuf::from("livelab-serve-out"));
        let log_config = spec.decision_log.clone().unwrap_or(DecisionLogConfig {
            path: PathBuf::from("decisions.jsonl"),
            omit: Default::default(),
        });
        let date = today();
        let log_path = out.join(&log_config.path);
        let log = DecisionLog::open(&log_path, log_config.omit.clone(), date)?;
        let feedback = FeedbackLog::open(&log_path.with_file_name(FEEDBACK_FILE))?;
        Ok(Session {
            sandbox,
            plugins,
            discovery: DiscoveryResponse {
                services: descriptors,
            },
            services,
            ingest: IngestOptions {
                terminology: Arc::new(terminology),
                allow_identifiers: spec.allow_identifiers,
                ..IngestOptions::default()
            },
            seed: spec.seed,
            key,
            key_source,
            log: Mutex::new(LogState { date, log }),
            log_config,
            out,
            workers,
            issued: Mutex::new(IssuedCards::new(ISSUED_CARDS_MAX)),
            feedback: Mutex::new(feedback),
        })
    }

    pub fn discovery(&self) -> &DiscoveryResponse {
        &self.discovery
    }

    /// The index of the service `id`, and its prefetch plan.
    pub fn service(&self, id: &str) -> Option<(usize, &PrefetchPlan)> {
        let index = self.discovery.services.iter().position(|s| s.id == id)?;
        Some((index, &self.services[index].plan))
    }

    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }

    /// How many evaluations may run at once (the sandbox's pool is sized for this many).
    pub fn workers(&self) -> usize {
        self.workers
    }

    pub fn decision_log_path(&self) -> PathBuf {
        self.out.join(&self.log_config.path)
    }

    /// `feedback.jsonl`, beside the decision log.
    pub fn feedback_log_path(&self) -> PathBuf {
        self.decision_log_path().with_file_name(FEEDBACK_FILE)
    }

    /// One checked call of service `index`: `patient_id` is `context.patientId`, `prefetch`
    /// what [`PrefetchPlan::check`] returned (declared keys only), `draft_orders` the
    /// context's `draftOrders` Bundle of an order hook. The prefetched Patient is reduced to
    /// [`convert::PATIENT_FIELDS`] and any other Patient resource is dropped before ingest;
    /// the record key is the keyed pseudonym of `patient_id`. Draft orders are read by the
    /// same ingest, as the medications of a record of their own, and reach the plugin as the
    /// WIT's `order-sign` hook.
    ///
    /// With a `slice` shorter than the plugin's deadline, `None` when the plugin was still
    /// running at its end: nothing was logged or remembered, and the caller evaluates again
    /// without a slice (see [`Plugin::evaluate_hook_within`]). Without one, always `Some`.
    pub fn evaluate(
        &self,
        index: usize,
        patient_id: &str,
        prefetch: &BTreeMap<String, Option<&Value>>,
        draft_orders: Option<&Value>,
        slice: Option<Duration>,
    ) -> Option<Result<Answer, CallError>> {
        let service = &self.services[index];
        let plugin = &self.plugins[service.plugin];
        let patient = prefetch
            .get("patient")
            .copied()
            .flatten()
            .map(strip_patient);
        let mut resources: Vec<(Option<&str>, &Value)> = Vec::new();
        if let Some(patient) = &patient {
            resources.push((None, patient));
        }
        for (key, value) in prefetch {
            let Some(value) = *value else { continue };
            if key == "patient" {
                continue;
            }
            if value.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
                let entries = value.get("entry").and_then(Value::as_array);
                for entry in entries.into_iter().flatten() {
                    let Some(resource) = entry.get("resource") else {
                        continue;
                    };
                    if !is_patient(resource) {
                        resources.push((entry.get("fullUrl").and_then(Value::as_str), resource));
                    }
                }
            } else if !is_patient(value) {
                resources.push((None, value));
            }
        }
        let date = today();
        let record_key = self.key.patient_pseudonym(patient_id);
        let read = |resources: &[(Option<&str>, &Value)], source: &str| {
            record_from_resources(resources, &record_key, source, date, self.ingest.clone())
                .0
                .map_err(|e| CallError::Record(e.message))
        };
        let record = match read(&resources, "prefetch") {
            Ok(record) => record,
            Err(error) => return Some(Err(error)),
        };
        let hook = match (service.hook, draft_orders) {
            (Hook::PatientView, _) | (_, None) => wit::Hook::PatientView,
            (Hook::OrderSign | Hook::OrderSelect, Some(bundle)) => {
                let orders: Vec<(Option<&str>, &Value)> = (patient.iter().map(|p| (None, p)))
                    .chain(draft_medication_requests(bundle))
                    .collect();
                match read(&orders, "draftOrders") {
                    Ok(orders) => wit::Hook::OrderSign(orders.patient.medications),
                    Err(error) => return Some(Err(error)),
                }
            }
        };
        let ctx = EvaluationContext {
            evaluation_date: date,
            seed: self.seed,
            keep_inputs: true,
        };
        let evaluation = match slice {
            Some(slice) => {
                plugin.evaluate_hook_within(&self.sandbox, &record, &hook, &ctx, slice)?
            }
            None => plugin.evaluate_hook(&self.sandbox, &record, &hook, &ctx),
        };
        Some(self.answer(index, plugin, record_key, date, evaluation))
    }

    /// Logs one evaluation and turns its cards into the spec's, remembering them for feedback.
    fn answer(
        &self,
        index: usize,
        plugin: &Plugin,
        record_key: String,
        date: Date,
        evaluation: Outcome,
    ) -> Result<Answer, CallError> {
        {
            let mut state = self.log.lock().unwrap_or_else(|e| e.into_inner());
            if state.date != date {
                let log = DecisionLog::open(
                    &self.decision_log_path(),
                    self.log_config.omit.clone(),
                    date,
                )?;
                let old = std::mem::replace(&mut *state, LogState { date, log });
                old.log.finish()?;
            }
            state.log.append(plugin, &record_key, &evaluation)?;
            state.log.flush()?;
        }
        match &evaluation.result {
            Ok(cards) => {
                let cards: Vec<Card> = cards.iter().map(convert::card).collect();
                if !cards.is_empty() {
                    let decision = Arc::new(DecisionRef {
                        record: (!self.log_config.omit.contains(&OmittableField::Record))
                            .then(|| record_key.clone()),
                        plugin: plugin.info.id.clone(),
                        plugin_version: plugin.info.version.clone(),
                        plugin_sha256: plugin.sha256.clone(),
                        output_sha256: output_json(&evaluation.result).1,
                        evaluation_date: date.to_string(),
                    });
                    let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
                    for (card_index, card) in cards.iter().enumerate() {
                        let Some(uuid) = &card.uuid else { continue };
                        let issued_card = IssuedCard {
                            service: index,
                            decision: decision.clone(),
                            card_index,
                            suggestions: card
                                .suggestions
                                .iter()
                                .filter_map(|s| s.uuid.clone())
                                .collect(),
                        };
                        issued.insert(uuid.clone(), issued_card);
                    }
                }
                Ok(Answer {
                    cards,
                    record: record_key,
                    latency_ns: evaluation.latency_ns,
                })
            }
            Err(failure) => Err(CallError::Plugin(failure.cause())),
        }
    }

    /// Feedback on service `index`'s cards: every item's card must be one this service issued
    /// (and this session still remembers) and its accepted suggestions the card's, or nothing
    /// is stored; then one line per item is appended to the feedback log and flushed. Returns
    /// each item's outcome, for the counts.
    pub fn feedback(
        &self,
        index: usize,
        request: &FeedbackRequest,
    ) -> Result<Vec<FeedbackOutcome>, FeedbackError> {
        let service = &self.discovery.services[index].id;
        let found: Vec<(IssuedCard, Vec<usize>)> = {
            let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
            let mut found = Vec::with_capacity(request.feedback.len());
            for (item_index, item) in request.feedback.iter().enumerate() {
                let card = issued
                    .get(&item.card)
                    .filter(|card| card.service == index)
                    .ok_or(FeedbackError::UnknownCard { index: item_index })?;
                let accepted = item
                    .accepted_suggestions
                    .iter()
                    .map(|s| card.suggestions.iter().position(|uuid| *uuid == s.id))
                    .collect::<Option<Vec<usize>>>()
                    .ok_or(RequestError::InvalidFeedback {
                        index: item_index,
                        reason: "an accepted suggestion is not one of the card's",
                    })?;
                found.push((card.clone(), accepted));
            }
            found
        };
        let lines: Vec<FeedbackLine<'_>> = found
            .iter()
            .zip(&request.feedback)
            .map(|((card, accepted), item)| {
                FeedbackLine::new(service, card, item, accepted.clone())
            })
            .collect();
        self.feedback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(&lines)?;
        Ok(request.feedback.iter().map(|item| item.outcome).collect())
    }

    /// Flushes the decision log and the feedback log (at shutdown).
    pub fn finish(&self) -> Result<(), SessionError> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .log
            .flush()?;
        self.feedback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()?;
        Ok(())
    }
}

/// The feedback log's file name, beside the decision log.
pub const FEEDBACK_FILE: &str = "feedback.jsonl";

/// The `MedicationRequest`s of a `draftOrders` Bundle (other orders, such as a
/// `ServiceRequest`, have no place in the WIT's `order-sign` hook, which carries medications).
fn draft_medication_requests(bundle: &Value) -> impl Iterator<Item = (Option<&str>, &Value)> {
    let entries = bundle.get("entry").and_then(Value::as_array);
    entries.into_iter().flatten().filter_map(|entry| {
        let resource = entry.get("resource")?;
        (resource.get("resourceType").and_then(Value::as_str) == Some("MedicationRequest"))
            .then(|| (entry.get("fullUrl").and_then(Value::as_str), resource))
    })
}

fn is_patient(resource: &Value) -> bool {
    resource.get("resourceType").and_then(Value::as_str) == Some("Patient")
}

/// Today's date: a live session evaluates on the day of the call.
fn today() -> Date {
    jiff::Zoned::now().date()
}
