//! Loading a plugin component and evaluating it, one fresh instance per (plugin, patient).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, types::ComponentItem};
use wasmtime::{Store, Trap};

use crate::cache::ArtifactCache;
use crate::record::{Record, minimise};
use crate::sandbox::{EvaluationState, LimitExceeded, Limits, Sandbox, StoreSetup};
use crate::wit::{self, Card, Hook, PluginBindings, PluginBindingsPre, PluginInfo, Request};

/// Why a plugin cannot be loaded. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "plugin not found: {path} (build the sample plugins with `cargo build`, or pass the path of a .wasm component)"
    )]
    NotFound { path: PathBuf },
    #[error("cannot read plugin {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a WebAssembly file (it does not start with `\\0asm`); a plugin is a WebAssembly component"
    )]
    NotWasm { path: PathBuf },
    #[error(
        "{path} is a core WebAssembly module, not a component; build it for `wasm32-wasip2` (Rust) or wrap it with `wasm-tools component new`"
    )]
    CoreModule { path: PathBuf },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "{path} does not export `{expected}`{found}; build it against the WIT in this livelab's `wit/` (world `livelab:cds/plugin`)"
    )]
    WrongWorld {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },
    #[error(
        "{path} was built against {found}, but this host speaks livelab:cds@{expected}; rebuild the plugin against this livelab's `wit/`"
    )]
    WrongVersion {
        path: PathBuf,
        found: String,
        expected: &'static str,
    },
    #[error(
        "{path} imports something this host does not provide: {reason}; a plugin may import only `livelab:cds/log` and WASI p2"
    )]
    UnknownImport { path: PathBuf, reason: String },
    #[error("{path}: `describe` failed: {reason}")]
    Describe { path: PathBuf, reason: String },
    #[error("{path}: `describe` returned an invalid plugin-info: {reason}")]
    InvalidInfo { path: PathBuf, reason: String },
}

/// A loaded, validated plugin: compiled, linked, and described.
pub struct Plugin {
    pub path: PathBuf,
    /// Lowercase hex SHA-256 of the component file: the identity of exactly what ran.
    pub sha256: String,
    pub info: PluginInfo,
    pub limits: Limits,
    pre: PluginBindingsPre<EvaluationState>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("id", &self.info.id)
            .finish_non_exhaustive()
    }
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version and layer fields: core modules are `01 00 00 00`; components have layer 1.
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];

impl Plugin {
    /// Reads, checks, compiles (or loads from the cache), links and describes a plugin.
    pub fn load(
        sandbox: &Sandbox,
        cache: &ArtifactCache,
        path: &Path,
        limits: Limits,
    ) -> Result<Plugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => LoadError::NotFound {
                path: path.to_owned(),
            },
            _ => LoadError::Io {
                path: path.to_owned(),
                source,
            },
        })?;
        if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
            return Err(LoadError::NotWasm {
                path: path.to_owned(),
            });
        }
        if bytes[4..8] == CORE_MODULE_VERSION {
            return Err(LoadError::CoreModule {
                path: path.to_owned(),
            });
        }
        let sha256 = sha256_hex(&bytes);
        let component = cache
            .component(sandbox.engine(), &bytes, &sha256)
            .map_err(|e| LoadError::Invalid {
                path: path.to_owned(),
                reason: format!("{e:#}"),
            })?;
        check_world(sandbox, &component, path)?;
        let instance_pre =
            sandbox
                .linker()
                .instantiate_pre(&component)
                .map_err(|e| LoadError::UnknownImport {
                    path: path.to_owned(),
                    reason: format!("{e:#}"),
                })?;
        let pre = PluginBindingsPre::new(instance_pre).map_err(|e| LoadError::WrongWorld {
            path: path.to_owned(),
            expected: wit::EVALUATOR_EXPORT,
            found: format!(" ({e:#})"),
        })?;
        let info = describe(sandbox, &pre, &limits).map_err(|reason| LoadError::Describe {
            path: path.to_owned(),
            reason,
        })?;
        validate_info(&info).map_err(|reason| LoadError::InvalidInfo {
            path: path.to_owned(),
            reason,
        })?;
        let plugin = Plugin {
            path: path.to_owned(),
            sha256,
            info,
            limits,
            pre,
        };
        Ok(plugin)
    }

    /// Evaluates this plugin on one record in a fresh instance. Never panics; every way the
    /// plugin can fail becomes a [`Failure`] in the outcome.
    pub fn evaluate(&self, sandbox: &Sandbox, record: &Record, ctx: &EvaluationContext) -> Outcome {
        let request = Request {
            hook: Hook::PatientView,
            patient: minimise(&record.patient, &self.info.data_needs),
        };
        self.evaluate_request(
            sandbox,
            &request,
            ctx.store_setup(&self.limits, &record.key, &self.sha256),
        )
    }

    /// Evaluates an already minimised request in a fresh instance.
    pub fn evaluate_request(
        &self,
        sandbox: &Sandbox,
        request: &Request,
        setup: StoreSetup,
    ) -> Outcome {
        let start = Instant::now();
        let instance = self.instantiate(sandbox, &setup);
        let instantiate_ns = start.elapsed().as_nanos() as u64;
        let (result, store) = match instance {
            Ok(mut instance) => {
                let result = instance.evaluate(request);
                (result, instance.store)
            }
            Err((failure, store)) => (Err(failure), store),
        };
        let state = store.data();
        let peak_memory_bytes = state.peak_memory_bytes() as u64;
        let log = state
            .log
            .lines
            .iter()
            .map(|(level, line)| format!("{}: {line}", level.as_str()))
            .collect();
        // Dropping the store returns the instance's slot to the pool (zeroing or releasing
        // its memory): part of what every evaluation costs, so inside the latency.
        drop(store);
        Outcome {
            result,
            latency_ns: start.elapsed().as_nanos() as u64,
            instantiate_ns,
            peak_memory_bytes,
            log,
        }
    }

    /// A fresh instance in its own store. Benchmarks use it to time instantiation and the
    /// call apart, and to measure what reusing an instance would save.
    pub fn instantiate(
        &self,
        sandbox: &Sandbox,
        setup: &StoreSetup,
    ) -> Result<LiveInstance<'_>, (Failure, Store<EvaluationState>)> {
        let mut store = sandbox.store(setup);
        match self.pre.instantiate(&mut store) {
            Ok(bindings) => Ok(LiveInstance {
                plugin: self,
                store,
                bindings,
            }),
            Err(e) => {
                let failure =
                    Failure::from_wasmtime(&e, &self.limits, &store.data().captured_output().1);
                Err((failure, store))
            }
        }
    }
}

/// A live plugin instance and its store.
pub struct LiveInstance<'p> {
    plugin: &'p Plugin,
    store: Store<EvaluationState>,
    bindings: PluginBindings,
}

impl LiveInstance<'_> {
    /// Calls `evaluate` (lowering the request, running, lifting and checking the cards).
    pub fn evaluate(&mut self, request: &Request) -> Result<Vec<Card>, Failure> {
        let limits = &self.plugin.limits;
        match self
            .bindings
            .livelab_cds_evaluator()
            .call_evaluate(&mut self.store, request)
        {
            Ok(Ok(cards)) => check_output(cards, limits),
            Ok(Err(e)) => Err(Failure::PluginError {
                kind: format!("{:?}", e.kind).to_lowercase().replace('_', "-"),
                message: e.message,
            }),
            Err(e) => Err(Failure::from_wasmtime(
                &e,
                limits,
                &self.store.data().captured_output().1,
            )),
        }
    }
}

/// Calls `describe` once, in the sandbox, under the plugin's limits.
fn describe(
    sandbox: &Sandbox,
    pre: &PluginBindingsPre<EvaluationState>,
    limits: &Limits,
) -> Result<PluginInfo, String> {
    let setup = StoreSetup {
        limits: limits.clone(),
        wall_clock_secs: 0,
        random_seed: 0,
    };
    let mut store = sandbox.store(&setup);
    let described = pre
        .instantiate(&mut store)
        .and_then(|instance| instance.livelab_cds_evaluator().call_describe(&mut store));
    described.map_err(|e| {
        Failure::from_wasmtime(&e, limits, &store.data().captured_output().1).to_string()
    })
}

/// Run-wide inputs of every evaluation.
#[derive(Clone, Debug)]
pub struct EvaluationContext {
    pub evaluation_date: jiff::civil::Date,
    /// The run's seed; each evaluation's randomness derives from it, the plugin and the record.
    pub seed: u64,
}

impl EvaluationContext {
    pub fn store_setup(
        &self,
        limits: &Limits,
        record_key: &str,
        plugin_sha256: &str,
    ) -> StoreSetup {
        let midnight = self
            .evaluation_date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp().as_second().max(0) as u64)
            .unwrap_or(0);
        let digest = Sha256::new()
            .chain_update(self.seed.to_le_bytes())
            .chain_update(plugin_sha256.as_bytes())
            .chain_update([0])
            .chain_update(record_key.as_bytes())
            .finalize();
        StoreSetup {
            limits: limits.clone(),
            wall_clock_secs: midnight,
            random_seed: u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")),
        }
    }
}

/// What one evaluation produced, with what it cost.
#[derive(Debug)]
pub struct Outcome {
    pub result: Result<Vec<Card>, Failure>,
    /// Instantiation, lowering the request, the call, lifting the cards, and returning the
    /// instance to the pool.
    pub latency_ns: u64,
    pub instantiate_ns: u64,
    pub peak_memory_bytes: u64,
    pub log: Vec<String>,
}

/// Why an evaluation produced no cards. `cause()` is a stable name for summaries.
#[derive(Clone, Debug, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum Failure {
    #[error("the plugin reported an error ({kind}): {message}")]
    PluginError { kind: String, message: String },
    #[error("deadline exceeded: the evaluation ran longer than {deadline_ms} ms")]
    DeadlineExceeded { deadline_ms: u64 },
    #[error("{message}")]
    MemoryLimit { message: String },
    #[error("{message}")]
    TableLimit { message: String },
    #[error("{message}")]
    LogLimit { message: String },
    #[error("stack overflow: the plugin recursed past the stack limit")]
    StackOverflow,
    #[error("the plugin trapped ({trap}){}", panic_suffix(.panic))]
    Trap {
        trap: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        panic: Option<String>,
    },
    #[error("output limit exceeded: {message}")]
    OutputLimit { message: String },
    #[error("invalid card: {message}")]
    InvalidOutput { message: String },
    #[error("host error: {message}")]
    Host { message: String },
}

fn panic_suffix(panic: &Option<String>) -> String {
    panic.as_ref().map(|p| format!(": {p}")).unwrap_or_default()
}

impl Failure {
    pub fn cause(&self) -> &'static str {
        match self {
            Failure::PluginError { .. } => "plugin-error",
            Failure::DeadlineExceeded { .. } => "deadline-exceeded",
            Failure::MemoryLimit { .. } => "memory-limit",
            Failure::TableLimit { .. } => "table-limit",
            Failure::LogLimit { .. } => "log-limit",
            Failure::StackOverflow => "stack-overflow",
            Failure::Trap { .. } => "trap",
            Failure::OutputLimit { .. } => "output-limit",
            Failure::InvalidOutput { .. } => "invalid-output",
            Failure::Host { .. } => "host-error",
        }
    }

    /// Classifies an error from instantiating or calling a plugin.
    fn from_wasmtime(error: &wasmtime::Error, limits: &Limits, stderr: &str) -> Failure {
        if let Some(limit) = error.downcast_ref::<LimitExceeded>() {
            let message = limit.to_string();
            return match limit {
                LimitExceeded::Memory { .. } => Failure::MemoryLimit { message },
                LimitExceeded::Table { .. } => Failure::TableLimit { message },
                LimitExceeded::Log { .. } => Failure::LogLimit { message },
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Failure::DeadlineExceeded {
                deadline_ms: limits.deadline_ms,
            },
            Some(Trap::StackOverflow) => Failure::StackOverflow,
            Some(trap) => Failure::Trap {
                trap: trap
                    .to_string()
                    .trim_start_matches("wasm trap: ")
                    .to_owned(),
                panic: panic_message(stderr),
            },
            None => Failure::Host {
                message: format!("{error:#}"),
            },
        }
    }
}

/// The panic message a Rust guest printed to stderr before trapping, if any.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.find("panicked at")?;
    let text: String = stderr[start..]
        .lines()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    Some(text.chars().take(300).collect())
}

fn check_output(cards: Vec<Card>, limits: &Limits) -> Result<Vec<Card>, Failure> {
    if cards.len() > limits.max_cards {
        return Err(Failure::OutputLimit {
            message: format!("{} cards, the limit is {}", cards.len(), limits.max_cards),
        });
    }
    let mut bytes = 0;
    for (i, card) in cards.iter().enumerate() {
        let summary_chars = card.summary.chars().count();
        if summary_chars == 0 || summary_chars >= 140 {
            return Err(Failure::InvalidOutput {
                message: format!(
                    "card {i}: summary has {summary_chars} characters; CDS Hooks asks for 1 to 139"
                ),
            });
        }
        if card.source.label.is_empty() {
            return Err(Failure::InvalidOutput {
                message: format!("card {i}: source.label is empty"),
            });
        }
        bytes += card.summary.len()
            + card.detail.as_ref().map_or(0, String::len)
            + card.source.label.len()
            + card.source.url.as_ref().map_or(0, String::len)
            + card
                .suggestions
                .iter()
                .map(|s| {
                    s.label.len() + s.actions.iter().map(|a| a.description.len()).sum::<usize>()
                })
                .sum::<usize>();
    }
    if bytes > limits.max_output_bytes {
        return Err(Failure::OutputLimit {
            message: format!(
                "{bytes} bytes of card text, the limit is {}",
                limits.max_output_bytes
            ),
        });
    }
    Ok(cards)
}

/// Checks the component's exports before linking, so a wrong world or version gets a
/// message that says which, instead of a linker error.
fn check_world(sandbox: &Sandbox, component: &Component, path: &Path) -> Result<(), LoadError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(sandbox.engine())
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
        .map(|(name, _)| name.to_owned())
        .collect();
    if exports.iter().any(|e| e == wit::EVALUATOR_EXPORT) {
        return Ok(());
    }
    let prefix = format!("{}/evaluator@", wit::PACKAGE);
    if let Some(other) = exports.iter().find(|e| e.starts_with(&prefix)) {
        return Err(LoadError::WrongVersion {
            path: path.to_owned(),
            found: format!("{}@{}", wit::PACKAGE, other.trim_start_matches(&prefix)),
            expected: wit::PACKAGE_VERSION,
        });
    }
    Err(LoadError::WrongWorld {
        path: path.to_owned(),
        expected: wit::EVALUATOR_EXPORT,
        found: if exports.is_empty() {
            " (it exports no interfaces)".into()
        } else {
            format!(" (it exports {})", exports.join(", "))
        },
    })
}

fn validate_info(info: &PluginInfo) -> Result<(), String> {
    let id_ok = !info.id.is_empty()
        && info.id.len() <= 64
        && info
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !id_ok {
        return Err(format!(
            "id {:?} must be 1 to 64 characters of a-z, 0-9 and -",
            info.id
        ));
    }
    if info.hooks.is_empty() {
        return Err("it serves no hooks".into());
    }
    if info.name.is_empty() || info.version.is_empty() {
        return Err("name and version must not be empty".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_found_on_stderr() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:10:5:\ndeliberate panic\nnote: run with `RUST_BACKTRACE=1`";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("panicked at src/lib.rs:10:5: deliberate panic")
        );
        assert_eq!(panic_message("nothing"), None);
    }

    #[test]
    fn failures_have_stable_cause_names() {
        let f = Failure::DeadlineExceeded { deadline_ms: 5 };
        assert_eq!(f.cause(), "deadline-exceeded");
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["cause"], "deadline-exceeded");
    }
}
