//! Loading a plugin component and evaluating it, one fresh instance per (plugin, patient).

pub mod cache;
pub mod compile;
pub mod write_package;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use wasmtime::component::{Component, types::ComponentItem};
use wasmtime::{Store, Trap};

use crate::digest::sha256_hex;
use crate::ingest::record::{Record, minimise, minimise_hook};
use crate::package::manifest::{LoadedManifest, ManifestError, PluginSource};
use crate::package::signing::{PluginSignature, SignatureStatus, TrustPolicy};
use crate::plugin::cache::{ArtifactCache, Obtained};
use crate::plugin::compile::CompileError;
use crate::sandbox::{EvaluationState, LimitExceeded, Limits, Sandbox, StoreSetup};
use crate::sandbox::{LimitError, LimitOverrides};
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
    #[error("{path} was not compiled: {bound}")]
    Compile { path: PathBuf, bound: CompileError },
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
    #[error(
        "{path} exports {} with types that differ from this host's ({reason}); rebuild the plugin against this livelab's `wit/`",
        wit::EVALUATOR_EXPORT
    )]
    WrongTypes { path: PathBuf, reason: String },
    #[error(
        "{path}: instantiating the component failed before `describe` could run (its start function or initialisers): {reason}"
    )]
    Instantiate { path: PathBuf, reason: String },
    #[error("{path}: `describe` failed: {reason}")]
    Describe { path: PathBuf, reason: String },
    #[error("{path}: `describe` returned an invalid plugin-info: {reason}")]
    InvalidInfo { path: PathBuf, reason: String },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(
        "{component} does not match its manifest {manifest}: its sha256 is {actual}, the manifest pins {expected}; the component was changed or replaced after packaging (re-package and re-sign it, or find out who changed it)"
    )]
    ComponentChanged {
        manifest: PathBuf,
        component: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "{path}: sha256 {actual} differs from the pinned {expected}; the plugin is not the one this trial was written for (review it with `livelab check`, then update the pin)"
    )]
    PinMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "{path}: refused: {status}; sign the package with a key the trust policy lists (`livelab sign`), or allow unsigned plugins for local authoring (`--allow-unsigned`, or `allow_unsigned = true` in the trial)"
    )]
    Signature {
        path: PathBuf,
        status: Box<SignatureStatus>,
    },
    #[error(
        "{manifest}: the manifest and the component's `describe` disagree: {}; re-package the plugin (`livelab package`) so that the reviewer reads what it really does",
        .disagreements.join("; ")
    )]
    Undeclared {
        manifest: PathBuf,
        disagreements: Vec<String>,
    },
    #[error("{path}: {source}")]
    Limits { path: PathBuf, source: LimitError },
}

/// How a plugin is to be loaded: the limits around it and what it must prove.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The run's limits (host defaults with the trial's or command line's changes).
    pub limits: Limits,
    /// The region's changes for this plugin, applied after what its manifest asks for.
    pub overrides: LimitOverrides,
    /// The component's SHA-256 as the trial pins it.
    pub expected_sha256: Option<String>,
    pub trust: Arc<TrustPolicy>,
    /// Admit plugins without a trusted signature (local authoring). An invalid signature
    /// is refused regardless: it means tampering, not a missing step.
    pub allow_unsigned: bool,
}

impl LoadOptions {
    /// Local authoring: default limits, no pin, unsigned plugins admitted.
    pub fn authoring(limits: Limits) -> LoadOptions {
        LoadOptions {
            limits,
            overrides: LimitOverrides::default(),
            expected_sha256: None,
            trust: Arc::new(TrustPolicy::empty()),
            allow_unsigned: true,
        }
    }
}

/// A loaded, validated plugin: compiled, linked, and described.
pub struct Plugin {
    /// What was asked for: the package directory, its `plugin.toml`, or a bare component.
    pub path: PathBuf,
    /// The component file that runs.
    pub component_path: PathBuf,
    /// Lowercase hex SHA-256 of the component file: the identity of exactly what ran.
    pub sha256: String,
    pub info: PluginInfo,
    pub limits: Limits,
    /// The package's manifest; `None` for a bare component.
    pub manifest: Option<LoadedManifest>,
    pub signature: SignatureStatus,
    /// True when the trial pinned the component's hash (and it matched).
    pub pinned: bool,
    /// The granted data directory, mounted read-only at `/data`.
    pub data_dir: Option<Arc<Path>>,
    /// Whether the component was compiled now or loaded precompiled, and how long it took.
    pub obtained: Obtained,
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

const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version and layer fields: core modules are `01 00 00 00`; components have layer 1.
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];

impl Plugin {
    /// Reads a package or bare component and checks everything a trial requires before
    /// any record is read: the manifest, the component's hash against the manifest and the
    /// trial's pin, the signature against the trust policy, the granted data directory's
    /// hash, the WIT world and version, the imports, `describe` against the manifest, and
    /// the limits against the host ceiling.
    pub fn load(
        sandbox: &Sandbox,
        cache: &ArtifactCache,
        path: &Path,
        options: &LoadOptions,
    ) -> Result<Plugin, LoadError> {
        let source = PluginSource::open(path)?;
        let component_path = source.component_path().to_owned();
        let bytes = read_component(&component_path)?;
        let manifest = source.manifest().cloned();
        if let Some(m) = &manifest
            && let Some(actual) = m.component_mismatch(&bytes)
        {
            return Err(LoadError::ComponentChanged {
                manifest: m.path.clone(),
                component: component_path,
                expected: m.manifest.plugin.sha256.clone(),
                actual,
            });
        }
        let sha256 = sha256_hex(&bytes);
        if let Some(expected) = &options.expected_sha256
            && *expected != sha256
        {
            return Err(LoadError::PinMismatch {
                path: path.to_owned(),
                expected: expected.clone(),
                actual: sha256,
            });
        }
        let signature = signature_status(manifest.as_ref(), &options.trust)?;
        let refused = match &signature {
            SignatureStatus::Trusted { .. } => false,
            SignatureStatus::Invalid { .. } => true,
            _ => !options.allow_unsigned,
        };
        if refused {
            return Err(LoadError::Signature {
                path: path.to_owned(),
                status: Box::new(signature),
            });
        }
        let requested = manifest
            .as_ref()
            .map(|m| m.manifest.limits.clone())
            .unwrap_or_default();
        let limits = options
            .limits
            .with(&requested.then(&options.overrides))
            .map_err(|source| LoadError::Limits {
                path: path.to_owned(),
                source,
            })?;
        let data_dir: Option<Arc<Path>> = manifest
            .as_ref()
            .and_then(|m| m.data_dir.as_deref())
            .map(Arc::from);
        let (info, pre, obtained) = compile_and_describe(
            sandbox,
            cache,
            &component_path,
            &bytes,
            &sha256,
            &limits,
            data_dir.clone(),
        )?;
        if let Some(m) = &manifest {
            let disagreements = m.manifest.disagreements(&info);
            if !disagreements.is_empty() {
                return Err(LoadError::Undeclared {
                    manifest: m.path.clone(),
                    disagreements,
                });
            }
        }
        Ok(Plugin {
            path: path.to_owned(),
            component_path,
            sha256,
            info,
            limits,
            manifest,
            signature,
            pinned: options.expected_sha256.is_some(),
            data_dir,
            obtained,
            pre,
        })
    }

    /// Evaluates this plugin on one record in a fresh instance, at `patient-view`. Never
    /// panics; every way the plugin can fail becomes a [`Failure`] in the outcome.
    pub fn evaluate(&self, sandbox: &Sandbox, record: &Record, ctx: &EvaluationContext) -> Outcome {
        self.evaluate_hook(sandbox, record, &Hook::PatientView, ctx)
    }

    /// [`Plugin::evaluate`] at a given hook: the record and the hook's draft orders are both
    /// minimised to the plugin's declared needs.
    pub fn evaluate_hook(
        &self,
        sandbox: &Sandbox,
        record: &Record,
        hook: &Hook,
        ctx: &EvaluationContext,
    ) -> Outcome {
        let (request, setup) = self.prepare(record, hook, ctx);
        let outcome = self.evaluate_request(sandbox, &request, &setup);
        keep_inputs(outcome, request, setup, ctx)
    }

    /// What the plugin is given for `record` at `hook` (minimised to its declared needs), and
    /// its store setup.
    fn prepare(
        &self,
        record: &Record,
        hook: &Hook,
        ctx: &EvaluationContext,
    ) -> (Request, StoreSetup) {
        let request = Request {
            hook: minimise_hook(hook, &self.info.data_needs),
            patient: minimise(&record.patient, &self.info.data_needs),
        };
        (request, self.store_setup(ctx, &record.key))
    }

    /// [`Plugin::evaluate_hook`] given at most `slice` of wall-clock time, for a caller that
    /// must not be held for the plugin's whole deadline. `None` when the plugin was still
    /// running at the end of the slice: nothing of that attempt is kept, and since an
    /// evaluation is a pure function of the record, the run's seed and its date (fresh
    /// instance, virtual clocks, read-only grants), evaluating again with the whole deadline
    /// gives what one evaluation would have. An outcome is the plugin's own, with its limits;
    /// with a slice at least as long as the deadline, it is always one.
    pub fn evaluate_hook_within(
        &self,
        sandbox: &Sandbox,
        record: &Record,
        hook: &Hook,
        ctx: &EvaluationContext,
        slice: Duration,
    ) -> Option<Outcome> {
        let slice_ms = u64::try_from(slice.as_millis()).unwrap_or(u64::MAX).max(1);
        if slice_ms >= self.limits.deadline_ms {
            return Some(self.evaluate_hook(sandbox, record, hook, ctx));
        }
        let (request, setup) = self.prepare(record, hook, ctx);
        let mut sliced = setup.clone();
        sliced.limits.deadline_ms = slice_ms;
        let outcome = self.evaluate_request(sandbox, &request, &sliced);
        if matches!(outcome.result, Err(Failure::DeadlineExceeded { .. })) {
            return None;
        }
        Some(keep_inputs(outcome, request, setup, ctx))
    }

    /// The component's imports (`namespace:package/interface@version`), all of which the
    /// host provides (loading fails otherwise).
    pub fn imports(&self, engine: &wasmtime::Engine) -> Vec<String> {
        self.pre
            .instance_pre()
            .component()
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// The store setup of this plugin's evaluation of one record: its limits, grants, the
    /// virtual clock and the seed derived from the run, the plugin and the record.
    pub fn store_setup(&self, ctx: &EvaluationContext, record_key: &str) -> StoreSetup {
        let mut setup = ctx.store_setup(&self.limits, record_key, &self.sha256);
        setup.data_dir = self.data_dir.clone();
        setup
    }

    /// Evaluates an already minimised request in a fresh instance.
    pub fn evaluate_request(
        &self,
        sandbox: &Sandbox,
        request: &Request,
        setup: &StoreSetup,
    ) -> Outcome {
        let start = Instant::now();
        let instance = self.instantiate(sandbox, setup);
        let instantiate_ns = start.elapsed().as_nanos() as u64;
        let (result, store) = match instance {
            Ok(mut instance) => {
                let result = instance.evaluate(request);
                (result, instance.store)
            }
            Err((failure, store)) => (Err(failure), store),
        };
        // Zero when the sandbox does not meter fuel.
        let counted = store.get_fuel().map_or(0, |left| {
            setup.limits.fuel.unwrap_or(u64::MAX).saturating_sub(left)
        });
        let fuel = match &result {
            Err(failure) if !failure.leaves_fuel_exact() => Fuel::AtLeast(counted),
            _ => Fuel::Exact(counted),
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
            fuel,
            log,
            input: None,
            setup: None,
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
        if let Some(message) = store.data().setup_error.clone() {
            return Err((Failure::Host { detail: message }, store));
        }
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

/// Keeps what went into an evaluation in its outcome when the run asks for it (the decision
/// log records it).
fn keep_inputs(
    mut outcome: Outcome,
    request: Request,
    setup: StoreSetup,
    ctx: &EvaluationContext,
) -> Outcome {
    if ctx.keep_inputs {
        outcome.input = Some(request);
        outcome.setup = Some(setup);
    }
    outcome
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
            Ok(Err(e)) => Err(plugin_error(e, limits)),
            Err(e) => Err(Failure::from_wasmtime(
                &e,
                limits,
                &self.store.data().captured_output().1,
            )),
        }
    }
}

fn read_component(path: &Path) -> Result<Vec<u8>, LoadError> {
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
    Ok(bytes)
}

/// The signature status of a package (a bare component is unsigned).
fn signature_status(
    manifest: Option<&LoadedManifest>,
    trust: &TrustPolicy,
) -> Result<SignatureStatus, LoadError> {
    let Some(m) = manifest else {
        return Ok(SignatureStatus::Unsigned);
    };
    let signature = match &m.signature_path {
        Some(path) => Some(PluginSignature::load(path).map_err(|e| {
            LoadError::Manifest(ManifestError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })
        })?),
        None => None,
    };
    Ok(crate::package::signing::verify(
        &m.bytes,
        signature.as_ref(),
        trust,
    ))
}

/// Compiles (or loads from the cache), checks the world and imports, links, and calls
/// `describe`.
fn compile_and_describe(
    sandbox: &Sandbox,
    cache: &ArtifactCache,
    path: &Path,
    bytes: &[u8],
    sha256: &str,
    limits: &Limits,
    data_dir: Option<Arc<Path>>,
) -> Result<(PluginInfo, PluginBindingsPre<EvaluationState>, Obtained), LoadError> {
    let (component, obtained) = cache
        .component(sandbox, bytes, sha256)
        .map_err(|e| match e {
            CompileError::Invalid(reason) => LoadError::Invalid {
                path: path.to_owned(),
                reason,
            },
            bound => LoadError::Compile {
                path: path.to_owned(),
                bound,
            },
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
    let info = describe(sandbox, &pre, limits, data_dir).map_err(|failed| {
        let path = path.to_owned();
        match failed {
            // The exports are looked up by name and version when linking, but their types
            // only when first instantiated: a component built against a changed WIT fails
            // here.
            DescribeFailure::Instantiate(reason) | DescribeFailure::Call(reason)
                if reason.contains("type mismatch") =>
            {
                LoadError::WrongTypes { path, reason }
            }
            DescribeFailure::Instantiate(reason) => LoadError::Instantiate { path, reason },
            DescribeFailure::Call(reason) => LoadError::Describe { path, reason },
        }
    })?;
    validate_info(&info).map_err(|reason| LoadError::InvalidInfo {
        path: path.to_owned(),
        reason,
    })?;
    Ok((info, pre, obtained))
}

/// Where loading a plugin's self-description failed: making the instance (start functions,
/// initialisers) or the `describe` call itself.
enum DescribeFailure {
    Instantiate(String),
    Call(String),
}

/// Calls `describe` once, in the sandbox, under the plugin's limits.
fn describe(
    sandbox: &Sandbox,
    pre: &PluginBindingsPre<EvaluationState>,
    limits: &Limits,
    data_dir: Option<Arc<Path>>,
) -> Result<PluginInfo, DescribeFailure> {
    let setup = StoreSetup {
        limits: limits.clone(),
        random_seed: 0,
        data_dir,
    };
    let mut store = sandbox.store(&setup);
    let failure = |e: &wasmtime::Error, store: &wasmtime::Store<EvaluationState>| {
        Failure::from_wasmtime(e, limits, &store.data().captured_output().1).to_string()
    };
    let instance = pre
        .instantiate(&mut store)
        .map_err(|e| DescribeFailure::Instantiate(failure(&e, &store)))?;
    instance
        .livelab_cds_evaluator()
        .call_describe(&mut store)
        .map_err(|e| DescribeFailure::Call(failure(&e, &store)))
}

/// Run-wide inputs of every evaluation.
#[derive(Clone, Debug)]
pub struct EvaluationContext {
    pub evaluation_date: jiff::civil::Date,
    /// The run's seed; each evaluation's randomness derives from it, the plugin and the record.
    pub seed: u64,
    /// Keep each evaluation's request in its outcome (for the decision log).
    pub keep_inputs: bool,
}

impl EvaluationContext {
    pub fn store_setup(
        &self,
        limits: &Limits,
        record_key: &str,
        plugin_sha256: &str,
    ) -> StoreSetup {
        let digest = Sha256::new()
            .chain_update(self.seed.to_le_bytes())
            .chain_update(plugin_sha256.as_bytes())
            .chain_update([0])
            .chain_update(record_key.as_bytes())
            .finalize();
        StoreSetup {
            limits: limits.clone(),
            random_seed: u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")),
            data_dir: None,
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
    /// Fuel consumed by instantiation and the call: a deterministic measure of CPU work,
    /// the same on every machine for the same plugin and input.
    pub fuel: Fuel,
    pub log: Vec<String>,
    /// The request the plugin received, kept when the run writes a decision log.
    pub input: Option<Request>,
    /// What the store was made from (limits, clock, seed), kept with the input.
    pub setup: Option<StoreSetup>,
}

/// The fuel an evaluation consumed, as far as it is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fuel {
    /// The whole cost (zero when the sandbox does not meter fuel, as in some benchmarks).
    Exact(u64),
    /// A trap inside wasm code stopped the evaluation: compiled code keeps the fuel a
    /// function consumes in a register and stores it only at calls and returns, so what
    /// the store counted misses the interrupted frames (an endless loop stopped after
    /// 320 ms once counted 88). Only a lower bound; never part of a fuel distribution.
    AtLeast(u64),
}

impl Fuel {
    /// The fuel, when it is the whole cost.
    pub fn exact(self) -> Option<u64> {
        match self {
            Fuel::Exact(fuel) => Some(fuel),
            Fuel::AtLeast(_) => None,
        }
    }

    /// What was counted, when it is only a lower bound.
    pub fn at_least(self) -> Option<u64> {
        match self {
            Fuel::Exact(_) => None,
            Fuel::AtLeast(fuel) => Some(fuel),
        }
    }
}

impl fmt::Display for Fuel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fuel::Exact(fuel) => write!(f, "{fuel}"),
            Fuel::AtLeast(fuel) => write!(f, "at least {fuel}"),
        }
    }
}

/// The stable name of a [`Failure`], as summaries, `results.csv` and metrics count it.
/// Declared in the alphabetical order of the names, so that maps keyed by cause list them as
/// a reader expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    DeadlineExceeded,
    FuelExhausted,
    HostError,
    InvalidOutput,
    LogLimit,
    MemoryLimit,
    OutputLimit,
    PluginError,
    ResourceLimit,
    StackOverflow,
    TableLimit,
    Trap,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::DeadlineExceeded => "deadline-exceeded",
            Cause::FuelExhausted => "fuel-exhausted",
            Cause::HostError => "host-error",
            Cause::InvalidOutput => "invalid-output",
            Cause::LogLimit => "log-limit",
            Cause::MemoryLimit => "memory-limit",
            Cause::OutputLimit => "output-limit",
            Cause::PluginError => "plugin-error",
            Cause::ResourceLimit => "resource-limit",
            Cause::StackOverflow => "stack-overflow",
            Cause::TableLimit => "table-limit",
            Cause::Trap => "trap",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an evaluation produced no cards. `cause()` is a stable name for summaries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum Failure {
    #[error("the plugin reported an error ({kind}): {detail}")]
    PluginError { kind: String, detail: String },
    #[error("deadline exceeded: the evaluation ran longer than {deadline_ms} ms")]
    DeadlineExceeded { deadline_ms: u64 },
    #[error("fuel exhausted: the evaluation used its whole budget of {fuel} fuel")]
    FuelExhausted { fuel: u64 },
    #[error("{detail}")]
    MemoryLimit { detail: String },
    #[error("{detail}")]
    TableLimit { detail: String },
    #[error("{detail}")]
    LogLimit { detail: String },
    #[error("stack overflow: the plugin recursed past the stack limit")]
    StackOverflow,
    #[error("the plugin trapped ({trap}){}", panic_suffix(.panic))]
    Trap {
        trap: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        panic: Option<String>,
    },
    #[error("output limit exceeded: {detail}")]
    OutputLimit { detail: String },
    #[error("resource limit exceeded: {detail}")]
    ResourceLimit { detail: String },
    #[error("invalid card: {detail}")]
    InvalidOutput { detail: String },
    #[error("host error: {detail}")]
    #[serde(rename = "host-error")]
    Host { detail: String },
}

fn panic_suffix(panic: &Option<String>) -> String {
    panic.as_ref().map(|p| format!(": {p}")).unwrap_or_default()
}

impl Failure {
    pub fn cause(&self) -> Cause {
        match self {
            Failure::PluginError { .. } => Cause::PluginError,
            Failure::DeadlineExceeded { .. } => Cause::DeadlineExceeded,
            Failure::FuelExhausted { .. } => Cause::FuelExhausted,
            Failure::MemoryLimit { .. } => Cause::MemoryLimit,
            Failure::TableLimit { .. } => Cause::TableLimit,
            Failure::LogLimit { .. } => Cause::LogLimit,
            Failure::StackOverflow => Cause::StackOverflow,
            Failure::Trap { .. } => Cause::Trap,
            Failure::OutputLimit { .. } => Cause::OutputLimit,
            Failure::ResourceLimit { .. } => Cause::ResourceLimit,
            Failure::InvalidOutput { .. } => Cause::InvalidOutput,
            Failure::Host { .. } => Cause::HostError,
        }
    }

    /// Whether the fuel counted up to this failure is the evaluation's whole cost. It is
    /// when the plugin returned (its output was then refused) or a host call stopped it
    /// (compiled code stores its fuel before every call); it is not when wasm code itself
    /// trapped: the deadline's interrupt, a stack overflow, a wasm trap, a memory or table
    /// growth the limiter refused. Fuel exhaustion is exact: it is the budget.
    pub fn leaves_fuel_exact(&self) -> bool {
        match self.cause() {
            Cause::DeadlineExceeded
            | Cause::StackOverflow
            | Cause::Trap
            | Cause::MemoryLimit
            | Cause::TableLimit => false,
            Cause::FuelExhausted
            | Cause::HostError
            | Cause::InvalidOutput
            | Cause::LogLimit
            | Cause::OutputLimit
            | Cause::PluginError
            | Cause::ResourceLimit => true,
        }
    }

    /// Classifies an error from instantiating or calling a plugin.
    fn from_wasmtime(error: &wasmtime::Error, limits: &Limits, stderr: &str) -> Failure {
        if let Some(limit) = error.downcast_ref::<LimitExceeded>() {
            let detail = limit.to_string();
            return match limit {
                LimitExceeded::Memory { .. } => Failure::MemoryLimit { detail },
                LimitExceeded::Table { .. } => Failure::TableLimit { detail },
                LimitExceeded::Log { .. } => Failure::LogLimit { detail },
            };
        }
        if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            return Failure::Trap {
                trap: format!(
                    "exit: the plugin called exit (status {}) instead of returning cards or an error",
                    exit.0
                ),
                panic: panic_message(stderr),
            };
        }
        if error
            .downcast_ref::<wasmtime::component::ResourceTableError>()
            .is_some()
            || format!("{error:#}").contains("handle limit exceeded")
        {
            return Failure::ResourceLimit {
                detail: "the plugin holds too many host resources (handles) at once; drop what it no longer needs".into(),
            };
        }
        // wasmtime bounds what one call may copy out of the guest ("hostcall fuel", set from
        // the output limits in `Sandbox::store`); its error type is private.
        if format!("{error:#}").contains("fuel allocated for hostcalls has been exhausted") {
            return Failure::OutputLimit {
                detail: format!(
                    "the plugin returned more data than the output limits allow ({} cards, {} bytes of text)",
                    limits.max_cards, limits.max_output_bytes
                ),
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Failure::DeadlineExceeded {
                deadline_ms: limits.deadline_ms,
            },
            Some(Trap::StackOverflow) => Failure::StackOverflow,
            Some(Trap::OutOfFuel) => Failure::FuelExhausted {
                fuel: limits.fuel.unwrap_or(u64::MAX),
            },
            Some(trap) => Failure::Trap {
                trap: trap
                    .to_string()
                    .trim_start_matches("wasm trap: ")
                    .to_owned(),
                panic: panic_message(stderr),
            },
            None if is_canonical_abi_error(error) => Failure::InvalidOutput {
                detail: format!(
                    "the plugin's output does not follow the component model's canonical ABI ({error:#})"
                ),
            },
            None => Failure::Host {
                detail: format!("{error:#}"),
            },
        }
    }
}

/// A domain failure the plugin reported, its message bounded like any output string.
fn plugin_error(e: crate::wit::EvaluationError, limits: &Limits) -> Failure {
    use crate::wit::ErrorKind;
    if e.message.len() > limits.max_string_bytes {
        return Failure::OutputLimit {
            detail: format!(
                "the error message has {} bytes, the limit per string is {}",
                e.message.len(),
                limits.max_string_bytes
            ),
        };
    }
    Failure::PluginError {
        kind: match e.kind {
            ErrorKind::InvalidRequest => "invalid-request",
            ErrorKind::UnsupportedHook => "unsupported-hook",
            ErrorKind::Other => "other",
        }
        .into(),
        // Shown in terminal tables and results.csv: nothing in it may act on a terminal.
        detail: crate::text::escape_hidden(&e.message).into_owned(),
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
    let text: String = text.chars().take(300).collect();
    Some(crate::text::escape_hidden(&text).into_owned())
}

/// Whether wasmtime refused to lift or lower a value because of what the guest wrote or
/// allocated: a pointer out of bounds or misaligned, a bad discriminant, invalid UTF-8. That is
/// the plugin's fault (`invalid-output`), unlike a host fault. wasmtime's error type for these
/// is private, so they are known by the messages of the version pinned in Cargo.toml
/// (`tests/all/hostile.rs` fails if a wasmtime update changes them).
fn is_canonical_abi_error(error: &wasmtime::Error) -> bool {
    const MESSAGES: &[&str] = &[
        "out of bounds of memory",
        "not aligned",
        "realloc return",
        "discriminant",
        "utf-8",
        "payload for case",
    ];
    let text = format!("{error:#}");
    MESSAGES.iter().any(|m| text.contains(m))
}

/// What each element of the output (a card, a topic coding, a suggestion, an action) costs
/// against `max_output_bytes` besides its text: about what it takes in `results.jsonl`, the
/// decision log and the host's memory. Without it, empty elements were free: one card with
/// 500,000 empty actions was "ok" and wrote 17.5 MB per evaluation (issue 12, item 5).
pub const OUTPUT_ELEMENT_BYTES: usize = 64;
/// Suggestions one card may offer; CDS Hooks sets no number, a clinician reads a handful.
pub const MAX_SUGGESTIONS_PER_CARD: usize = 16;
/// Actions one suggestion may take.
pub const MAX_ACTIONS_PER_SUGGESTION: usize = 16;

fn check_output(cards: Vec<Card>, limits: &Limits) -> Result<Vec<Card>, Failure> {
    if cards.len() > limits.max_cards {
        return Err(Failure::OutputLimit {
            detail: format!("{} cards, the limit is {}", cards.len(), limits.max_cards),
        });
    }
    let mut bytes = 0;
    for (i, card) in cards.iter().enumerate() {
        if card.suggestions.len() > MAX_SUGGESTIONS_PER_CARD {
            return Err(Failure::OutputLimit {
                detail: format!(
                    "card {i}: {} suggestions, the limit per card is {MAX_SUGGESTIONS_PER_CARD}",
                    card.suggestions.len()
                ),
            });
        }
        for (j, suggestion) in card.suggestions.iter().enumerate() {
            if suggestion.actions.len() > MAX_ACTIONS_PER_SUGGESTION {
                return Err(Failure::OutputLimit {
                    detail: format!(
                        "card {i}, suggestion {j}: {} actions, the limit per suggestion is {MAX_ACTIONS_PER_SUGGESTION}",
                        suggestion.actions.len()
                    ),
                });
            }
        }
        let elements = 1
            + usize::from(card.source.topic.is_some())
            + card.suggestions.len()
            + card
                .suggestions
                .iter()
                .map(|s| s.actions.len())
                .sum::<usize>();
        bytes += elements * OUTPUT_ELEMENT_BYTES;
        let summary_chars = card.summary.chars().count();
        if summary_chars == 0 || summary_chars >= 140 {
            return Err(Failure::InvalidOutput {
                detail: format!(
                    "card {i}: summary has {summary_chars} characters; CDS Hooks asks for 1 to 139"
                ),
            });
        }
        if card.source.label.is_empty() {
            return Err(Failure::InvalidOutput {
                detail: format!("card {i}: source.label is empty"),
            });
        }
        for (field, text) in card_strings(card) {
            if text.len() > limits.max_string_bytes {
                return Err(Failure::OutputLimit {
                    detail: format!(
                        "card {i}: {field} has {} bytes, the limit per string is {}",
                        text.len(),
                        limits.max_string_bytes
                    ),
                });
            }
            bytes += text.len();
        }
    }
    if bytes > limits.max_output_bytes {
        return Err(Failure::OutputLimit {
            detail: format!(
                "{bytes} bytes of card output (text, and {OUTPUT_ELEMENT_BYTES} per card, coding, suggestion and action), the limit is {}",
                limits.max_output_bytes
            ),
        });
    }
    Ok(cards)
}

/// Every string of a card with the name of its field, for the output bounds.
fn card_strings(card: &Card) -> Vec<(&'static str, &str)> {
    let mut strings = vec![("summary", card.summary.as_str())];
    strings.extend(card.detail.as_deref().map(|d| ("detail", d)));
    strings.push(("source.label", &card.source.label));
    strings.extend(card.source.url.as_deref().map(|u| ("source.url", u)));
    if let Some(topic) = &card.source.topic {
        strings.push(("source.topic.code", &topic.code));
        if let crate::wit::CodeSystem::Other(uri) = &topic.system {
            strings.push(("source.topic.system", uri));
        }
    }
    for suggestion in &card.suggestions {
        strings.push(("suggestion.label", &suggestion.label));
        for action in &suggestion.actions {
            strings.push(("suggestion.action.description", &action.description));
        }
    }
    strings
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

/// Bounds on what `describe` may declare.
const MAX_DATA_NEEDS: usize = 64;
const MAX_CODE_FILTERS: usize = 1_000;
const MAX_NAME_CHARS: usize = 120;
const MAX_VERSION_CHARS: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 2_048;
/// The longest code in the shipped code systems is a SNOMED CT id (18 digits); a prefix is
/// a part of a code.
const MAX_CODE_PREFIX_BYTES: usize = 32;

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
    // Minimising a record against the needs runs on the host, outside the plugin's deadline
    // and fuel: the declaration itself must be small.
    let filters: usize = info.data_needs.iter().map(|n| n.codes.len()).sum();
    if info.data_needs.len() > MAX_DATA_NEEDS || filters > MAX_CODE_FILTERS {
        return Err(format!(
            "it declares {} data needs with {filters} code filters; at most {MAX_DATA_NEEDS} needs and {MAX_CODE_FILTERS} filters (declare code prefixes, not every code)",
            info.data_needs.len()
        ));
    }
    // What a plugin says of itself is printed by `check`, `describe` and every run, and the
    // version is written with each decision: bounded, and nothing in it may act on a terminal
    // (an escape sequence in a code prefix could hide the lines above it on the review screen).
    for (field, text, min_chars, max_chars) in [
        ("name", info.name.as_str(), 1, MAX_NAME_CHARS),
        ("version", info.version.as_str(), 1, MAX_VERSION_CHARS),
        (
            "description",
            info.description.as_str(),
            0,
            MAX_DESCRIPTION_CHARS,
        ),
    ] {
        let chars = text.chars().count();
        if chars < min_chars || chars > max_chars {
            return Err(format!(
                "its {field} has {chars} characters; {min_chars} to {max_chars} are allowed"
            ));
        }
        if let Some((at, c)) = crate::text::first_hidden(text) {
            return Err(format!(
                "its {field} holds a control or invisible character (U+{:04X}) at character {at}; a plugin's {field} must be plain printable text",
                c as u32
            ));
        }
    }
    if let Err(e) = semver::Version::parse(&info.version) {
        return Err(format!(
            "its version {:?} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0): {e}",
            info.version
        ));
    }
    for need in &info.data_needs {
        for filter in &need.codes {
            // Empty is allowed: it matches every code of the system.
            let ok = filter.prefix.len() <= MAX_CODE_PREFIX_BYTES
                && filter.prefix.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(format!(
                    "a code filter of its {} need has the prefix {}; a prefix is at most {MAX_CODE_PREFIX_BYTES} printable ASCII characters without spaces",
                    need.section.as_str(),
                    crate::text::escape_hidden(&format!("{:?}", filter.prefix))
                ));
            }
        }
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

    /// What a hostile plugin might declare of itself, each refused with the field it names.
    #[test]
    fn describe_strings_are_bounded_and_plain() {
        use crate::wit::{CodeFilter, CodeSystem, DataNeed, HookKind, Section};
        let good = || PluginInfo {
            id: "good".into(),
            name: "A good plugin".into(),
            version: "1.2.0".into(),
            description: "Flags what it should; é and ² are fine.".into(),
            hooks: vec![HookKind::PatientView],
            data_needs: vec![DataNeed {
                section: Section::Conditions,
                codes: vec![
                    CodeFilter {
                        system: CodeSystem::Icpc,
                        prefix: "K86".into(),
                    },
                    CodeFilter {
                        system: CodeSystem::Atc,
                        prefix: String::new(),
                    },
                ],
                look_back_days: None,
            }],
        };
        assert_eq!(validate_info(&good()), Ok(()));
        type Edit = fn(&mut PluginInfo);
        let hostile: &[(&str, Edit, &str)] = &[
            (
                "ANSI in the name",
                |i| i.name = "ok\u{1b}[2J\u{1b}]0;owned\u{7}".into(),
                "name holds a control",
            ),
            (
                "bidi override in the description",
                |i| i.description = "safe \u{202e}txe.lleh".into(),
                "description holds a control",
            ),
            (
                "newline in the name",
                |i| i.name = "line one\nline two".into(),
                "name holds a control",
            ),
            (
                "4 MiB version",
                |i| i.version = "1.0.0-".to_owned() + &"x".repeat(4 << 20),
                "version has 4194310 characters",
            ),
            (
                "version not semver",
                |i| i.version = "latest".into(),
                "not a semantic version",
            ),
            (
                "empty name",
                |i| i.name = String::new(),
                "name has 0 characters",
            ),
            (
                "long description",
                |i| i.description = "d".repeat(2_049),
                "description has 2049 characters",
            ),
            (
                "escape in a code prefix",
                |i| i.data_needs[0].codes[0].prefix = "K\u{1b}[1A\u{1b}[2K".into(),
                "code filter of its conditions need",
            ),
            (
                "long code prefix",
                |i| i.data_needs[0].codes[0].prefix = "1".repeat(33),
                "at most 32 printable ASCII",
            ),
            (
                "space in a code prefix",
                |i| i.data_needs[0].codes[0].prefix = "K 86".into(),
                "without spaces",
            ),
        ];
        for (what, edit, expected) in hostile {
            let mut info = good();
            edit(&mut info);
            let err = validate_info(&info).expect_err(what);
            assert!(err.contains(expected), "{what}: {err}");
            assert!(
                !err.chars().any(crate::text::is_hidden),
                "{what}: the refusal itself carries a hidden character: {err:?}"
            );
        }
    }

    #[test]
    fn a_plugins_error_message_cannot_act_on_a_terminal() {
        use crate::wit::{ErrorKind, EvaluationError};
        let failure = plugin_error(
            EvaluationError {
                kind: ErrorKind::Other,
                message: "\u{1b}]0;owned\u{7}\u{1b}[1A\u{202e}".into(),
            },
            &Limits::default(),
        );
        let Failure::PluginError { detail, .. } = failure else {
            panic!("a plugin error: {failure:?}")
        };
        assert_eq!(detail, "\\u{1b}]0;owned\\u{7}\\u{1b}[1A\\u{202e}");
        let panic = panic_message("panicked at src/lib.rs:1:1:\n\u{1b}[2Jboom").unwrap();
        assert_eq!(panic, "panicked at src/lib.rs:1:1: \\u{1b}[2Jboom");
    }

    #[test]
    fn failures_have_stable_cause_names() {
        let s = String::new;
        let failures = [
            Failure::PluginError {
                kind: s(),
                detail: s(),
            },
            Failure::DeadlineExceeded { deadline_ms: 5 },
            Failure::FuelExhausted { fuel: 1 },
            Failure::MemoryLimit { detail: s() },
            Failure::TableLimit { detail: s() },
            Failure::LogLimit { detail: s() },
            Failure::StackOverflow,
            Failure::Trap {
                trap: s(),
                panic: None,
            },
            Failure::OutputLimit { detail: s() },
            Failure::ResourceLimit { detail: s() },
            Failure::InvalidOutput { detail: s() },
            Failure::Host { detail: s() },
        ];
        let mut names = Vec::new();
        for f in &failures {
            // The failure's own tag, the cause's serde name and its text are one name.
            let tag = serde_json::to_value(f).unwrap()["cause"].clone();
            let cause = serde_json::to_value(f.cause()).unwrap();
            assert_eq!(tag, cause, "{f:?}");
            assert_eq!(cause, f.cause().as_str(), "{f:?}");
            names.push(f.cause().as_str());
        }
        // Declared in name order, so maps keyed by cause list them alphabetically.
        let mut causes: Vec<Cause> = failures.iter().map(Failure::cause).collect();
        causes.sort();
        let sorted: Vec<&str> = causes.iter().map(|c| c.as_str()).collect();
        names.sort();
        assert_eq!(sorted, names);
    }
}
