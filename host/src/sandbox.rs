//! The sandbox: one wasmtime engine for a run, and the per-evaluation store a plugin runs in.
//!
//! What a plugin gets (see `docs/SECURITY.md`): WASI p2 only because Rust's and other
//! languages' standard libraries import it, with nothing granted — no preopened directory,
//! no environment, no arguments, no network, stdout/stderr captured into bounded buffers,
//! a wall clock frozen at the evaluation date, a monotonic clock that starts at zero and
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

/// How often the epoch ticker advances the engine's epoch: the deadline's resolution.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Per-evaluation limits. Defaults are safe for a trial on a GP's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock deadline for one evaluation (instantiation and call), in milliseconds.
    pub deadline_ms: u64,
    /// Cap on the sum of all linear memories of the instance, in bytes.
    pub memory_bytes: usize,
    /// Cap on the elements of any table.
    pub table_elements: usize,
    /// Maximum number of cards one evaluation may return.
    pub max_cards: usize,
    /// Maximum total bytes of text in the cards of one evaluation.
    pub max_output_bytes: usize,
    /// Maximum log lines, and bytes of log text, per evaluation (stdout/stderr included).
    pub max_log_lines: usize,
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // CDS Hooks asks services to answer "on the order of 500 ms"; a plugin on the
            // bench should be far faster, so half of that is the whole budget.
            deadline_ms: 250,
            memory_bytes: 64 << 20,
            table_elements: 20_000,
            max_cards: 20,
            max_output_bytes: 64 << 10,
            max_log_lines: 100,
            max_log_bytes: 16 << 10,
        }
    }
}

/// The hard ceiling no per-run or per-plugin limit may exceed: what the pooling allocator
/// reserves per instance.
pub const MEMORY_CEILING_BYTES: usize = 1 << 30;

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
}

/// The engine, the linker with the host's imports, and the epoch ticker that enforces
/// deadlines. One per run; shared by all worker threads.
pub struct Sandbox {
    engine: Engine,
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
        crate::bindings::livelab::cds::log::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |state: &mut EvaluationState| state,
        )?;
        let ticker = Ticker::start(&engine);
        Ok(Sandbox {
            engine,
            linker,
            ticker: Some(ticker),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn linker(&self) -> &Linker<EvaluationState> {
        &self.linker
    }

    /// A fresh store for one evaluation: its own WASI context, limits and log.
    pub(crate) fn store(&self, setup: &StoreSetup) -> Store<EvaluationState> {
        let mut store = Store::new(&self.engine, EvaluationState::new(setup));
        store.limiter(|state| &mut state.limiter);
        // Ticks are EPOCH_TICK long; +1 so a deadline is never shorter than asked.
        store.set_epoch_deadline(setup.limits.deadline_ms.max(1) + 1);
        store.epoch_deadline_trap();
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

fn engine_config(config: &SandboxConfig) -> Config {
    let mut cfg = Config::new();
    cfg.wasm_component_model(true);
    cfg.epoch_interruption(true);
    // Evaluations are synchronous calls; the async machinery only costs time here.
    cfg.concurrency_support(false);
    cfg.max_wasm_stack(512 << 10);
    // Pooling: instantiation becomes a few memcpy-free slot reuses (see BENCHMARKS.md).
    let slots = (config.concurrency as u32).saturating_mul(2).max(2) + 2;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .max_core_instances_per_component(16)
        .total_memories(slots * 4)
        .max_memories_per_component(4)
        .total_tables(slots * 8)
        .max_tables_per_component(8)
        .total_stacks(slots)
        .max_memory_size(MEMORY_CEILING_BYTES)
        // A reused slot's resident pages are zeroed with memset, the rest released with
        // madvise. Sample plugins peak at ~1.1 MiB: keeping 1 MiB resident made teardown
        // memset ~1 MiB per evaluation (fresh evaluation 35.6 µs); 64 KiB gives 19.3 µs and
        // 28k instead of 16k evaluations/s on 2 cores (BENCHMARKS.md, "pooling").
        .linear_memory_keep_resident(64 << 10)
        .table_keep_resident(64 << 10);
    cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    cfg
}

/// What one evaluation's store is made from.
#[derive(Clone, Debug)]
pub struct StoreSetup {
    pub limits: Limits,
    /// Seconds since the Unix epoch of the evaluation date at midnight UTC.
    pub wall_clock_secs: u64,
    pub random_seed: u64,
}

/// The host state of one evaluation's store.
pub struct EvaluationState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    pub(crate) log: PluginLog,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl EvaluationState {
    fn new(setup: &StoreSetup) -> Self {
        let limits = &setup.limits;
        let stdout = MemoryOutputPipe::new(limits.max_log_bytes);
        let stderr = MemoryOutputPipe::new(limits.max_log_bytes);
        let mut rng = StdRng::seed_from_u64(setup.random_seed);
        let insecure_seed = rand::Rng::next_u64(&mut rng) as u128;
        let insecure = StdRng::seed_from_u64(rand::Rng::next_u64(&mut rng));
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenWallClock {
                secs: setup.wall_clock_secs,
            })
            .monotonic_clock(VirtualMonotonicClock::default())
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
        }
    }

    pub fn peak_memory_bytes(&self) -> usize {
        self.limiter.peak
    }

    /// What the plugin wrote to stdout and stderr (a panic message lands on stderr).
    pub fn captured_output(&self) -> (String, String) {
        let text = |pipe: &MemoryOutputPipe| String::from_utf8_lossy(&pipe.contents()).into_owned();
        (text(&self.stdout), text(&self.stderr))
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

impl crate::bindings::livelab::cds::log::Host for EvaluationState {
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

/// The wall clock a plugin sees: midnight UTC of the evaluation date, never moving, so that
/// the same inputs give the same outputs and no real time leaks in.
struct FrozenWallClock {
    secs: u64,
}

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(self.secs)
    }
}

/// A monotonic clock that starts at zero and advances one microsecond per reading:
/// deterministic, and enough for code that measures elapsed time not to divide by zero.
#[derive(Default)]
struct VirtualMonotonicClock {
    now: std::sync::atomic::AtomicU64,
}

impl HostMonotonicClock for VirtualMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        self.now.fetch_add(1_000, Ordering::Relaxed)
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
