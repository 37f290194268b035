//! Plugins in three languages: the home blood-pressure plugin in Rust (plugins/home-bp),
//! JavaScript (plugins/js/home-bp) and Python (plugins/python/home-bp) must give identical
//! cards on every sample record; `livelab new` must scaffold a plugin in each language that
//! `livelab build` builds and that gives its own expected cards on its fixtures.
//!
//! These tests need Node.js with npm and python3 with venv and pip: `livelab build` installs
//! the pinned componentize-js and componentize-py into target/tools/ the first time (as
//! `.ci/setup` does). Build output goes under target/ only, never into the source tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::Value;

use crate::support::{SAMPLE_PACKAGES, SAMPLE_RECORDS, assert_success, stderr, stdout, temp_dir};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Where these tests keep what is worth keeping between runs (the built packages, the Rust
/// scaffold's cargo target directory), under target/.
fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("languages")
}

/// `livelab ARGS` with the tests' private artifact cache (as `support::livelab`) and `env`.
fn livelab_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_livelab"));
    command
        .args(args)
        .env(
            "LIVELAB_CACHE_DIR",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("livelab-cache"),
        )
        .current_dir(ROOT);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("running the livelab binary")
}

/// `livelab build DIR --out OUT`, asserting success; prints how long it took.
fn build(dir: &Path, out: &Path, env: &[(&str, &Path)]) {
    let started = Instant::now();
    let output = livelab_env(
        &[
            "build",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        env,
    );
    assert_success(&output);
    assert!(
        out.join("plugin.toml").is_file(),
        "no package in {}",
        out.display()
    );
    eprintln!(
        "built {} in {:.1} s:\n{}{}",
        dir.display(),
        started.elapsed().as_secs_f64(),
        stderr(&output),
        stdout(&output)
    );
}

fn sample_package(id: &str) -> &'static str {
    SAMPLE_PACKAGES
        .iter()
        .find(|(name, _)| *name == id)
        .map(|(_, path)| *path)
        .unwrap_or_else(|| panic!("no sample package {id}"))
}

/// What an evaluation said, without what names the plugin or measures the run.
fn outcome(line: &Value) -> Value {
    let mut line = line.clone();
    let obj = line.as_object_mut().expect("a results line is an object");
    for field in [
        "plugin",
        "plugin_sha256",
        "latency_ns",
        "instantiate_ns",
        "peak_memory_bytes",
        "fuel",
    ] {
        obj.remove(field);
    }
    line
}

#[test]
fn home_bp_in_rust_javascript_and_python_gives_identical_cards() {
    let work = work_dir();
    let js = work.join("home-bp-js");
    let py = work.join("home-bp-py");
    let started = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| build(&Path::new(ROOT).join("plugins/js/home-bp"), &js, &[]));
        scope.spawn(|| build(&Path::new(ROOT).join("plugins/python/home-bp"), &py, &[]));
    });
    eprintln!(
        "built both ports in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (package, id) in [(&js, "home-bp-js"), (&py, "home-bp-py")] {
        let manifest = std::fs::read_to_string(package.join("plugin.toml")).unwrap();
        assert!(manifest.contains(&format!("id = \"{id}\"")), "{manifest}");
        assert!(manifest.contains("\"loinc|85354-9\""), "{manifest}");
    }

    let dir = temp_dir();
    let out = dir.path().join("out");
    let started = Instant::now();
    let lines = crate::support::run(
        Path::new(SAMPLE_RECORDS),
        &[
            sample_package("home-bp"),
            js.to_str().unwrap(),
            py.to_str().unwrap(),
        ],
        &out,
        &[],
    );
    eprintln!(
        "ran the three on the sample records in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut by_record: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for line in &lines {
        let record = line["record"].as_str().expect("a record").to_owned();
        let plugin = line["plugin"].as_str().expect("a plugin").to_owned();
        by_record
            .entry(record)
            .or_default()
            .insert(plugin, outcome(line));
    }
    assert_eq!(by_record.len(), 300, "every sample record is evaluated");
    let mut with_cards = 0;
    for (record, outcomes) in &by_record {
        let ids: Vec<&str> = outcomes.keys().map(String::as_str).collect();
        assert_eq!(ids, ["home-bp", "home-bp-js", "home-bp-py"], "{record}");
        let rust = &outcomes["home-bp"];
        assert_eq!(rust["status"], "ok", "{record}: {rust}");
        for port in ["home-bp-js", "home-bp-py"] {
            assert_eq!(
                &outcomes[port], rust,
                "{record}: {port} differs from the Rust home-bp"
            );
        }
        if rust["cards"].as_array().is_some_and(|c| !c.is_empty()) {
            with_cards += 1;
        }
    }
    // The sample cohort has home-BP cases of every kind: the comparison is not vacuous.
    assert!(with_cards >= 40, "only {with_cards} records with cards");
}

/// `livelab new` in `lang`, `livelab build`, `livelab run` on the scaffold's fixtures: each
/// record's cards must be its `expected/<record>.json`.
fn scaffold_builds_and_passes_its_own_test(lang: &str) {
    let dir = temp_dir();
    let name = format!("hello-{lang}");
    let plugin = dir.path().join(&name);
    let output = livelab_env(
        &[
            "new",
            &name,
            "--lang",
            lang,
            "--dir",
            plugin.to_str().unwrap(),
        ],
        &[],
    );
    assert_success(&output);
    for file in [
        "plugin.toml",
        "README.md",
        "wit/cds.wit",
        "fixtures/pt-hba1c-high.json",
        "expected/pt-hba1c-high.json",
    ] {
        assert!(plugin.join(file).is_file(), "the scaffold has no {file}");
    }
    assert_eq!(
        std::fs::read_to_string(plugin.join("wit/cds.wit")).unwrap(),
        std::fs::read_to_string(Path::new(ROOT).join("wit/cds.wit")).unwrap(),
        "the scaffold carries the current WIT"
    );
    // A second `new` into the same place is refused.
    let again = livelab_env(
        &[
            "new",
            &name,
            "--lang",
            lang,
            "--dir",
            plugin.to_str().unwrap(),
        ],
        &[],
    );
    crate::support::assert_error(&again, &["not empty"]);

    // The Rust scaffold's cargo target directory is kept between runs (wit-bindgen compiles
    // once); everything else is built inside the temporary scaffold.
    let cargo_target = work_dir().join("scaffold-cargo-target");
    let env: Vec<(&str, &Path)> = if lang == "rust" {
        vec![("CARGO_TARGET_DIR", cargo_target.as_path())]
    } else {
        vec![]
    };
    let package = plugin.join("target/package");
    build(&plugin, &package, &env);
    if lang == "rust" {
        // Building again replaces the package in place. (Only for Rust, where it is cheap:
        // componentize-js and componentize-py builds are not bit-reproducible, so each new
        // JS/Python component is compiled by wasmtime afresh, 10-20 s.)
        build(&plugin, &package, &env);
    }

    let out = dir.path().join("out");
    let lines = crate::support::run(
        &plugin.join("fixtures"),
        &[package.to_str().unwrap()],
        &out,
        &[],
    );
    assert_eq!(lines.len(), 2, "one evaluation per fixture");
    for line in &lines {
        let record = line["record"].as_str().unwrap();
        assert_eq!(line["status"], "ok", "{line}");
        assert_eq!(line["plugin"], name.as_str());
        let expected_path = plugin.join("expected").join(format!("{record}.json"));
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display())),
        )
        .unwrap();
        assert_eq!(line["cards"], expected, "{record}");
    }
    // The example rule fires on one fixture and not on the other.
    let cards: Vec<usize> = lines
        .iter()
        .map(|l| l["cards"].as_array().unwrap().len())
        .collect();
    assert_eq!(cards, [1, 0]);

    // The author's loop on the source directory: `test` uses the built package with the
    // source's fixtures and expected cards; `bench` measures it beside a shipped plugin.
    let tested = livelab_env(&["test", plugin.to_str().unwrap()], &[]);
    assert_success(&tested);
    assert!(
        stdout(&tested).contains("2 passed, 0 failed"),
        "{}",
        stdout(&tested)
    );
    let bench = livelab_env(
        &[
            "bench",
            plugin.to_str().unwrap(),
            "--records",
            plugin.join("fixtures").to_str().unwrap(),
            "--rounds",
            "1",
            "--json",
        ],
        &[],
    );
    assert_success(&bench);
    let costs: Value = serde_json::from_str(&stdout(&bench)).unwrap();
    assert_eq!(costs[name.as_str()]["evaluations"], 2, "{costs}");
    assert_eq!(costs["home-bp"]["evaluations"], 2, "{costs}");
}

#[test]
fn new_rust_plugin_builds_and_gives_its_expected_cards() {
    scaffold_builds_and_passes_its_own_test("rust");
}

#[test]
fn new_javascript_plugin_builds_and_gives_its_expected_cards() {
    scaffold_builds_and_passes_its_own_test("js");
}

#[test]
fn new_python_plugin_builds_and_gives_its_expected_cards() {
    scaffold_builds_and_passes_its_own_test("python");
}

#[test]
fn build_refuses_a_directory_without_a_plugin() {
    let dir = temp_dir();
    let output = livelab_env(&["build", dir.path().to_str().unwrap()], &[]);
    crate::support::assert_error(&output, &["no plugin source"]);
}
