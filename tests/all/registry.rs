//! The run registry: one suite run against SQLite and against a real PostgreSQL server that
//! each test starts on a temporary data directory and a free port (Debian's `postgresql`
//! package, which `.ci/setup` installs), and stops when it ends. No mock database.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use livelab_host::run::outcome::{AgeBand, Subgroup};
use livelab_host::trial::TrialSummary;
use livelab_host::trial::stats::Confusion;
use livelab_registry::blocking::Registry;
use livelab_registry::diff::RunDiff;
use livelab_registry::{NewRun, RegistryUrl, RunFilter, RunId, SeriesFilter};

use crate::support::*;

// ------------------------------------------------------------------------------------------
// The servers

/// A PostgreSQL server of its own: `initdb` on a temporary directory, `postgres` on a free
/// loopback port, run as the `postgres` user when the tests run as root (PostgreSQL refuses
/// root). Stopped, and its directory removed, on drop.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    server: Child,
    _dir: tempfile::TempDir,
}

/// The newest `/usr/lib/postgresql/<major>/bin`.
fn postgres_bin() -> PathBuf {
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    majors.sort();
    majors.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!("no PostgreSQL in /usr/lib/postgresql/*/bin; .ci/setup installs Debian's postgresql")
    })
}

fn is_root() -> bool {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .expect("running id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `program args`, as the `postgres` user when we are root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free port")
        .port()
}

impl Postgres {
    fn start() -> Postgres {
        let bin = postgres_bin();
        // In /tmp: every directory above it must be one the postgres user can enter.
        let dir = tempfile::Builder::new()
            .prefix("livelab-pg-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        if is_root() {
            let chown = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chown.success(), "chown of {}", dir.path().display());
        }
        let initdb = as_postgres(&bin.join("initdb"))
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = free_port();
        let server = as_postgres(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Postgres {
            bin,
            data,
            port,
            server,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(server.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
                .status()
                .unwrap();
            if ready.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&self.data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A registry file in its own temporary directory.
struct Sqlite(tempfile::TempDir);

impl Sqlite {
    fn new() -> Sqlite {
        Sqlite(temp_dir())
    }

    fn url(&self) -> String {
        format!(
            "sqlite://{}",
            self.0.path().join("registry.sqlite").display()
        )
    }
}

// ------------------------------------------------------------------------------------------
// What is recorded

/// A trial of the metformin plugin and its EMA candidate on the sample records.
fn ab_trial(dir: &Path, name: &str) -> PathBuf {
    ab_trial_labelled(dir, name, Path::new(SAMPLE_RECORDS).join("labels.csv"))
}

/// [`ab_trial`] judged against the labels in `labels`, written as `dir/<name>.toml`.
fn ab_trial_labelled(dir: &Path, name: &str, labels: PathBuf) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"name = {name:?}
region = "test"
records = {records:?}
labels = {labels:?}
allow_unsigned = true

{METFORMIN_PAIR}"#,
            records = SAMPLE_RECORDS,
        ),
    )
    .unwrap();
    path
}

/// The summary of one real trial, run once for every test that records summaries.
fn base_summary() -> &'static TrialSummary {
    static SUMMARY: OnceLock<TrialSummary> = OnceLock::new();
    SUMMARY.get_or_init(|| {
        let tmp = temp_dir();
        let trial = ab_trial(tmp.path(), "registry base");
        let out = tmp.path().join("out");
        let output = livelab(&[
            "trial",
            trial.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--no-registry",
        ]);
        assert_success(&output);
        let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

/// The base summary as another trial: region, date, the candidate's version and hash, the
/// candidate's table and the number of records aged 75+.
fn variant(
    region: &str,
    date: &str,
    candidate_version: &str,
    candidate: Confusion,
    aged_75: u64,
) -> TrialSummary {
    let mut s = base_summary().clone();
    s.trial.region = region.into();
    s.run.evaluation_date = date.parse().unwrap();
    let ema = "metformin-egfr-ema";
    let plugin = s
        .run
        .plugins
        .iter_mut()
        .find(|p| p.plugin.id == ema)
        .unwrap();
    if plugin.plugin.version != candidate_version {
        plugin.plugin.version = candidate_version.into();
        plugin.plugin.sha256 = livelab_host::digest::sha256_hex(candidate_version.as_bytes());
    }
    let e = s.effectiveness.as_mut().unwrap();
    let p = e.plugins.iter_mut().find(|p| p.plugin == ema).unwrap();
    p.confusion = candidate;
    p.metrics = candidate.metrics();
    p.labelled = candidate.total();
    s.run
        .case_mix
        .insert(Subgroup::Age(AgeBand::From75), aged_75);
    s
}

fn record(registry: &Registry, summary: &TrialSummary, report: &str) -> RunId {
    registry
        .record(&NewRun {
            summary,
            report_dir: report.into(),
            records_sha256: Some("ab".repeat(32)),
            recorded_at: "2026-12-01T10:00:00Z".parse().unwrap(),
        })
        .unwrap_or_else(|e| panic!("recording {report}: {e}"))
}

fn table(tp: u64, fp: u64, fn_: u64, tn: u64) -> Confusion {
    Confusion { tp, fp, fn_, tn }
}

// ------------------------------------------------------------------------------------------
// The suite

/// Record → list → read back equal; filters; diff; series. The same on every backend.
fn suite(url: &str) {
    let url = RegistryUrl::parse(url).unwrap();
    let registry = Registry::open(&url).unwrap();
    let base = base_summary();
    let ema_table = base.effectiveness.as_ref().unwrap().plugins[1].confusion;
    let aged = |s: &TrialSummary| s.run.case_mix[&Subgroup::Age(AgeBand::From75)];
    let old = aged(base);
    let version = base.run.plugins[1].plugin.version.clone();
    let runs = [
        variant("west", "2026-01-01", &version, ema_table, old),
        variant(
            "west",
            "2026-02-01",
            "9.9.9",
            table(5, 40, 30, 225),
            old + 40,
        ),
        variant("east\u{202e}gro", "2026-03-01", &version, ema_table, old),
    ];
    let ids: Vec<RunId> = runs
        .iter()
        .enumerate()
        .map(|(i, s)| record(&registry, s, &format!("/runs/{i}")))
        .collect();

    // Read back: exactly the summary recorded, and the row says what it is.
    for (id, summary) in ids.iter().zip(&runs) {
        let stored = registry.run(*id).unwrap();
        assert!(
            stored.summary == *summary,
            "run {id} on {url}: the summary read back differs from the one recorded"
        );
        assert_eq!(stored.row.region, summary.trial.region, "run {id} on {url}");
        assert_eq!(stored.row.evaluation_date, summary.run.evaluation_date);
        assert_eq!(
            stored.row.records_sha256.as_deref(),
            Some(&*"ab".repeat(32))
        );
        let plugins: Vec<(&str, &str)> = stored
            .row
            .plugins
            .iter()
            .map(|p| (p.plugin.as_str(), p.version.as_str()))
            .collect();
        let expected: Vec<(&str, &str)> = summary
            .run
            .plugins
            .iter()
            .map(|p| (p.plugin.id.as_str(), p.plugin.version.as_str()))
            .collect();
        assert_eq!(plugins, expected, "run {id} on {url}: plugins");
    }
    let missing = registry.run(RunId(9999)).unwrap_err().to_string();
    assert!(missing.contains("no run 9999"), "{missing}");

    // Filters, each alone and together.
    let listed = |filter: RunFilter| -> Vec<RunId> {
        registry
            .list(&filter)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(
        listed(RunFilter::default()),
        ids,
        "{url}: all runs, by date"
    );
    let west = RunFilter {
        region: Some("west".into()),
        ..RunFilter::default()
    };
    assert_eq!(listed(west.clone()), ids[..2], "{url}: --region west");
    let candidate_9 = RunFilter {
        plugin: Some("metformin-egfr-ema".into()),
        version: Some("9.9.9".into()),
        ..RunFilter::default()
    };
    assert_eq!(listed(candidate_9), ids[1..2], "{url}: --plugin --version");
    let dated = RunFilter {
        from: Some("2026-01-15".parse().unwrap()),
        to: Some("2026-03-01".parse().unwrap()),
        ..west
    };
    assert_eq!(listed(dated), ids[1..2], "{url}: --region --from --to");
    let nobody = RunFilter {
        plugin: Some("no-such-plugin".into()),
        ..RunFilter::default()
    };
    assert_eq!(listed(nobody), Vec::new(), "{url}: an unknown plugin");

    // Diff: a run against itself is empty; against the second, only what was changed.
    let (a, b) = (registry.run(ids[0]).unwrap(), registry.run(ids[1]).unwrap());
    assert!(RunDiff::between(&a, &a).is_empty());
    let diff = RunDiff::between(&a, &b);
    let fields: Vec<&str> = diff.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["evaluation date"], "{url}: {diff:#?}");
    let plugins: Vec<&str> = diff.plugins.iter().map(|p| p.key.plugin.as_str()).collect();
    assert_eq!(plugins, ["metformin-egfr-ema"], "{url}: changed plugins");
    assert_eq!(diff.plugins[0].b.as_ref().unwrap().version, "9.9.9");
    let measured: Vec<&str> = diff
        .effectiveness
        .iter()
        .map(|p| p.key.plugin.as_str())
        .collect();
    assert_eq!(
        measured,
        ["metformin-egfr-ema"],
        "{url}: changed effectiveness"
    );
    let sensitivity = diff.effectiveness[0].b.as_ref().unwrap().sensitivity;
    assert_eq!((sensitivity.successes, sensitivity.trials), (5, 35));
    assert!(sensitivity.ci95.is_some(), "with its interval");
    let mix: Vec<(String, u64, u64)> = diff
        .case_mix
        .iter()
        .map(|c| (c.subgroup.to_string(), c.a, c.b))
        .collect();
    assert_eq!(
        mix,
        [("age=75+".to_owned(), old, old + 40)],
        "{url}: case mix"
    );
    assert!(
        diff.alerts.is_empty() && diff.errors.is_empty() && diff.paired.is_empty(),
        "{diff:#?}"
    );

    // Series: per region, plugin, topic and component; a new component is a new series.
    let series = registry.series(&SeriesFilter::default()).unwrap();
    let shape: Vec<(&str, &str, &str, Vec<RunId>)> = series
        .iter()
        .map(|s| {
            (
                s.key.region.as_str(),
                s.key.plugin.as_str(),
                s.version.as_str(),
                s.points.iter().map(|p| p.run).collect(),
            )
        })
        .collect();
    let (v0, v) = (
        base.run.plugins[0].plugin.version.as_str(),
        version.as_str(),
    );
    assert_eq!(
        shape,
        [
            ("east\u{202e}gro", "metformin-egfr", v0, vec![ids[2]]),
            ("east\u{202e}gro", "metformin-egfr-ema", v, vec![ids[2]]),
            ("west", "metformin-egfr", v0, vec![ids[0], ids[1]]),
            ("west", "metformin-egfr-ema", v, vec![ids[0]]),
            ("west", "metformin-egfr-ema", "9.9.9", vec![ids[1]]),
        ],
        "{url}: series"
    );
    let west_ema = &series[4].points[0];
    assert_eq!(west_ema.confusion, table(5, 40, 30, 225));
    assert_eq!(west_ema.case_mix[&Subgroup::Age(AgeBand::From75)], old + 40);
}

#[test]
fn the_registry_suite_passes_on_sqlite() {
    let db = Sqlite::new();
    suite(&db.url());
}

#[test]
fn the_registry_suite_passes_on_postgresql() {
    let server = Postgres::start();
    suite(&server.url());
}

// ------------------------------------------------------------------------------------------
// The command line

/// Two `livelab trial` processes at once into one registry: both runs are there.
fn concurrent_trials_lose_no_run(url: &str) {
    let tmp = temp_dir();
    let trial = ab_trial(tmp.path(), "concurrent");
    let children: Vec<(PathBuf, Child)> = (0..2)
        .map(|i| {
            let out = tmp.path().join(format!("out-{i}"));
            let child = Command::new(env!("CARGO_BIN_EXE_livelab"))
                .args(["trial", trial.to_str().unwrap(), "--out"])
                .arg(&out)
                .args(["--registry", url])
                .env("LIVELAB_CACHE_DIR", cache_dir())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (out, child)
        })
        .collect();
    let mut expected = BTreeSet::new();
    for (out, child) in children {
        let output = child.wait_with_output().unwrap();
        assert_success(&output);
        expected.insert(std::path::absolute(&out).unwrap().display().to_string());
    }
    let listed = livelab(&["runs", "--json", "--registry", url]);
    assert_success(&listed);
    let runs: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    let reports: BTreeSet<String> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["report_dir"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reports, expected, "{url}: the runs registered");
}

#[test]
fn two_trials_at_once_into_one_sqlite_file_lose_no_run() {
    let db = Sqlite::new();
    concurrent_trials_lose_no_run(&db.url());
}

#[test]
fn two_trials_at_once_into_postgresql_lose_no_run() {
    let server = Postgres::start();
    concurrent_trials_lose_no_run(&server.url());
}

#[test]
fn a_registry_that_cannot_be_reached_fails_the_registration_and_keeps_the_files() {
    let tmp = temp_dir();
    let trial = ab_trial(tmp.path(), "unreachable");
    let out = tmp.path().join("out");
    // A port nothing listens on.
    let url = format!("postgres://lab:s3cret@127.0.0.1:{}/livelab", free_port());
    let output = livelab(&[
        "trial",
        trial.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--registry",
        &url,
    ]);
    assert_error(
        &output,
        &["cannot reach the registry", "127.0.0.1", "--no-registry"],
    );
    let err = stderr(&output);
    assert!(
        err.contains(out.to_str().unwrap()),
        "names where the files are: {err}"
    );
    assert!(!err.contains("s3cret"), "the password is not shown: {err}");
    for file in [
        "summary.json",
        "report.html",
        "results.csv",
        "results.jsonl",
    ] {
        assert!(out.join(file).is_file(), "{file} was kept");
    }
}

#[test]
fn runs_prints_hostile_names_escaped() {
    let db = Sqlite::new();
    let registry = Registry::open(&RegistryUrl::parse(&db.url()).unwrap()).unwrap();
    let mut hostile = base_summary().clone();
    hostile.trial.name = "trial\u{202e}lmth.exe".into();
    hostile.trial.region = "region\u{1b}[2J".into();
    hostile.run.plugins[0].plugin.version = "1.0\u{200b}".into();
    // A paired comparison whose candidate's name holds a bidi override: in this run only.
    hostile.effectiveness.as_mut().unwrap().comparisons[0].candidate = "ema\u{202e}".into();
    let id = record(&registry, &hostile, "/reports/\u{7}bell");
    let other = record(&registry, base_summary(), "/reports/plain");
    drop(registry);
    for args in [
        vec!["runs"],
        vec!["runs", "--json"],
        vec!["runs", "diff", &id.to_string(), &other.to_string()],
        vec!["runs", "drift"],
    ] {
        let mut args = args;
        let url = db.url();
        args.extend(["--registry", &url]);
        let output = livelab(&args);
        let text = stdout(&output);
        assert!(
            !text.contains(['\u{202e}', '\u{1b}', '\u{200b}', '\u{7}']),
            "livelab {args:?} printed a hidden character:\n{text}"
        );
        if args[1] != "drift" {
            assert!(
                text.contains("202e") && text.contains("1b"),
                "livelab {args:?} shows the hidden characters escaped:\n{text}"
            );
        }
        if args[1] == "diff" {
            assert!(
                text.contains("metformin-egfr → ema\\u{202e} (topic metformin-egfr)"),
                "livelab {args:?} lists the hostile run's paired comparison, escaped:\n{text}"
            );
        }
    }
}

/// Two real runs of the two-version trial, the second judged against labels with some
/// metformin-egfr labels flipped: `livelab runs diff` shows their paired comparison changed,
/// named by its plugins, in the text table and in `--json`, with the figures each run recorded.
#[test]
fn runs_diff_shows_a_paired_comparison_that_changed() {
    let tmp = temp_dir();
    let db = Sqlite::new();
    let url = db.url();
    // Every tenth metformin-egfr label flipped: patients move between the label-positive and
    // label-negative tables, so both differences and both tests change.
    let original = std::fs::read_to_string(Path::new(SAMPLE_RECORDS).join("labels.csv")).unwrap();
    let mut metformin = 0;
    let flipped: String = original
        .lines()
        .map(|line| {
            let flip = line.contains(",metformin-egfr,") && {
                metformin += 1;
                metformin % 10 == 0
            };
            match (flip, line.strip_suffix(",0"), line.strip_suffix(",1")) {
                (true, Some(rest), _) => format!("{rest},1\n"),
                (true, _, Some(rest)) => format!("{rest},0\n"),
                _ => format!("{line}\n"),
            }
        })
        .collect();
    assert!(metformin >= 100, "{metformin} metformin-egfr labels");
    let labels = tmp.path().join("flipped-labels.csv");
    std::fs::write(&labels, flipped).unwrap();
    let run = |trial: PathBuf, out: &str| {
        let out = tmp.path().join(out);
        let id = trial_run(&trial, &out, &url);
        let summary: TrialSummary =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        (id.to_string(), summary)
    };
    let (a, summary_a) = run(ab_trial(tmp.path(), "labels"), "out-a");
    let (b, summary_b) = run(ab_trial_labelled(tmp.path(), "flipped", labels), "out-b");
    let comparison = |s: &TrialSummary| s.effectiveness.as_ref().unwrap().comparisons[0].clone();
    let (x, y) = (comparison(&summary_a), comparison(&summary_b));
    assert_ne!(
        x.label_positive, y.label_positive,
        "the flipped labels change the paired table"
    );

    let text = livelab(&["runs", "diff", &a, &b, "--registry", &url]);
    assert_success(&text);
    let text = stdout(&text);
    let section = &text[text
        .find("paired comparisons:\n")
        .unwrap_or_else(|| panic!("no paired comparisons section in:\n{text}"))..];
    let lines: Vec<&str> = section.lines().take(4).collect();
    let side = |c: &livelab_host::trial::effectiveness::ComparisonReport| {
        format!(
            "{} patients ({} excluded); sensitivity {}, {} · specificity {}, {}",
            c.patients,
            c.excluded,
            c.sensitivity_difference,
            c.sensitivity_mcnemar,
            c.specificity_difference,
            c.specificity_mcnemar
        )
    };
    assert_eq!(
        lines,
        [
            "paired comparisons:".to_owned(),
            "  metformin-egfr → metformin-egfr-ema (topic metformin-egfr)".to_owned(),
            format!("    a: {}", side(&x)),
            format!("    b: {}", side(&y)),
        ],
        "livelab runs diff {a} {b}:\n{text}"
    );
    assert!(
        lines[2].contains("McNemar p") && lines[2].contains(" points ("),
        "each side shows the differences with their intervals and the tests: {}",
        lines[2]
    );

    let json = livelab(&["runs", "diff", &a, &b, "--json", "--registry", &url]);
    assert_success(&json);
    let diff: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let paired = diff["paired"].as_array().expect("a `paired` list");
    assert_eq!(paired.len(), 1, "{diff:#}");
    let p = &paired[0];
    assert_eq!(
        (&p["baseline"], &p["candidate"], &p["topic"]),
        (
            &serde_json::json!("metformin-egfr"),
            &serde_json::json!("metformin-egfr-ema"),
            &serde_json::json!("metformin-egfr")
        ),
        "{p:#}"
    );
    for (side, c) in [("a", &x), ("b", &y)] {
        for field in [
            "label_positive",
            "label_negative",
            "sensitivity_difference",
            "specificity_difference",
            "sensitivity_mcnemar",
            "specificity_mcnemar",
        ] {
            let recorded = serde_json::to_value(c).unwrap()[field].clone();
            assert_eq!(p[side][field], recorded, "run {side}'s {field}");
        }
    }

    // A run against itself: no paired comparison listed.
    let same = livelab(&["runs", "diff", &a, &a, "--json", "--registry", &url]);
    let same: serde_json::Value = serde_json::from_str(&stdout(&same)).unwrap();
    assert_eq!(same["paired"], serde_json::json!([]));
}

// ------------------------------------------------------------------------------------------
// Drift

/// A drifting region and a stable control, recorded as successive runs; `livelab runs
/// drift` flags the drifting one (exit 1) and not the control (exit 0).
#[test]
fn runs_drift_flags_a_drifting_series_and_not_a_stable_one() {
    let db = Sqlite::new();
    let registry = Registry::open(&RegistryUrl::parse(&db.url()).unwrap()).unwrap();
    let version = base_summary().run.plugins[1].plugin.version.clone();
    let v = version.as_str();
    let old = base_summary().run.case_mix[&Subgroup::Age(AgeBand::From75)];
    let dates = ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"];
    // Stable: small wobbles of a plugin with sensitivity 0.9 and specificity 0.95.
    let stable = [
        table(36, 13, 4, 247),
        table(35, 15, 5, 245),
        table(37, 12, 3, 248),
        table(36, 14, 4, 246),
    ];
    // Drifting: the fourth export's lab code changed, and the plugin misses most patients.
    let drifting = [
        table(36, 13, 4, 247),
        table(35, 15, 5, 245),
        table(37, 12, 3, 248),
        table(8, 13, 32, 247),
    ];
    let mut drifted = None;
    for (i, date) in dates.iter().enumerate() {
        record(
            &registry,
            &variant("stable", date, v, stable[i], old),
            &format!("/stable/{i}"),
        );
        let id = record(
            &registry,
            &variant("drifting", date, v, drifting[i], old),
            &format!("/drifting/{i}"),
        );
        drifted = Some(id);
    }
    drop(registry);
    let url = db.url();
    let control = livelab(&["runs", "drift", "--region", "stable", "--registry", &url]);
    assert_success(&control);
    assert!(!stdout(&control).contains("FLAG"), "{}", stdout(&control));

    let watched = livelab(&[
        "runs",
        "drift",
        "--region",
        "drifting",
        "--json",
        "--registry",
        &url,
    ]);
    assert_eq!(watched.status.code(), Some(1), "{}", stderr(&watched));
    let judged: serde_json::Value = serde_json::from_str(&stdout(&watched)).unwrap();
    let flagged: Vec<(String, i64, Vec<String>)> = judged
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            let plugin = s["key"]["plugin"].as_str().unwrap().to_owned();
            s["points"].as_array().unwrap().iter().filter_map(move |p| {
                let flags: Vec<String> = p["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["measure"].as_str().unwrap().to_owned())
                    .collect();
                (!flags.is_empty()).then(|| (plugin.clone(), p["run"].as_i64().unwrap(), flags))
            })
        })
        .collect();
    assert_eq!(
        flagged,
        [(
            "metformin-egfr-ema".to_owned(),
            drifted.unwrap().0,
            vec!["alert-rate".to_owned(), "sensitivity".to_owned()]
        )],
        "only the drifting export is flagged"
    );
    let text = livelab(&["runs", "drift", "--region", "drifting", "--registry", &url]);
    assert!(
        stdout(&text).contains("FLAG alert rate"),
        "the table says why:\n{}",
        stdout(&text)
    );
}
