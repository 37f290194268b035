//! The run path as a library: a trial run in-process (no subprocess), one record evaluated on
//! its own as a service would (also within a slice of time), and a run whose output fails
//! mid-way (a full disk) stopping at once with an error that names the file and the records
//! completed.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use livelab_host::run::plan::{PlannedPlugin, load_plugins, sandbox};
use livelab_host::run::{CdsCard, evaluate_record, run};
use livelab_host::trial::Trial;
use livelab_host::trial::execute::{ExecuteError, Quiet, create_file};
use livelab_host::trial::run::{TrialOptions, TrialRunError, run_trial};
use livelab_host::wit::Hook;
use livelab_host::{ArtifactCache, EvaluationContext, Limits, LoadOptions, Outcome, RecordReader};

use crate::support::*;

fn sample_trial() -> Trial {
    Trial::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("trials/sample.toml")).unwrap()
}

fn samples(id: &str) -> Option<PathBuf> {
    SAMPLE_PACKAGES
        .iter()
        .chain(CANDIDATE_PACKAGES)
        .find(|(name, _)| *name == id)
        .map(|(_, path)| PathBuf::from(path))
}

fn options(out: &Path) -> TrialOptions<'static> {
    TrialOptions {
        out: Some(out.to_owned()),
        shard: None,
        workers: Some(2),
        cache: ArtifactCache::new(None),
        samples: &samples,
    }
}

/// An evaluation as the outputs show it: the cards as CDS Hooks JSON (or the failure) and the
/// deterministic cost.
fn shown(outcome: &Outcome) -> String {
    let cards = match &outcome.result {
        Ok(cards) => serde_json::to_string(&cards.iter().map(CdsCard::from).collect::<Vec<_>>()),
        Err(failure) => Ok(failure.to_string()),
    };
    format!("{} fuel {}", cards.unwrap(), outcome.fuel)
}

#[test]
fn one_record_on_its_own_gives_what_it_gives_in_a_run() {
    // A service has one record at a time: `evaluate_record` must be exactly what `run` does
    // for each record, whatever the order or the threads.
    let sandbox = sandbox(2).unwrap();
    let planned: Vec<PlannedPlugin> = SAMPLE_PACKAGES
        .iter()
        .map(|(_, path)| PlannedPlugin {
            path: PathBuf::from(path),
            options: LoadOptions::authoring(Limits::default()),
        })
        .collect();
    let plugins = load_plugins(&sandbox, &ArtifactCache::new(None), &planned).unwrap();
    let date = SAMPLE_DATE.parse().unwrap();
    let ctx = EvaluationContext {
        evaluation_date: date,
        seed: 7,
        keep_inputs: false,
    };
    let records = || {
        RecordReader::open(Path::new(SAMPLE_RECORDS), date)
            .unwrap()
            .take(40)
    };
    // The run reads the files in its workers, a unit (here a file, one patient) at a time.
    let mut reader = RecordReader::open(Path::new(SAMPLE_RECORDS), date).unwrap();
    let units = std::iter::from_fn(|| reader.next_unit()).take(40);
    let mut in_run = Vec::new();
    run(
        &sandbox,
        &plugins,
        units,
        |_| true,
        &ctx,
        2,
        |outcome| {
            in_run.push(outcome);
            Ok::<_, ()>(())
        },
    )
    .unwrap();
    assert_eq!(in_run.len(), 40);
    // Alone, in reverse order, one thread.
    for (seq, record) in records().enumerate().collect::<Vec<_>>().into_iter().rev() {
        let alone = evaluate_record(
            &sandbox,
            &plugins,
            seq as u64,
            record,
            &Hook::PatientView,
            &ctx,
        );
        let ran = &in_run[seq];
        let key = &alone.record.as_ref().unwrap().0;
        assert_eq!(key, &ran.record.as_ref().unwrap().0, "record {seq}");
        for ((plugin, a), r) in plugins.iter().zip(&alone.evaluations).zip(&ran.evaluations) {
            assert_eq!(
                shown(a),
                shown(r),
                "record {key}, plugin {}: alone vs in a run",
                plugin.info.id
            );
        }
    }
}

#[test]
fn a_trial_runs_in_process_and_its_summary_reads_back() {
    let tmp = temp_dir();
    let run = run_trial(&sample_trial(), options(tmp.path()), &create_file, &Quiet).unwrap();
    let summary = &run.summary;
    assert_eq!(summary.run.records.read, 300);
    assert_eq!(summary.run.records.errors, 0);
    assert_eq!(summary.run.plugins.len(), 7);
    let effectiveness = summary
        .effectiveness
        .as_ref()
        .expect("the sample trial has labels");
    let metformin = &effectiveness.plugins[0];
    assert_eq!(metformin.plugin, "metformin-egfr");
    assert_eq!(
        (
            metformin.confusion.tp,
            metformin.confusion.fp,
            metformin.confusion.fn_,
            metformin.confusion.tn
        ),
        (27, 0, 0, 273),
        "metformin-egfr against its labels"
    );
    assert_eq!(effectiveness.comparisons[0].discordant.len(), 2);
    // What the run wrote is what it returned, and it reads back as the same typed summary:
    // every count, identity and table. (Floating-point figures are compared by the report
    // test: serde_json parses decimals fast, not always to the last bit.)
    let text = std::fs::read_to_string(tmp.path().join("summary.json")).unwrap();
    let read_back: livelab_host::trial::TrialSummary = serde_json::from_str(&text).unwrap();
    assert_eq!(read_back.trial, summary.trial, "trial");
    assert_eq!(read_back.run.records, summary.run.records, "records");
    assert_eq!(read_back.run.ingest, summary.run.ingest, "ingest");
    assert_eq!(read_back.run.evaluation_date, summary.run.evaluation_date);
    for (back, ran) in read_back.run.plugins.iter().zip(&summary.run.plugins) {
        assert_eq!(back.plugin, ran.plugin, "identity of {}", ran.plugin.id);
        assert_eq!(back.errors, ran.errors, "errors of {}", ran.plugin.id);
        assert_eq!(back.cards, ran.cards, "cards of {}", ran.plugin.id);
        assert_eq!(back.fuel, ran.fuel, "fuel of {}", ran.plugin.id);
    }
    let back = read_back.effectiveness.as_ref().unwrap();
    for (b, r) in back.plugins.iter().zip(&effectiveness.plugins) {
        assert_eq!(b.confusion, r.confusion, "2x2 table of {}", r.plugin);
        let groups = |e: &livelab_host::trial::effectiveness::PluginEffectiveness| {
            e.subgroups
                .iter()
                .map(|g| (g.subgroup, g.confusion))
                .collect::<Vec<_>>()
        };
        assert_eq!(groups(b), groups(r), "subgroups of {}", r.plugin);
    }
    assert_eq!(
        back.comparisons[0].discordant,
        effectiveness.comparisons[0].discordant
    );
}

/// A writer that accepts `capacity` bytes, then fails as a full disk does.
struct FullDisk {
    written: Arc<AtomicUsize>,
    capacity: usize,
}

impl Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let so_far = self.written.load(Ordering::SeqCst);
        if so_far + buf.len() > self.capacity {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        self.written.fetch_add(buf.len(), Ordering::SeqCst);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_disk_stops_the_run_at_once_and_says_where_and_after_how_many_records() {
    let tmp = temp_dir();
    let written = Arc::new(AtomicUsize::new(0));
    let shared = written.clone();
    // results.csv fills after ~20 KB: a few dozen of the 300 records.
    let open = move |path: &Path| -> io::Result<Box<dyn Write + Send>> {
        if path.file_name().is_some_and(|n| n == "results.csv") {
            Ok(Box::new(FullDisk {
                written: shared.clone(),
                capacity: 20_000,
            }))
        } else {
            create_file(path)
        }
    };
    let err = match run_trial(&sample_trial(), options(tmp.path()), &open, &Quiet) {
        Err(e) => e,
        Ok(_) => panic!("the trial completed although results.csv could not be written"),
    };
    let TrialRunError::Execute(ExecuteError::Write {
        path, completed, ..
    }) = &err
    else {
        panic!("expected a write error, got: {err}");
    };
    assert!(path.ends_with("results.csv"), "{err}");
    assert!(
        *completed > 0 && *completed < 100,
        "completed {completed}: {err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("results.csv")
            && message.contains(&format!(
                "after {completed} record(s) were written completely"
            )),
        "{message}"
    );
    // The run stopped: results.jsonl holds the completed records' lines (one per plugin) and
    // at most the next record's, not the other ~270 records'; no summary claims a run.
    let lines = std::fs::read_to_string(tmp.path().join("results.jsonl")).unwrap();
    let count = lines.lines().count() as u64;
    assert!(
        (completed * 7..=(completed + 1) * 7).contains(&count),
        "results.jsonl has {count} lines after {completed} completed records"
    );
    assert!(!tmp.path().join("summary.json").exists());
    assert!(written.load(Ordering::SeqCst) <= 20_000);
}

#[test]
fn an_evaluation_given_a_slice_is_the_evaluation_or_nothing() {
    // A service evaluates on its request thread for a slice of time first: what it keeps must
    // be exactly the evaluation, limits included, and a plugin that outruns the slice must
    // leave nothing, so that evaluating it again gives what one evaluation gives.
    let sandbox = sandbox(1).unwrap();
    let spin_limits = Limits {
        fuel: Some(1_000_000_000),
        deadline_ms: 10_000,
        ..Limits::default()
    };
    let planned: Vec<PlannedPlugin> = [
        (SAMPLE_PACKAGES[0].1, Limits::default()),
        (test_guests::SPIN, spin_limits),
    ]
    .into_iter()
    .map(|(path, limits)| PlannedPlugin {
        path: PathBuf::from(path),
        options: LoadOptions::authoring(limits),
    })
    .collect();
    let plugins = load_plugins(&sandbox, &ArtifactCache::new(None), &planned).unwrap();
    let (sample, spin) = (&plugins[0], &plugins[1]);
    let date = SAMPLE_DATE.parse().unwrap();
    let ctx = EvaluationContext {
        evaluation_date: date,
        seed: 7,
        keep_inputs: true,
    };
    let hook = Hook::PatientView;
    let slice = Duration::from_millis(2);
    for (i, record) in RecordReader::open(Path::new(SAMPLE_RECORDS), date)
        .unwrap()
        .take(20)
        .enumerate()
    {
        let record = record.unwrap();
        let whole = sample.evaluate_hook(&sandbox, &record, &hook, &ctx);
        // A sample plugin takes microseconds; a slice of a whole second cannot run out.
        let sliced = sample
            .evaluate_hook_within(&sandbox, &record, &hook, &ctx, Duration::from_secs(1))
            .unwrap_or_else(|| panic!("record {}: a second's slice ran out", record.key));
        assert_eq!(shown(&sliced), shown(&whole), "record {}", record.key);
        assert_eq!(
            sliced.setup.as_ref().map(|s| s.limits.deadline_ms),
            Some(sample.limits.deadline_ms),
            "record {}: the outcome keeps the plugin's own deadline, not the slice",
            record.key
        );
        // 10⁹ fuel of spinning is about half a second: far past the slice (even with the
        // epoch ticks that end it delayed on a loaded machine), within the deadline.
        if i >= 2 {
            continue;
        }
        assert!(
            spin.evaluate_hook_within(&sandbox, &record, &hook, &ctx, slice)
                .is_none(),
            "record {}: the spinning plugin finished within {slice:?}",
            record.key
        );
        let again = spin.evaluate_hook(&sandbox, &record, &hook, &ctx);
        assert_eq!(
            shown(&again),
            "fuel exhausted: the evaluation used its whole budget of 1000000000 fuel fuel 1000000000",
            "record {}",
            record.key
        );
    }
}

#[test]
fn loading_more_plugins_than_the_pool_holds_at_once_never_runs_out_of_instances() {
    // A one-worker sandbox holds 4 instances at once, and each plugin is instantiated once at
    // load, for `describe`. Loading a trial's 7 plugins on 7 threads once ran out of slots (a
    // Slurm shard with one CPU: "maximum concurrent limit of 4 for component instances
    // reached"). Loads from a warm cache are the quickest, so they overlap the most; without
    // the bound this failed here within a few hundred rounds (round 63 the first time).
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = ArtifactCache::new(Some(cache_dir.path().to_owned()));
    let planned: Vec<PlannedPlugin> = SAMPLE_PACKAGES
        .iter()
        .chain(CANDIDATE_PACKAGES)
        .map(|(_, path)| PlannedPlugin {
            path: PathBuf::from(path),
            options: LoadOptions::authoring(Limits::default()),
        })
        .collect();
    for round in 0..400 {
        let sandbox = sandbox(1).unwrap();
        assert!(
            planned.len() > sandbox.instance_slots(),
            "the test needs more plugins ({}) than slots ({})",
            planned.len(),
            sandbox.instance_slots()
        );
        if let Err(e) = load_plugins(&sandbox, &cache, &planned) {
            panic!(
                "round {round}: loading {} plugins failed: {e}",
                planned.len()
            );
        }
    }
}
