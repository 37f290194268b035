//! The sandbox: one wasmtime engine for a run, and the per-evaluation store a plugin runs in.
//!
//! What a plugin gets (see `docs/SECURITY.md`): WASI p2 only because Rust's and other
//! languages' standard libraries import it, with nothing granted — no preopened directory,
//! no environment, no arguments, no network, stdout/stderr captured into bounded buffers,
//! a wall clock frozen at the Unix epoch, a monotonic clock that starts at zero and
//! randomness seeded per evaluation. CPU time (epoch deadline), memory, tables, log output
//! and card output are bounded; any breach ends that one evaluation with a named cause.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::wit::LogLevel;

/// Where a granted data directory appears inside the sandbox (read-only).
pub const DATA_GUEST_PATH: &str = "/data";

/// How often the epoch ticker advances the engine's epoch: the deadline's resolution.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Per-evaluation limits. Defaults are safe for a trial on a GP's record; a trial or a
/// plugin's manifest may change them ([`LimitOverrides`]), never past [`Limits::ceiling`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock deadline for one evaluation (instantiation and call), in milliseconds.
    pub deadline_ms: u64,
    /// Deterministic CPU budget per evaluation, in wasmtime fuel units (about one per wasm
    /// instruction): the CPU bound by default. Fuel is always metered and reported; `None`
    /// sets no budget (the deadline still applies).
    pub fuel: Option<u64>,
    /// Cap on the sum of all linear memories of the instance, in bytes.
    pub memory_bytes: usize,
    /// Cap on the elements of any table.
    pub table_elements: usize,
    /// Maximum number of cards one evaluation may return.
    pub max_cards: usize,
    /// Maximum total bytes of text in the cards of one evaluation.
    pub max_output_bytes: usize,
    /// Maximum bytes of any one string in a card.
    pub max_string_bytes: usize,
    /// Maximum log lines, and bytes of log text, per evaluation (stdout/stderr included).
    pub max_log_lines: usize,
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // The CPU bound is fuel, which counts the same on an idle and a loaded machine,
            // so a rerun on a busy machine gives the same results (issue 12, item 11). The
            // heaviest sample evaluation uses 11.1 million (the JavaScript home-bp, 7 ms);
            // the Rust samples at most 0.2 million. 10⁹ is 90 times the heaviest, about
            // 0.6 s of CPU here.
            deadline_ms: DEFAULT_DEADLINE_MS,
            fuel: Some(DEFAULT_FUEL),
            memory_bytes: 64 << 20,
            table_elements: 20_000,
            max_cards: 20,
            max_output_bytes: 64 << 10,
            max_string_bytes: 8 << 10,
            max_log_lines: 100,
            max_log_bytes: 16 << 10,
        }
    }
}

/// The default fuel budget per evaluation (see [`Limits::default`]).
pub const DEFAULT_FUEL: u64 = 1_000_000_000;

/// The default wall-clock deadline: a backstop for what fuel does not count (time in host
/// calls, instantiating a large component), generous enough that load does not reach it. A
/// sample evaluation takes at most 16 ms, so only a 100-fold slowdown could; a trial that
/// needs a latency bound (a CDS Hooks service answers "on the order of 500 ms") sets one.
pub const DEFAULT_DEADLINE_MS: u64 = 2_000;

/// The hard ceiling no per-run or per-plugin limit may exceed: what the pooling allocator
/// reserves per instance.
pub const MEMORY_CEILING_BYTES: usize = 1 << 30;

/// What one call may copy out of a plugin at the least (wasmtime's "hostcall fuel"; the
/// output limits raise it when they are set higher). Large enough that an oversized answer
/// reaches the output checks and gets their specific message; small enough that a plugin
/// cannot make the host allocate without bound (wasmtime's own default is 128 MiB).
pub const HOSTCALL_COPY_BYTES: usize = 16 << 20;

/// The wasm stack every evaluation gets. Host-wide (wasmtime sets it per engine), so no
/// plugin can ask for more; deep recursion past it is a `stack-overflow` failure.
pub const STACK_BYTES: usize = 512 << 10;

impl Limits {
    /// The most any trial or manifest may ask for. Past these, one evaluation could hold a
    /// worker for too long or exhaust the host's memory.
    pub fn ceiling() -> Limits {
        Limits {
            deadline_ms: 10_000,
            fuel: Some(100_000_000_000),
            memory_bytes: MEMORY_CEILING_BYTES,
            table_elements: 1_000_000,
            max_cards: 1_000,
            max_output_bytes: 16 << 20,
            max_string_bytes: 1 << 20,
            max_log_lines: 10_000,
            max_log_bytes: 1 << 20,
        }
    }

    /// These limits with `overrides` applied, refused when any goes past the ceiling.
    pub fn with(&self, overrides: &LimitOverrides) -> Result<Limits, LimitError> {
        let o = overrides;
        let limits = Limits {
            deadline_ms: o.deadline_ms.unwrap_or(self.deadline_ms),
            fuel: o.fuel.or(self.fuel),
            memory_bytes: o
                .memory_mib
                .map_or(self.memory_bytes, |mib| mib.saturating_mul(1 << 20)),
            table_elements: o.table_elements.unwrap_or(self.table_elements),
            max_cards: o.max_cards.unwrap_or(self.max_cards),
            max_output_bytes: o.max_output_bytes.unwrap_or(self.max_output_bytes),
            max_string_bytes: o.max_string_bytes.unwrap_or(self.max_string_bytes),
            max_log_lines: o.max_log_lines.unwrap_or(self.max_log_lines),
            max_log_bytes: o.max_log_bytes.unwrap_or(self.max_log_bytes),
        };
        limits.check_within_ceiling()?;
        Ok(limits)
    }

    fn check_within_ceiling(&self) -> Result<(), LimitError> {
        let ceiling = Limits::ceiling();
        let fields: [(&'static str, u64, u64); 8] = [
            ("deadline_ms", self.deadline_ms, ceiling.deadline_ms),
            (
                "fuel",
                self.fuel.unwrap_or(0),
                ceiling.fuel.unwrap_or(u64::MAX),
            ),
            (
                "table_elements",
                self.table_elements as u64,
                ceiling.table_elements as u64,
            ),
            ("max_cards", self.max_cards as u64, ceiling.max_cards as u64),
            (
                "max_output_bytes",
                self.max_output_bytes as u64,
                ceiling.max_output_bytes as u64,
            ),
            (
                "max_string_bytes",
                self.max_string_bytes as u64,
                ceiling.max_string_bytes as u64,
            ),
            (
                "max_log_lines",
                self.max_log_lines as u64,
                ceiling.max_log_lines as u64,
            ),
            (
                "max_log_bytes",
                self.max_log_bytes as u64,
                ceiling.max_log_bytes as u64,
            ),
        ];
        for (field, value, max) in fields {
            if value > max {
                return Err(LimitError::AboveCeiling { field, value, max });
            }
        }
        if self.memory_bytes > ceiling.memory_bytes {
            return Err(LimitError::AboveCeiling {
                field: "memory_mib",
                value: (self.memory_bytes >> 20) as u64,
                max: (ceiling.memory_bytes >> 20) as u64,
            });
        }
        if self.deadline_ms == 0 || self.max_log_bytes == 0 {
            return Err(LimitError::Zero {
                field: if self.deadline_ms == 0 {
                    "deadline_ms"
                } else {
                    "max_log_bytes"
                },
            });
        }
        Ok(())
    }
}

/// Some limits changed: what a plugin's manifest asks for, or what a trial or the command
/// line sets. Field names are those of the `[limits]` tables in manifests and trial files.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_elements: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cards: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_string_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_log_lines: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_log_bytes: Option<usize>,
}

impl LimitOverrides {
    /// `self` with the fields `later` sets replaced: later layers win.
    pub fn then(&self, later: &LimitOverrides) -> LimitOverrides {
        LimitOverrides {
            deadline_ms: later.deadline_ms.or(self.deadline_ms),
            fuel: later.fuel.or(self.fuel),
            memory_mib: later.memory_mib.or(self.memory_mib),
            table_elements: later.table_elements.or(self.table_elements),
            max_cards: later.max_cards.or(self.max_cards),
            max_output_bytes: later.max_output_bytes.or(self.max_output_bytes),
            max_string_bytes: later.max_string_bytes.or(self.max_string_bytes),
            max_log_lines: later.max_log_lines.or(self.max_log_lines),
            max_log_bytes: later.max_log_bytes.or(self.max_log_bytes),
        }
    }
}

/// A limit that cannot be set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "limit {field} = {value} is above the host ceiling of {max}; ask for less (the ceiling protects the host and every other evaluation)"
    )]
    AboveCeiling {
        field: &'static str,
        value: u64,
        max: u64,
    },
    #[error("limit {field} must be greater than 0")]
    Zero { field: &'static str },
}

/// A limit a plugin went past, raised from inside the store so the trap names its cause.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("memory limit exceeded: the plugin asked for {requested} bytes, the cap is {cap}")]
    Memory { requested: usize, cap: usize },
    #[error("table limit exceeded: the plugin asked for {requested} elements, the cap is {cap}")]
    Table { requested: usize, cap: usize },
    #[error("log limit exceeded: more than {lines} lines or {bytes} bytes of log output")]
    Log { lines: usize, bytes: usize },
}

/// Engine-level settings of a run.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Evaluations that may be in flight at once (one per worker thread).
    pub concurrency: usize,
    /// Meter fuel (always, in runs and trials: fuel is the reported cost and the optional
    /// budget). Off only to measure what metering costs (`benches/evaluation.rs`).
    pub meter_fuel: bool,
}

impl SandboxConfig {
    /// A run's sandbox: metered, for `concurrency` workers.
    pub fn new(concurrency: usize) -> SandboxConfig {
        SandboxConfig {
            concurrency,
            meter_fuel: true,
        }
    }
}

/// The engine, the linker with the host's imports, and the epoch ticker that enforces
/// deadlines. One per run; shared by all worker threads.
pub struct Sandbox {
    engine: Engine,
    meter_fuel: bool,
    /// How many component instances the pool holds at once.
    instance_slots: usize,
    linker: Linker<EvaluationState>,
    ticker: Option<Ticker>,
}

struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Sandbox {
    pub fn new(config: &SandboxConfig) -> wasmtime::Result<Sandbox> {
        let engine = Engine::new(&engine_config(config))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        add_virtual_timers(&mut linker)?;
        crate::wit::add_log_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |state: &mut EvaluationState| state,
        )?;
        let ticker = Ticker::start(&engine);
        Ok(Sandbox {
            engine,
            meter_fuel: config.meter_fuel,
            instance_slots: instance_slots(config) as usize,
            linker,
            ticker: Some(ticker),
        })
    }

    /// How many component instances can exist at once: more fail to instantiate ("maximum
    /// concurrent limit ... reached"), so whoever instantiates on several threads at once
    /// keeps to this many.
    pub fn instance_slots(&self) -> usize {
        self.instance_slots
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether this sandbox's code meters fuel (a compiled artifact must match).
    pub fn meter_fuel(&self) -> bool {
        self.meter_fuel
    }

    pub(crate) fn linker(&self) -> &Linker<EvaluationState> {
        &self.linker
    }

    /// A fresh store for one evaluation: its own WASI context, limits and log.
    pub(crate) fn store(&self, setup: &StoreSetup) -> Store<EvaluationState> {
        let mut store = Store::new(&self.engine, EvaluationState::new(setup));
        store.limiter(|state| &mut state.limiter);
        // What one call may copy out of the guest (its cards, a log line, `describe`):
        // without this, cards that all point at one large string would be copied out in
        // full, once per card, before the output limits could look at them.
        let limits = &setup.limits;
        store.set_hostcall_fuel(
            limits
                .max_output_bytes
                .saturating_mul(4)
                .saturating_add(limits.max_cards.saturating_mul(4 << 10))
                .max(HOSTCALL_COPY_BYTES),
        );
        // Ticks are EPOCH_TICK long; +1 so a deadline is never shorter than asked.
        store.set_epoch_deadline(setup.limits.deadline_ms.max(1) + 1);
        store.epoch_deadline_trap();
        if self.meter_fuel {
            store
                .set_fuel(setup.limits.fuel.unwrap_or(u64::MAX))
                .expect("fuel is enabled in the engine config");
        }
        store
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        drop(self.ticker.take());
    }
}

impl Ticker {
    fn start(engine: &Engine) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("livelab-epoch".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker thread");
        Ticker {
            stop,
            thread: Some(thread),
        }
    }
}

/// How much of a slot's linear memory (and table) stays resident between instances: all of
/// a lean guest's memory (see `engine_config`).
pub const KEEP_RESIDENT_BYTES: usize = 128 << 10;

/// The settings that decide the compiled code. The sandbox's engine and the compiler
/// process's (`plugin::compile`) are both made from them, so that what one compiles the
/// other loads; `Component::deserialize` refuses an artifact of other settings.
fn code_config(meter_fuel: bool) -> Config {
    let mut cfg = Config::new();
    cfg.wasm_component_model(true);
    cfg.epoch_interruption(true);
    // Fuel is the deterministic cost measure reported for every evaluation, and the
    // optional budget; metering costs a few percent (BENCHMARKS.md, "fuel").
    cfg.consume_fuel(meter_fuel);
    // Evaluations are synchronous calls; the async machinery only costs time here.
    cfg.concurrency_support(false);
    cfg.max_wasm_stack(STACK_BYTES);
    cfg
}

/// An engine that only compiles: the sandbox's code settings, without the pooling
/// allocator's reservations (which an address-space limit would not allow).
pub fn compiler_engine(meter_fuel: bool) -> wasmtime::Result<Engine> {
    Engine::new(&code_config(meter_fuel))
}

/// The pool's component instances: twice the workers (at least two), and two more. Every
/// instantiation takes one while its store lives, `describe` at load included.
fn instance_slots(config: &SandboxConfig) -> u32 {
    (config.concurrency as u32).saturating_mul(2).max(2) + 2
}

fn engine_config(config: &SandboxConfig) -> Config {
    let mut cfg = code_config(config.meter_fuel);
    // Pooling: instantiation becomes a few memcpy-free slot reuses (see BENCHMARKS.md).
    let slots = instance_slots(config);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .max_core_instances_per_component(16)
        .total_memories(slots * 4)
        .max_memories_per_component(4)
        .total_tables(slots * 8)
        .max_tables_per_component(8)
        // The pool's own default (20,000) was below the ceiling a limit may ask for, and a
        // larger table was refused as an invalid component (issue 12, item 6). Tables are
        // reserved, not committed: 8 bytes per element of address space per slot.
        .table_elements(Limits::ceiling().table_elements)
        .total_stacks(slots)
        .max_memory_size(MEMORY_CEILING_BYTES)
        // A reused slot's resident pages are zeroed with memset, the rest released with
        // madvise (and faulted in again by the next instance, with the kernel's TLB
        // shootdowns between the worker threads). Guests built with a 64 KiB stack
        // (`livelab_guest_build::STACK_BYTES`) have 128 KiB of memory in all, so keeping
        // that much resident resets them with one memset and releases nothing: a fresh
        // evaluation went from 20–45 µs to 11–25 µs (BENCHMARKS.md, "Throughput (issue 15)").
        // Larger guests (a JavaScript or Python runtime) keep the same prefix; the rest of
        // their memory is released as before. (Keeping 1 MiB resident for 1 MiB-stack
        // guests cost a 1 MiB memset per evaluation, 35.6 µs: "Pooling".)
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES);
    cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    cfg
}

/// What one evaluation's store is made from.
#[derive(Clone, Debug)]
pub struct StoreSetup {
    pub limits: Limits,
    pub random_seed: u64,
    /// The plugin's granted data directory, preopened read-only at `/data`.
    pub data_dir: Option<Arc<std::path::Path>>,
}

/// The host state of one evaluation's store.
pub struct EvaluationState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    pub(crate) log: PluginLog,
    stdout: LogPipe,
    stderr: LogPipe,
    /// The virtual monotonic clock, shared with the WASI context so that a sleep can
    /// advance it instead of waiting.
    monotonic: Arc<VirtualMonotonicClock>,
    /// Why the store could not be set up as asked (a granted directory that cannot be
    /// opened); instantiation then fails with this message instead of running without it.
    pub(crate) setup_error: Option<String>,
}

impl EvaluationState {
    fn new(setup: &StoreSetup) -> Self {
        let limits = &setup.limits;
        let stdout = LogPipe::new(limits);
        let stderr = LogPipe::new(limits);
        let mut rng = StdRng::seed_from_u64(setup.random_seed);
        let insecure_seed = (u128::from(rand::Rng::next_u64(&mut rng)) << 64)
            | u128::from(rand::Rng::next_u64(&mut rng));
        let insecure = StdRng::seed_from_u64(rand::Rng::next_u64(&mut rng));
        let monotonic = Arc::new(VirtualMonotonicClock::default());
        let mut builder = WasiCtx::builder();
        let mut setup_error = None;
        if let Some(dir) = &setup.data_dir {
            // wasmtime-wasi opens it as a cap-std `Dir`: every path the plugin uses is
            // resolved beneath it, so `..`, absolute paths and symlinks cannot escape.
            if let Err(e) =
                builder.preopened_dir(dir, DATA_GUEST_PATH, wasmtime_wasi::FsPerms::ReadOnly)
            {
                setup_error = Some(format!(
                    "cannot open the granted data directory {}: {e:#}",
                    dir.display()
                ));
            }
        }
        let wasi = builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenWallClock)
            .monotonic_clock(SharedClock(monotonic.clone()))
            .secure_random(rng)
            .insecure_random(insecure)
            .insecure_random_seed(insecure_seed)
            .max_random_size(64 << 10)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        EvaluationState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits),
            log: PluginLog::new(limits),
            stdout,
            stderr,
            monotonic,
            setup_error,
        }
    }

    pub fn peak_memory_bytes(&self) -> usize {
        self.limiter.peak
    }

    /// What the plugin wrote to stdout and stderr (a panic message lands on stderr).
    pub fn captured_output(&self) -> (String, String) {
        let text = |pipe: &MemoryOutputPipe| String::from_utf8_lossy(&pipe.contents()).into_owned();
        (text(&self.stdout.pipe), text(&self.stderr.pipe))
    }
}

impl WasiView for EvaluationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl crate::wit::LogHost for EvaluationState {
    fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.log.push(level, message).map_err(wasmtime::Error::new)
    }
}

/// The plugin's diagnostic log for one evaluation, bounded in lines and bytes.
#[derive(Debug, Default)]
pub(crate) struct PluginLog {
    pub lines: Vec<(LogLevel, String)>,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
}

impl PluginLog {
    fn new(limits: &Limits) -> Self {
        PluginLog {
            lines: Vec::new(),
            bytes: 0,
            max_lines: limits.max_log_lines,
            max_bytes: limits.max_log_bytes,
        }
    }

    fn push(&mut self, level: LogLevel, message: String) -> Result<(), LimitExceeded> {
        self.bytes += message.len();
        if self.lines.len() >= self.max_lines || self.bytes > self.max_bytes {
            return Err(LimitExceeded::Log {
                lines: self.max_lines,
                bytes: self.max_bytes,
            });
        }
        self.lines.push((level, message));
        Ok(())
    }
}

/// Enforces the memory cap across all memories of an instance and remembers the peak.
#[derive(Debug)]
struct MemoryLimiter {
    memory_cap: usize,
    table_cap: usize,
    total: usize,
    peak: usize,
}

impl MemoryLimiter {
    fn new(limits: &Limits) -> Self {
        MemoryLimiter {
            memory_cap: limits.memory_bytes.min(MEMORY_CEILING_BYTES),
            table_cap: limits.table_elements,
            total: 0,
            peak: 0,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total - current + desired;
        if total > self.memory_cap {
            return Err(wasmtime::Error::new(LimitExceeded::Memory {
                requested: total,
                cap: self.memory_cap,
            }));
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_cap {
            return Err(wasmtime::Error::new(LimitExceeded::Table {
                requested: desired,
                cap: self.table_cap,
            }));
        }
        Ok(true)
    }
}

/// What the wall clock a plugin sees always reads: the Unix epoch, 1970-01-01T00:00:00Z.
///
/// It carries no date on purpose. The request gives a plugin every time as days relative to
/// the evaluation date; a clock that read the evaluation date would let a plugin behave well
/// on the date `check` uses and differently in a later trial (issue 12, item 10), and would
/// make its output depend on something the request does not show.
pub const FROZEN_WALL_CLOCK: Duration = Duration::ZERO;

/// The wall clock a plugin sees: [`FROZEN_WALL_CLOCK`], never moving, so that the same
/// request gives the same output on any date and no real time leaks in.
struct FrozenWallClock;

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        FROZEN_WALL_CLOCK
    }
}

/// A monotonic clock that starts at zero and advances one microsecond per reading:
/// deterministic, and enough for code that measures elapsed time not to divide by zero.
/// A sleep advances it by the time slept, at once (see [`add_virtual_timers`]).
#[derive(Default)]
struct VirtualMonotonicClock {
    now: std::sync::atomic::AtomicU64,
}

impl VirtualMonotonicClock {
    fn read(&self) -> u64 {
        self.now.fetch_add(1_000, Ordering::Relaxed)
    }

    /// Moves the clock to at least `when` (nanoseconds).
    fn advance_to(&self, when: u64) {
        self.now.fetch_max(when, Ordering::Relaxed);
    }
}

/// The WASI context's handle on the evaluation's virtual clock.
struct SharedClock(Arc<VirtualMonotonicClock>);

impl HostMonotonicClock for SharedClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        self.0.read()
    }
}

/// The WASI interface whose timers [`add_virtual_timers`] replaces.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replaces the monotonic clock's timers with virtual ones. wasmtime-wasi waits for a timer
/// with a real sleep inside the host call, where the epoch deadline cannot interrupt it: a
/// plugin that sleeps for a day would hold its worker for a day. Here a timer is ready at
/// once and moves the virtual clock to when it would have fired, so sleeping costs nothing,
/// reads as time passed, and stays deterministic.
fn add_virtual_timers(linker: &mut Linker<EvaluationState>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::p2::{DynPollable, subscribe};

    fn ready_at(state: &mut EvaluationState, when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        state.monotonic.advance_to(when);
        let ready = state.table.push(Ready)?;
        subscribe(&mut state.table, ready)
    }

    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: wasmtime::StoreContextMut<'_, EvaluationState>, (duration,): (u64,)| {
            let state = store.data_mut();
            let when = state.monotonic.read().saturating_add(duration);
            Ok((ready_at(state, when)?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: wasmtime::StoreContextMut<'_, EvaluationState>, (when,): (u64,)| {
            Ok((ready_at(store.data_mut(), when)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A timer that has already fired.
struct Ready;

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for Ready {
    async fn ready(&mut self) {}
}

/// stdout or stderr of one evaluation: kept in memory up to the log limit. Writing past it
/// ends the evaluation with a log-limit failure (a plain full pipe would only say "closed",
/// and a plugin that ignores that spins until its deadline).
#[derive(Clone)]
struct LogPipe {
    pipe: MemoryOutputPipe,
    limit: LimitExceeded,
}

impl LogPipe {
    fn new(limits: &Limits) -> LogPipe {
        LogPipe {
            pipe: MemoryOutputPipe::new(limits.max_log_bytes),
            limit: LimitExceeded::Log {
                lines: limits.max_log_lines,
                bytes: limits.max_log_bytes,
            },
        }
    }

    fn full(&self) -> wasmtime_wasi::p2::StreamError {
        wasmtime_wasi::p2::StreamError::Trap(wasmtime::Error::new(self.limit.clone()))
    }
}

impl wasmtime_wasi::cli::IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.pipe.clone())
    }
}

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for LogPipe {
    async fn ready(&mut self) {}
}

#[async_trait::async_trait]
impl wasmtime_wasi::p2::OutputStream for LogPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), wasmtime_wasi::p2::StreamError> {
        self.pipe.write(bytes).map_err(|_| self.full())
    }
    fn flush(&mut self) -> Result<(), wasmtime_wasi::p2::StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, wasmtime_wasi::p2::StreamError> {
        self.pipe.check_write().map_err(|_| self.full())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_is_bounded_in_lines_and_bytes() {
        let limits = Limits {
            max_log_lines: 2,
            max_log_bytes: 10,
            ..Limits::default()
        };
        let mut log = PluginLog::new(&limits);
        log.push(LogLevel::Info, "abc".into()).unwrap();
        log.push(LogLevel::Info, "def".into()).unwrap();
        assert!(log.push(LogLevel::Info, "g".into()).is_err());
        let mut log = PluginLog::new(&limits);
        assert!(log.push(LogLevel::Info, "01234567890".into()).is_err());
    }

    #[test]
    fn memory_limiter_sums_memories_and_tracks_peak() {
        use wasmtime::ResourceLimiter as _;
        let limits = Limits {
            memory_bytes: 100,
            ..Limits::default()
        };
        let mut limiter = MemoryLimiter::new(&limits);
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        assert_eq!(limiter.peak, 90);
        let err = limiter.memory_growing(30, 50, None).unwrap_err();
        assert_eq!(
            err.downcast_ref::<LimitExceeded>(),
            Some(&LimitExceeded::Memory {
                requested: 110,
                cap: 100
            })
        );
    }
}
