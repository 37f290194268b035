//! What one evaluation costs, and where the time goes.
//!
//! For each sample plugin, over the sample records (round-robin, one record per iteration):
//! - `fresh/<plugin>`: [`Plugin::evaluate`] as a run pays it: minimise, new store,
//!   instantiate, lower the request, call, lift and check the cards, drop the store;
//! - `fresh-unmetered/<plugin>`: the same in a sandbox without fuel metering (runs always
//!   meter: this is what metering costs);
//! - `instantiate/<plugin>`, `first-call/<plugin>`, `teardown/<plugin>`: the three phases of
//!   `fresh`, each timed alone in the same per-record sequence (new store + instantiate;
//!   the one call on that fresh instance; dropping the store and instance afterwards);
//! - `call/<plugin>`: lower + call + lift on a reused instance. Runs never reuse instances
//!   (one fresh instance per patient, for privacy); this only measures what reuse would save;
//! - `native/<plugin>`: the plugin's own rule compiled natively, on the same minimised
//!   requests (converted to the SDK's types outside the timing);
//! - `minimise/<plugin>`: the host-side data minimisation alone;
//! - `lowering/{full,minimised}/<plugin>`: the call on a reused instance with the whole
//!   record versus the minimised one: what minimisation saves in crossing the boundary.
//!
//! Before timing, the native and the WebAssembly cards are compared record by record, and a
//! reused instance is checked to give the same cards as fresh ones; differences are printed.
//!
//! The evaluation engine alone (issue 15): `engine/workers/{1,2}` is [`run::run`] with every
//! sample plugin on the pre-read records (each record a unit already read, so no parsing),
//! with one worker and with two; throughput in evaluations.
//!
//! And what bounding compilation costs (issue 12, item 1): `compile/{in-process,child}`
//! compiles metformin-egfr's component in this process, and in a child process (the
//! `livelab compile-worker` the CLI uses, under its timeout and address-space limit).
//!
//! Records: `sample-records/`, or the directory in `$LIVELAB_BENCH_RECORDS`.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use livelab_host::ingest::record::minimise;
use livelab_host::plugin::LiveInstance;
use livelab_host::run;
use livelab_host::sandbox::StoreSetup;
use livelab_host::wit::{Hook, Request};
use livelab_host::{
    ArtifactCache, EvaluationContext, Limits, LoadOptions, Plugin, Record, Sandbox, SandboxConfig,
    Unit,
};
use livelab_plugin_sdk as sdk;

#[allow(dead_code, reason = "only the sample plugins are benched")]
mod artifacts {
    include!(concat!(env!("OUT_DIR"), "/plugin_artifacts.rs"));
}

/// A plugin's rule, natively: each sample plugin crate exposes `evaluate` with this type.
type NativeRule = fn(&sdk::Request) -> Result<Vec<sdk::Card>, sdk::EvaluationError>;

fn native_rule(id: &str) -> Option<NativeRule> {
    match id {
        "metformin-egfr" => Some(metformin_egfr::evaluate),
        "af-anticoagulation" => Some(af_anticoagulation::evaluate),
        "home-bp" => Some(home_bp::evaluate),
        "nsaid-gastroprotection" => Some(nsaid_gastroprotection::evaluate),
        "score2" => Some(score2::evaluate),
        "phq9" => Some(phq9::evaluate),
        _ => None,
    }
}

/// A reused instance must not live past its store's epoch deadline (250 ms by default, set
/// when the store is made): the `call` benches take a new instance, untimed, after this
/// many calls.
const CALLS_PER_INSTANCE: u64 = 200;

/// One sample plugin, loaded, with everything the timed loops need prepared.
struct Subject {
    name: &'static str,
    plugin: Plugin,
    /// One per record, in record order.
    minimised: Vec<Request>,
    full: Vec<Request>,
    setups: Vec<StoreSetup>,
    native: Option<(NativeRule, Vec<sdk::Request>)>,
}

struct Fixture {
    sandbox: Sandbox,
    records: Vec<Record>,
    ctx: EvaluationContext,
    subjects: Vec<Subject>,
}

fn fixture() -> Fixture {
    let dir = common::records_dir();
    let date = common::evaluation_date(&dir);
    let records = common::load_records(&dir, date);
    eprintln!(
        "bench: {} records from {}, evaluation date {date}",
        records.len(),
        dir.display()
    );
    let sandbox = Sandbox::new(&SandboxConfig::new(1)).expect("creating the sandbox");
    let cache = ArtifactCache::new(None);
    let ctx = EvaluationContext {
        evaluation_date: date,
        seed: 0,
        keep_inputs: false,
    };
    let subjects = artifacts::SAMPLE_PLUGINS
        .iter()
        .map(|&(name, path)| {
            let plugin = Plugin::load(
                &sandbox,
                &cache,
                path.as_ref(),
                &LoadOptions::authoring(Limits::default()),
            )
            .unwrap_or_else(|e| panic!("loading {name}: {e}"));
            let minimised: Vec<Request> = records
                .iter()
                .map(|r| Request {
                    hook: Hook::PatientView,
                    patient: minimise(&r.patient, &plugin.info.data_needs),
                })
                .collect();
            let full = records
                .iter()
                .map(|r| Request {
                    hook: Hook::PatientView,
                    patient: r.patient.clone(),
                })
                .collect();
            let setups = records
                .iter()
                .map(|r| ctx.store_setup(&plugin.limits, &r.key, &plugin.sha256))
                .collect();
            let native = native_rule(name).map(|rule| {
                let requests = minimised.iter().map(to_sdk).collect();
                (rule, requests)
            });
            if native.is_none() {
                eprintln!(
                    "bench: {name} has no native baseline in this bench; add it to `native_rule`"
                );
            }
            Subject {
                name,
                plugin,
                minimised,
                full,
                setups,
                native,
            }
        })
        .collect();
    let fixture = Fixture {
        sandbox,
        records,
        ctx,
        subjects,
    };
    check(&fixture);
    fixture
}

/// A host request as the guest SDK's type: the same WIT, the same serde names.
fn to_sdk(request: &Request) -> sdk::Request {
    let json = serde_json::to_value(request).expect("a host request serialises");
    serde_json::from_value(json).expect("the SDK reads the host's request")
}

/// Cards (or the error) as JSON, to compare host and SDK types.
fn cards_json<C: serde::Serialize, E: std::fmt::Debug>(result: &Result<Vec<C>, E>) -> String {
    match result {
        Ok(cards) => serde_json::to_string(cards).expect("cards serialise"),
        Err(e) => format!("error: {e:?}"),
    }
}

fn summaries_json(json: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| {
            v.as_array().map(|cards| {
                cards
                    .iter()
                    .map(|c| c["summary"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
        })
        .unwrap_or_else(|| vec![json.to_owned()])
}

fn items(request: &Request) -> usize {
    let p = &request.patient;
    p.conditions.len() + p.observations.len() + p.medications.len() + p.allergies.len()
}

/// Native versus WebAssembly, reused versus fresh instance, full versus minimised record:
/// prints what differs, and the sizes of what crosses the boundary.
fn check(f: &Fixture) {
    let n = f.records.len();
    for s in &f.subjects {
        let fresh: Vec<String> = f
            .records
            .iter()
            .map(|r| cards_json(&s.plugin.evaluate(&f.sandbox, r, &f.ctx).result))
            .collect();
        let failed = fresh.iter().filter(|c| c.starts_with("error")).count();
        let firing = fresh
            .iter()
            .filter(|c| c.as_str() != "[]" && !c.starts_with("error"))
            .count();
        eprintln!(
            "check {}: {firing}/{n} records get cards, {failed} evaluations failed",
            s.name
        );
        if failed > 0 {
            let first = fresh
                .iter()
                .find(|c| c.starts_with("error"))
                .expect("one failed");
            eprintln!("check {}: MISMATCH? first failure: {first}", s.name);
        }

        if let Some((rule, requests)) = &s.native {
            let mut same_summaries = 0;
            let mut differing = Vec::new();
            for (i, request) in requests.iter().enumerate() {
                let native = cards_json(&rule(request));
                if native == fresh[i] {
                    same_summaries += 1;
                } else {
                    if summaries_json(&native) == summaries_json(&fresh[i]) {
                        same_summaries += 1;
                    }
                    differing.push((i, native));
                }
            }
            if differing.is_empty() {
                eprintln!(
                    "check {}: native and wasm cards identical on all {n} records",
                    s.name
                );
            } else {
                eprintln!(
                    "check {}: MISMATCH native vs wasm: {} of {n} records differ ({} of {n} have the same summaries)",
                    s.name,
                    differing.len(),
                    same_summaries
                );
                for (i, native) in differing.iter().take(3) {
                    eprintln!(
                        "  record {}: wasm {}\n  native {native}",
                        f.records[*i].key, fresh[*i]
                    );
                }
            }
        }

        let reused = calls_on_reused_instance(f, s, &s.minimised);
        let differ = reused.iter().zip(&fresh).filter(|(a, b)| a != b).count();
        if differ == 0 {
            eprintln!(
                "check {}: a reused instance gives the same cards as fresh ones",
                s.name
            );
        } else {
            eprintln!(
                "check {}: MISMATCH reused vs fresh instance on {differ} of {n} records",
                s.name
            );
        }

        let full = calls_on_reused_instance(f, s, &s.full);
        let differ = full.iter().zip(&fresh).filter(|(a, b)| a != b).count();
        let full_failed = full.iter().filter(|c| c.starts_with("error")).count();
        let size = |requests: &[Request]| -> (f64, f64) {
            let items: usize = requests.iter().map(items).sum();
            let bytes: usize = requests
                .iter()
                .map(|r| serde_json::to_vec(r).expect("serialises").len())
                .sum();
            (items as f64 / n as f64, bytes as f64 / n as f64)
        };
        let (full_items, full_bytes) = size(&s.full);
        let (min_items, min_bytes) = size(&s.minimised);
        eprintln!(
            "check {}: per record, full {full_items:.1} items / {full_bytes:.0} JSON bytes, \
             minimised {min_items:.1} items / {min_bytes:.0} JSON bytes; on full records \
             {differ}/{n} card lists differ from minimised, {full_failed} failed",
            s.name
        );
    }
}

fn calls_on_reused_instance(f: &Fixture, s: &Subject, requests: &[Request]) -> Vec<String> {
    let mut out = Vec::with_capacity(requests.len());
    for chunk in requests.chunks(CALLS_PER_INSTANCE as usize) {
        let mut instance = instantiate(f, s);
        out.extend(chunk.iter().map(|r| cards_json(&instance.evaluate(r))));
    }
    out
}

/// An instance for the reused-instance measurements, set up as for the first record.
fn instantiate<'p>(f: &Fixture, s: &'p Subject) -> LiveInstance<'p> {
    match s.plugin.instantiate(&f.sandbox, &s.setups[0]) {
        Ok(instance) => instance,
        Err((failure, _)) => panic!("instantiating {}: {failure}", s.name),
    }
}

/// Times `iters` calls round-robin over `requests`, on instances reused for up to
/// [`CALLS_PER_INSTANCE`] calls each; instantiation is outside the timing.
fn time_reused_calls(
    f: &Fixture,
    s: &Subject,
    requests: &[Request],
    next: &mut usize,
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let chunk = (iters - done).min(CALLS_PER_INSTANCE);
        let mut instance = instantiate(f, s);
        let start = Instant::now();
        for _ in 0..chunk {
            let request = &requests[*next % requests.len()];
            *next += 1;
            match instance.evaluate(black_box(request)) {
                Ok(cards) => {
                    black_box(cards);
                }
                Err(e) => panic!("{}: a reused instance failed: {e}", s.name),
            }
        }
        total += start.elapsed();
        done += chunk;
    }
    total
}

/// A phase of a fresh evaluation.
#[derive(Clone, Copy)]
enum Phase {
    /// New store (WASI context, limits) and instantiation.
    Instantiate,
    /// Lowering the request, the call, lifting and checking the cards, on the fresh instance.
    FirstCall,
    /// Dropping the instance and its store (the pooling allocator resets the slot).
    Teardown,
}

/// Runs `iters` fresh evaluations round-robin over the records, exactly as
/// [`Plugin::evaluate_request`] does, and returns the time spent in `phase` alone.
fn time_fresh_phase(
    f: &Fixture,
    s: &Subject,
    phase: Phase,
    next: &mut usize,
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let i = *next % s.minimised.len();
        *next += 1;
        let t0 = Instant::now();
        let instance = s.plugin.instantiate(&f.sandbox, black_box(&s.setups[i]));
        let t1 = Instant::now();
        let mut instance = match instance {
            Ok(instance) => instance,
            Err((failure, _)) => panic!("instantiating {}: {failure}", s.name),
        };
        let t2 = Instant::now();
        let cards = instance.evaluate(black_box(&s.minimised[i]));
        let t3 = Instant::now();
        black_box(cards.is_ok());
        drop(cards);
        let t4 = Instant::now();
        drop(black_box(instance));
        let t5 = Instant::now();
        total += match phase {
            Phase::Instantiate => t1 - t0,
            Phase::FirstCall => t3 - t2,
            Phase::Teardown => t5 - t4,
        };
    }
    total
}

fn evaluation(c: &mut Criterion) {
    let f = fixture();
    let n = f.records.len();

    let mut group = c.benchmark_group("fresh");
    group.throughput(Throughput::Elements(1));
    for s in &f.subjects {
        let mut i = 0;
        group.bench_function(s.name, |b| {
            b.iter(|| {
                let record = &f.records[i % n];
                i += 1;
                black_box(s.plugin.evaluate(&f.sandbox, black_box(record), &f.ctx))
            })
        });
    }
    group.finish();

    // The same fresh evaluation in a sandbox that does not meter fuel: what metering costs.
    let unmetered = Sandbox::new(&SandboxConfig {
        concurrency: 1,
        meter_fuel: false,
    })
    .expect("creating the unmetered sandbox");
    let cache = ArtifactCache::new(None);
    let mut group = c.benchmark_group("fresh-unmetered");
    group.throughput(Throughput::Elements(1));
    for s in &f.subjects {
        let plugin = Plugin::load(
            &unmetered,
            &cache,
            &s.plugin.path,
            &LoadOptions::authoring(Limits::default()),
        )
        .expect("loading a sample plugin");
        let mut i = 0;
        group.bench_function(s.name, |b| {
            b.iter(|| {
                let record = &f.records[i % n];
                i += 1;
                black_box(plugin.evaluate(&unmetered, black_box(record), &f.ctx))
            })
        });
    }
    group.finish();

    for (name, phase) in [
        ("instantiate", Phase::Instantiate),
        ("first-call", Phase::FirstCall),
        ("teardown", Phase::Teardown),
    ] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        for s in &f.subjects {
            let mut next = 0;
            group.bench_function(s.name, |b| {
                b.iter_custom(|iters| time_fresh_phase(&f, s, phase, &mut next, iters))
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("call");
    group.throughput(Throughput::Elements(1));
    for s in &f.subjects {
        let mut next = 0;
        group.bench_function(s.name, |b| {
            b.iter_custom(|iters| time_reused_calls(&f, s, &s.minimised, &mut next, iters))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("native");
    group.throughput(Throughput::Elements(1));
    for s in &f.subjects {
        let Some((rule, requests)) = &s.native else {
            continue;
        };
        let mut i = 0;
        group.bench_function(s.name, |b| {
            b.iter(|| {
                let request = &requests[i % n];
                i += 1;
                black_box(rule(black_box(request)))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("minimise");
    group.throughput(Throughput::Elements(1));
    for s in &f.subjects {
        let mut i = 0;
        group.bench_function(s.name, |b| {
            b.iter(|| {
                let record = &f.records[i % n];
                i += 1;
                black_box(minimise(
                    black_box(&record.patient),
                    &s.plugin.info.data_needs,
                ))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("lowering");
    group.throughput(Throughput::Elements(1));
    for s in &f.subjects {
        for (variant, requests) in [("full", &s.full), ("minimised", &s.minimised)] {
            let mut next = 0;
            group.bench_function(BenchmarkId::new(variant, s.name), |b| {
                b.iter_custom(|iters| time_reused_calls(&f, s, requests, &mut next, iters))
            });
        }
    }
    group.finish();
}

fn engine(c: &mut Criterion) {
    let dir = common::records_dir();
    let date = common::evaluation_date(&dir);
    let records = common::load_records(&dir, date);
    let ctx = EvaluationContext {
        evaluation_date: date,
        seed: 0,
        keep_inputs: false,
    };
    let cache = ArtifactCache::new(None);
    let mut group = c.benchmark_group("engine");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(6));
    for workers in [1, 2] {
        let sandbox = Sandbox::new(&SandboxConfig::new(workers)).expect("creating the sandbox");
        let plugins: Vec<Plugin> = artifacts::SAMPLE_PLUGINS
            .iter()
            .map(|&(name, path)| {
                Plugin::load(
                    &sandbox,
                    &cache,
                    path.as_ref(),
                    &LoadOptions::authoring(Limits::default()),
                )
                .unwrap_or_else(|e| panic!("loading {name}: {e}"))
            })
            .collect();
        group.throughput(Throughput::Elements((records.len() * plugins.len()) as u64));
        group.bench_function(BenchmarkId::new("workers", workers), |b| {
            b.iter_batched(
                || {
                    let units: Vec<Unit> = records
                        .iter()
                        .map(|r| Unit::read_already(Ok(r.clone())))
                        .collect();
                    units
                },
                |units| {
                    let sink = |outcome| {
                        black_box(outcome);
                        Ok::<_, std::convert::Infallible>(())
                    };
                    run::run(
                        &sandbox,
                        &plugins,
                        units.into_iter(),
                        |_| true,
                        &ctx,
                        workers,
                        sink,
                    )
                    .unwrap_or_else(|_| unreachable!("the sink cannot fail"))
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn compiling(c: &mut Criterion) {
    use livelab_host::plugin::compile::{self, CompileBounds, Compiler};
    let bytes = std::fs::read(artifacts::METFORMIN_EGFR).expect("the metformin-egfr component");
    let in_process = CompileBounds::default();
    let child = CompileBounds {
        compiler: Compiler::Child {
            program: env!("CARGO_BIN_EXE_livelab").into(),
            args: vec!["compile-worker".into()],
        },
        ..CompileBounds::default()
    };
    let mut group = c.benchmark_group("compile");
    group.sample_size(20);
    for (name, bounds) in [("in-process", &in_process), ("child", &child)] {
        group.bench_function(name, |b| {
            b.iter(|| compile::compile(black_box(&bytes), true, bounds).expect("it compiles"))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = evaluation, engine, compiling
}
criterion_main!(benches);
