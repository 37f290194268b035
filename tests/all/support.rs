//! Shared helpers: running the CLI, temporary cohorts, reading results.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/plugin_artifacts.rs"));
/// The test guests, one path constant each (`test_guests::FLOOD_CARDS`).
pub use livelab_test_programs as test_guests;

pub const SAMPLE_RECORDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-records");
/// The date the sample cohort is current on (its cohort.json `as_of`).
pub const SAMPLE_DATE: &str = "2026-11-01";

/// Runs `livelab ARGS` with a private artifact cache and run registry (tests must not depend
/// on `~/.cache`, nor fill the registry in `~/.local/share`).
pub fn livelab(args: &[&str]) -> Output {
    livelab_in(Path::new("."), args)
}

pub fn livelab_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_livelab"))
        .args(args)
        .current_dir(dir)
        .env("LIVELAB_CACHE_DIR", cache_dir())
        .env("LIVELAB_REGISTRY", test_registry())
        .output()
        .expect("running the livelab binary")
}

/// The plugins of a trial of two versions of one rule: metformin-egfr and its candidate
/// metformin-egfr-ema on the same topic, compared pairwise. Appended to a trial file's header.
pub const METFORMIN_PAIR: &str = r#"[[plugin]]
path = "sample:metformin-egfr"

[[plugin]]
path = "sample:metformin-egfr-ema"
topic = "metformin-egfr"

[[compare]]
baseline = "metformin-egfr"
candidate = "metformin-egfr-ema"
"#;

/// Runs `trial` into `registry` and returns the run id it printed.
pub fn trial_run(trial: &Path, out: &Path, registry: &str) -> i64 {
    let output = livelab(&[
        "trial",
        trial.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--registry",
        registry,
    ]);
    assert_success(&output);
    let text = stdout(&output);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("registered as run ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{}: no `registered as run N` in:\n{text}", trial.display()))
}

/// The registry every test's `livelab trial` and `merge` records in, unless it names one.
pub fn test_registry() -> String {
    format!(
        "sqlite://{}/livelab-registry.sqlite",
        env!("CARGO_TARGET_TMPDIR")
    )
}

/// The compile cache every test run of the CLI shares (private to this build's target).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("livelab-cache")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the command succeeded, showing its output if not.
#[track_caller]
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "livelab failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

/// Asserts the command failed with a one-line error that contains every `needle`.
#[track_caller]
pub fn assert_error(output: &Output, needles: &[&str]) {
    let err = stderr(output);
    assert!(
        !output.status.success(),
        "expected failure, got success:\n{}",
        stdout(output)
    );
    // Progress notes (`livelab: compiled ...` when the compile cache is cold) may come first;
    // then the error, on a line of its own.
    let error_at = err.find("error: ");
    assert!(
        error_at.is_some_and(|at| {
            err[..at]
                .lines()
                .all(|l| l.starts_with("livelab: ") || l.starts_with("  "))
        }),
        "not a clear error message: {err}"
    );
    assert!(!err.contains("panicked"), "livelab panicked: {err}");
    for needle in needles {
        assert!(
            err.contains(needle),
            "error does not mention {needle:?}: {err}"
        );
    }
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("livelab-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("creating a temp dir")
}

/// Generates a seeded cohort into `dir/name` and returns its path.
pub fn cohort(dir: &Path, name: &str, patients: usize, format: &str) -> PathBuf {
    let out = dir.join(name);
    let output = livelab(&[
        "generate",
        "--out",
        out.to_str().unwrap(),
        "--patients",
        &patients.to_string(),
        "--seed",
        "7",
        "--format",
        format,
    ]);
    assert_success(&output);
    out
}

/// Runs plugins on records into `out`, asserting success; returns the results lines.
pub fn run(records: &Path, plugins: &[&str], out: &Path, extra: &[&str]) -> Vec<Value> {
    run_exiting(0, records, plugins, out, extra)
}

/// Exit status of a run that completed and wrote its files, but evaluated no record or
/// refused records for direct identifiers.
pub const EXIT_RUN_UNUSABLE: i32 = 2;

/// Runs plugins on records into `out`, asserting the exit status is `code` (0, or
/// [`EXIT_RUN_UNUSABLE`] for a run that must not count as a success); returns the results
/// lines, which such a run writes too.
pub fn run_exiting(
    code: i32,
    records: &Path,
    plugins: &[&str],
    out: &Path,
    extra: &[&str],
) -> Vec<Value> {
    let output = run_output(records, plugins, out, extra);
    assert_eq!(
        output.status.code(),
        Some(code),
        "livelab run on {} exited {} (expected {code}):\nstdout:\n{}\nstderr:\n{}",
        records.display(),
        output.status,
        stdout(&output),
        stderr(&output)
    );
    results(out)
}

/// `livelab run` of plugins on records into `out` at the sample date, whatever its outcome
/// (for a test that reads what it printed).
pub fn run_output(records: &Path, plugins: &[&str], out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--records",
        records.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--date",
        SAMPLE_DATE,
    ];
    for plugin in plugins {
        args.extend(["--plugin", plugin]);
    }
    args.extend(extra);
    livelab(&args)
}

/// `livelab trial TRIAL --out OUT`, whatever its outcome.
pub fn run_trial(trial: &Path, out: &Path) -> Output {
    livelab(&[
        "trial",
        trial.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

pub fn results(out: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out.join("results.jsonl")).expect("reading results.jsonl");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each results line is JSON"))
        .collect()
}

pub fn summary(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("summary.json")).expect("reading summary.json");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// The decision lines of a decision log, each with the `plugin` line it names (read as
/// JSON, independently of the host's reader): `(line number, plugin, decision)`.
pub fn decision_lines(log: &Path) -> Vec<(usize, Value, Value)> {
    let text = std::fs::read_to_string(log).expect("reading the decision log");
    let mut plugins = std::collections::HashMap::new();
    let mut decisions = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let value: Value = serde_json::from_str(line).expect("each decision-log line is JSON");
        match value["kind"].as_str() {
            Some("plugin") => {
                plugins.insert(value["plugin_ref"].to_string(), value["plugin"].clone());
            }
            Some("decision") => {
                let plugin = plugins
                    .get(&value["plugin_ref"].to_string())
                    .unwrap_or_else(|| panic!("line {}: no plugin line before it", i + 1))
                    .clone();
                decisions.push((i + 1, plugin, value));
            }
            _ => panic!("line {}: unknown kind: {line}", i + 1),
        }
    }
    decisions
}

/// Results lines keyed by `record plugin`, each seen through `view` (what is compared).
pub fn per_evaluation(
    lines: &[Value],
    view: impl Fn(&Value) -> Value,
) -> std::collections::BTreeMap<String, Value> {
    lines
        .iter()
        .map(|l| {
            (
                format!("record {} plugin {}", l["record"], l["plugin"]),
                view(l),
            )
        })
        .collect()
}

/// Fails naming each evaluation (record and plugin) that differs between `a` and `b`, or is
/// in one only, with the fields that differ and both values (the first 10 evaluations).
#[track_caller]
pub fn assert_same_per_evaluation(
    what: &str,
    a: &std::collections::BTreeMap<String, Value>,
    b: &std::collections::BTreeMap<String, Value>,
) {
    let short = |v: Option<&Value>| -> String {
        let text = v.map_or("(absent)".to_owned(), Value::to_string);
        if text.len() > 300 {
            format!("{}…", &text[..text.floor_char_boundary(300)])
        } else {
            text
        }
    };
    let mut differences = Vec::new();
    for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        let (x, y) = (a.get(key), b.get(key));
        if x == y {
            continue;
        }
        let fields = match (x.and_then(Value::as_object), y.and_then(Value::as_object)) {
            (Some(x), Some(y)) => x
                .keys()
                .chain(y.keys().filter(|k| !x.contains_key(*k)))
                .filter(|f| x.get(*f) != y.get(*f))
                .map(|f| format!("\n    {f}: {} vs {}", short(x.get(f)), short(y.get(f))))
                .collect::<String>(),
            _ => format!("\n    {} vs {}", short(x), short(y)),
        };
        differences.push(format!("  {key}:{fields}"));
    }
    assert!(
        differences.is_empty(),
        "{what}: {} evaluation(s) differ{}:\n{}",
        differences.len(),
        if differences.len() > 10 {
            " (the first 10)"
        } else {
            ""
        },
        differences[..differences.len().min(10)].join("\n")
    );
}

/// A results line without its timing fields, which differ from run to run.
pub fn without_timing(mut line: Value) -> Value {
    let obj = line.as_object_mut().expect("a results line is an object");
    obj.remove("latency_ns");
    obj.remove("instantiate_ns");
    line
}

/// Compares `actual` with the golden file `tests/expected/<name>`, or rewrites it when
/// `LIVELAB_BLESS=1`.
#[track_caller]
pub fn check_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(name);
    if std::env::var_os("LIVELAB_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run with LIVELAB_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(10)
            .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
            .collect();
        panic!(
            "{} differs ({} vs {} lines); first differences:\n{}\nIf the change is intended, rerun with LIVELAB_BLESS=1 and review the diff.",
            path.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

/// Writes a FHIR Bundle with one patient and the given resources (JSON objects without
/// `subject`, which is filled in) to `dir/<id>.json`.
pub fn write_bundle(dir: &Path, id: &str, birth: &str, resources: &[Value]) -> PathBuf {
    let patient_url = format!("urn:uuid:{id}");
    let mut entries = vec![serde_json::json!({
        "fullUrl": patient_url,
        "resource": {"resourceType": "Patient", "id": id, "gender": "female", "birthDate": birth}
    })];
    for (i, r) in resources.iter().enumerate() {
        let mut r = r.clone();
        let field = if r["resourceType"] == "AllergyIntolerance" {
            "patient"
        } else {
            "subject"
        };
        if r.get(field).is_none() {
            r[field] = serde_json::json!({"reference": patient_url});
        }
        entries.push(serde_json::json!({"fullUrl": format!("urn:uuid:{id}-{i}"), "resource": r}));
    }
    let bundle =
        serde_json::json!({"resourceType": "Bundle", "type": "collection", "entry": entries});
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&bundle).unwrap()).unwrap();
    path
}

pub fn coding(system: &str, code: &str) -> Value {
    serde_json::json!({"coding": [{"system": system, "code": code}]})
}

pub const ICPC: &str = "http://hl7.org/fhir/sid/icpc-1-nl";
pub const ATC: &str = "http://www.whocc.no/atc";
pub const LOINC: &str = "http://loinc.org";
pub const SNOMED: &str = "http://snomed.info/sct";

/// Runs `livelab ARGS` like [`livelab`], but watches it: a run whose resident memory goes
/// past `max_rss_bytes` or that takes longer than `timeout` is killed, and the reason is
/// returned instead of its output. For hostile plugins, whose failure mode may be the host
/// eating the machine's memory or hanging rather than an error line.
pub fn livelab_watched(
    args: &[&str],
    max_rss_bytes: u64,
    timeout: std::time::Duration,
) -> Result<Output, String> {
    use std::io::Read as _;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let mut child = Command::new(env!("CARGO_BIN_EXE_livelab"))
        .args(args)
        .env("LIVELAB_CACHE_DIR", cache_dir())
        .env("LIVELAB_REGISTRY", test_registry())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the livelab binary");
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let status_path = format!("/proc/{}/status", child.id());
    let start = Instant::now();
    let mut peak = 0u64;
    let verdict = loop {
        if let Some(status) = child.try_wait().expect("waiting for livelab") {
            break Ok(status);
        }
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            // VmHWM is the high-water mark, so a spike between two polls is still seen.
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024);
            peak = peak.max(hwm);
        }
        if peak > max_rss_bytes {
            break Err(format!(
                "livelab's resident memory reached {} MiB (the bound is {} MiB) after {:?}; killed",
                peak >> 20,
                max_rss_bytes >> 20,
                start.elapsed()
            ));
        }
        if start.elapsed() > timeout {
            break Err(format!("livelab ran longer than {timeout:?}; killed"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if verdict.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    match verdict {
        Ok(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        Err(why) => Err(format!(
            "{why}\nstderr so far:\n{}",
            String::from_utf8_lossy(&stderr)
        )),
    }
}

/// The cards of one plugin for one record, as `(indicator, summary)`.
pub fn cards(results: &[Value], record: &str, plugin: &str) -> Vec<(String, String)> {
    let line = results
        .iter()
        .find(|l| l["record"] == record && l["plugin"] == plugin)
        .unwrap_or_else(|| panic!("no result of {plugin} for {record}"));
    line["cards"]
        .as_array()
        .unwrap_or_else(|| panic!("{plugin} on {record} did not return cards: {line}"))
        .iter()
        .map(|c| {
            (
                c["indicator"].as_str().unwrap().to_owned(),
                c["summary"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub fn plugin<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in summary.json"))
}

/// The JSON paths (`/effectiveness/plugins/0/confusion/tp`) at which `a` and `b` differ, each
/// with both values; an array of another length differs as a whole.
pub fn json_differences(a: &Value, b: &Value) -> Vec<String> {
    fn walk(path: &mut String, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                    let len = path.len();
                    path.push('/');
                    path.push_str(key);
                    match (x.get(key), y.get(key)) {
                        (Some(x), Some(y)) => walk(path, x, y, out),
                        (x, y) => out.push(format!("{path}: {x:?} vs {y:?}")),
                    }
                    path.truncate(len);
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (x, y)) in x.iter().zip(y).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    walk(path, x, y, out);
                    path.truncate(len);
                }
            }
            _ if a != b => out.push(format!("{path}: {a} vs {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&mut String::new(), a, b, &mut out);
    out
}

/// Checks that the shards in `shards`, merged into `merged`, give what one unsharded run of
/// the same trial gave in `single`: the effectiveness, the record counts, each plugin's
/// counts and (deterministic) fuel and memory distributions exactly, every evaluation's
/// result but its timing, and as the latency maximum the shards' maximum. A failure names the
/// plugin and the field, or the JSON paths, that differ.
#[track_caller]
pub fn assert_merged_like_single(merged: &Path, single: &Path, shards: &[PathBuf]) {
    let (m, s) = (summary(merged), summary(single));
    let differences = json_differences(&m["effectiveness"], &s["effectiveness"]);
    assert!(
        differences.is_empty(),
        "effectiveness, merged vs single run, differs at:\n  {}",
        differences.join("\n  ")
    );
    assert_eq!(m["run"]["records"], s["run"]["records"], "run.records");
    let plugins = |summary: &Value| summary["run"]["plugins"].as_array().unwrap().clone();
    let (mp, sp) = (plugins(&m), plugins(&s));
    let ids = |p: &[Value]| p.iter().map(|p| p["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&mp), ids(&sp), "the plugins, merged vs single run");
    let shard_summaries: Vec<Value> = shards.iter().map(|dir| summary(dir)).collect();
    for (i, (mp, sp)) in mp.iter().zip(&sp).enumerate() {
        let id = &sp["id"];
        // Fuel and memory are deterministic, so merged histograms must equal the single
        // run's exactly: percentiles merged from buckets, not averaged.
        for field in [
            "sha256",
            "evaluations",
            "ok",
            "errors",
            "cards",
            "patients_with_cards",
            "fuel",
            "peak_memory_bytes",
        ] {
            let differences = json_differences(&mp[field], &sp[field]);
            assert!(
                differences.is_empty(),
                "plugin {id}: {field}, merged vs single run, differs at:\n  {}",
                differences.join("\n  ")
            );
        }
        // Latency differs run to run, but the merged maximum is the shards' maximum.
        let max = |p: &Value| p["latency_ns"]["max"].as_u64().unwrap();
        let shard_max = shard_summaries
            .iter()
            .map(|s| max(&s["run"]["plugins"][i]))
            .max()
            .unwrap();
        assert_eq!(
            max(mp),
            shard_max,
            "plugin {id}: latency_ns.max, merged vs the shards' maximum"
        );
    }
    let key = |lines: Vec<Value>| per_evaluation(&lines, |l| without_timing(l.clone()));
    assert_same_per_evaluation(
        "results.jsonl, merged vs single run",
        &key(results(merged)),
        &key(results(single)),
    );
    let rows = |dir: &Path| {
        std::fs::read_to_string(dir.join("results.csv"))
            .expect("reading results.csv")
            .lines()
            .count()
    };
    assert_eq!(
        rows(merged),
        rows(single),
        "results.csv rows, merged vs single run"
    );
    assert!(merged.join("report.html").is_file(), "merged report.html");
}

/// Copies a directory tree (a fixture or the sample records, to change a copy).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
