//! The supply chain and the audit trail: packages, manifests and grants, signatures and the
//! trust policy, hash pinning, limits a manifest or trial asks for, and the decision log with
//! `livelab replay`. Each refusal is checked for its message: a reviewer must read why.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

/// `livelab package WASM --out DIR --publisher P [extra]`, asserting success.
fn package(wasm: &str, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec![
        "package",
        wasm,
        "--out",
        out.to_str().unwrap(),
        "--publisher",
        "Example Vendor B.V.",
    ];
    args.extend(extra);
    assert_success(&livelab(&args));
    out.to_owned()
}

/// A new key pair in `dir`; returns (secret key path, trust policy path).
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let output = livelab(&[
        "keygen",
        "--out",
        key.to_str().unwrap(),
        "--publisher",
        name,
    ]);
    assert_success(&output);
    let policy = dir.join(format!("{name}-trust.toml"));
    std::fs::write(&policy, stdout(&output)).unwrap();
    (key, policy)
}

fn sign(package: &Path, key: &Path) {
    assert_success(&livelab(&[
        "sign",
        package.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]));
}

fn check(plugin: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["check", plugin.to_str().unwrap()];
    args.extend(extra);
    livelab(&args)
}

/// Runs a plugin on a few sample-shaped records with extra arguments; returns the output.
fn run_with(plugin: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        "--records",
        SAMPLE_RECORDS,
        "--plugin",
        plugin.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    livelab(&args)
}

#[test]
fn a_signed_package_is_accepted_by_a_policy_that_trusts_its_key() {
    let tmp = temp_dir();
    let pkg = package(METFORMIN_EGFR, &tmp.path().join("pkg"), &[]);
    let (key, policy) = keygen(tmp.path(), "Example Vendor B.V.");
    let policy = policy.to_str().unwrap();

    let unsigned = check(&pkg, &["--trust", policy]);
    assert!(!unsigned.status.success(), "an unsigned plugin is refused");
    assert!(
        stdout(&unsigned).contains("REFUSED"),
        "{}",
        stdout(&unsigned)
    );
    assert!(stdout(&unsigned).contains("unsigned"));

    sign(&pkg, &key);
    let signed = check(&pkg, &["--trust", policy]);
    assert_success(&signed);
    let text = stdout(&signed);
    for needle in [
        "metformin-egfr 0.1.0",
        "signed by Example Vendor B.V.",
        "trusted by the region's policy",
        "livelab:cds/evaluator@0.1.0",
        "medications: atc|A10BA",
        "grants      none",
        "smoke run   record",
        "accepted for a trial",
    ] {
        assert!(
            text.contains(needle),
            "check output lacks {needle:?}:\n{text}"
        );
    }
    assert_success(&livelab(&[
        "verify",
        pkg.to_str().unwrap(),
        "--trust",
        policy,
    ]));

    // The same package under a policy that lists someone else's key.
    let (_, other_policy) = keygen(tmp.path(), "Other Publisher");
    let untrusted = check(&pkg, &["--trust", other_policy.to_str().unwrap()]);
    assert!(!untrusted.status.success());
    assert!(
        stdout(&untrusted).contains("signed by a key the trust policy does not list"),
        "{}",
        stdout(&untrusted)
    );
}

#[test]
fn a_manifest_changed_after_signing_is_refused_even_when_unsigned_plugins_are_allowed() {
    let tmp = temp_dir();
    let pkg = package(METFORMIN_EGFR, &tmp.path().join("pkg"), &[]);
    let (key, policy) = keygen(tmp.path(), "Example Vendor B.V.");
    sign(&pkg, &key);
    // Someone raises the plugin's memory after the publisher signed.
    let manifest = pkg.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text + "\n[limits]\nmemory_mib = 512\n").unwrap();
    let output = run_with(
        &pkg,
        &tmp.path().join("out"),
        &["--trust", policy.to_str().unwrap(), "--allow-unsigned"],
    );
    assert_error(
        &output,
        &[
            "INVALID signature",
            "the manifest was changed after signing",
        ],
    );
}

#[test]
fn a_component_changed_after_packaging_is_refused() {
    let tmp = temp_dir();
    let pkg = package(METFORMIN_EGFR, &tmp.path().join("pkg"), &[]);
    // Swap in another (valid) component under the same name.
    std::fs::copy(HOME_BP, pkg.join("metformin_egfr.wasm")).unwrap();
    let output = run_with(&pkg, &tmp.path().join("out"), &[]);
    assert_error(
        &output,
        &[
            "does not match its manifest",
            "changed or replaced after packaging",
        ],
    );
}

#[test]
fn describe_must_match_what_the_manifest_declares() {
    let tmp = temp_dir();
    let pkg = package(METFORMIN_EGFR, &tmp.path().join("pkg"), &[]);
    let manifest = pkg.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    // The manifest under-declares: the reviewer would not see the medications it reads.
    let edited = text.replace("codes = [\"atc|A10BA\"]", "codes = [\"atc|A10BB\"]");
    assert_ne!(edited, text);
    std::fs::write(&manifest, edited).unwrap();
    assert_error(
        &run_with(&pkg, &tmp.path().join("out"), &[]),
        &[
            "the manifest and the component's `describe` disagree",
            "the manifest declares medications: atc|A10BB",
            "describe asks for medications: atc|A10BA",
        ],
    );
}

#[test]
fn unknown_grants_are_refused_with_the_field_named() {
    let tmp = temp_dir();
    let pkg = package(METFORMIN_EGFR, &tmp.path().join("pkg"), &[]);
    let manifest = pkg.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text + "\n[grants]\nnetwork = \"https://example.org\"\n",
    )
    .unwrap();
    assert_error(
        &run_with(&pkg, &tmp.path().join("out"), &[]),
        &["plugin.toml", "unknown field `network`"],
    );
}

/// A trial file with one plugin, written next to the records' absolute path.
fn trial_file(dir: &Path, plugin: &Path, plugin_extra: &str, top_extra: &str) -> PathBuf {
    let path = dir.join("trial.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"test\"\nregion = \"test\"\nrecords = {records:?}\nlabels = {labels:?}\n{top_extra}\n\
             [[plugin]]\npath = {plugin:?}\ntopic = \"metformin-egfr\"\n{plugin_extra}\n",
            records = SAMPLE_RECORDS,
            labels = format!("{SAMPLE_RECORDS}/labels.csv"),
            plugin = plugin.to_str().unwrap(),
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_trial_refuses_a_plugin_whose_hash_differs_from_its_pin() {
    let tmp = temp_dir();
    let pkg = package(METFORMIN_EGFR, &tmp.path().join("pkg"), &[]);
    let pin = "0".repeat(64);
    let trial = trial_file(
        tmp.path(),
        &pkg,
        &format!("sha256 = {pin:?}"),
        "allow_unsigned = true",
    );
    let out = tmp.path().join("out");
    let output = run_trial(&trial, &out);
    assert_error(&output, &["differs from the pinned", &pin, "livelab check"]);

    // With the right pin the trial runs, and the summary says it was pinned.
    let sha = summary_sha(&pkg);
    let trial = trial_file(
        tmp.path(),
        &pkg,
        &format!("sha256 = {sha:?}"),
        "allow_unsigned = true",
    );
    assert_success(&run_trial(&trial, &out));
    let summary = summary(&out);
    let plugin = &summary["run"]["plugins"][0];
    assert_eq!(plugin["pinned"], true);
    assert_eq!(plugin["sha256"], sha.as_str());
    assert_eq!(plugin["signature"]["status"], "unsigned");
}

/// The component sha256 a package's manifest pins.
fn summary_sha(pkg: &Path) -> String {
    let text = std::fs::read_to_string(pkg.join("plugin.toml")).unwrap();
    let line = text.lines().find(|l| l.starts_with("sha256 = ")).unwrap();
    line.trim_start_matches("sha256 = ")
        .trim_matches('"')
        .to_owned()
}

#[test]
fn a_trial_without_allow_unsigned_refuses_unsigned_plugins() {
    let tmp = temp_dir();
    let pkg = package(METFORMIN_EGFR, &tmp.path().join("pkg"), &[]);
    let trial = trial_file(tmp.path(), &pkg, "", "");
    let out = tmp.path().join("out");
    assert_error(
        &run_trial(&trial, &out),
        &["refused: unsigned", "allow_unsigned = true"],
    );
}

#[test]
fn limits_above_the_host_ceiling_are_refused_and_per_plugin_limits_apply() {
    let tmp = temp_dir();
    let pkg = package(METFORMIN_EGFR, &tmp.path().join("pkg"), &[]);
    let trial = trial_file(
        tmp.path(),
        &pkg,
        "[plugin.limits]\nmemory_mib = 4096",
        "allow_unsigned = true",
    );
    let out = tmp.path().join("out");
    assert_error(
        &run_trial(&trial, &out),
        &["memory_mib", "above the host ceiling of 1024"],
    );

    // A fuel budget for this plugin only: the metered cost is below it, and it is reported.
    let trial = trial_file(
        tmp.path(),
        &pkg,
        "[plugin.limits]\nfuel = 5000000",
        "allow_unsigned = true",
    );
    assert_success(&run_trial(&trial, &out));
    let summary = summary(&out);
    let plugin = &summary["run"]["plugins"][0];
    assert_eq!(plugin["limits"]["fuel"], 5_000_000);
    let fuel = &plugin["fuel"];
    assert!(fuel["max"].as_u64().unwrap() > 1000, "{fuel}");
    assert!(fuel["max"].as_u64().unwrap() < 5_000_000, "{fuel}");
}

#[test]
fn a_granted_data_directory_is_readable_at_slash_data_and_nothing_else_is() {
    let tmp = temp_dir();
    let data = tmp.path().join("data-src");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("table.csv"), "egfr,max_mg\n30,1000\n").unwrap();
    let pkg = package(
        test_guests::PROBE,
        &tmp.path().join("pkg"),
        &["--data", data.to_str().unwrap()],
    );
    let out = tmp.path().join("out");
    let output = run_with(&pkg, &out, &["--max-cards", "100"]);
    assert_success(&output);
    let lines = results(&out);
    let seen = observed(&lines[0]);
    assert_eq!(
        seen["data read /data/table.csv"],
        "READ 20 bytes: egfr,max_mg|30,1000|"
    );
    for probe in [
        "data read /data/../etc/passwd",
        "data list /data/../..",
        "fs read /etc/passwd",
    ] {
        assert!(
            seen[probe].starts_with("denied"),
            "{probe}: {}",
            seen[probe]
        );
    }
    // The data the plugin sees is the data that was packaged (and signed): a change refuses it.
    std::fs::write(pkg.join("data/table.csv"), "egfr,max_mg\n30,3000\n").unwrap();
    assert_error(
        &run_with(&pkg, &out, &["--max-cards", "100"]),
        &["has changed since the manifest was written", "re-package"],
    );
}

/// The probe guest's cards as `probe -> observation`.
fn observed(line: &Value) -> std::collections::BTreeMap<String, String> {
    line["cards"]
        .as_array()
        .unwrap_or_else(|| panic!("the probe returned no cards: {line}"))
        .iter()
        .filter_map(|c| {
            let summary = c["summary"].as_str().unwrap();
            let (probe, seen) = summary.split_once(": ")?;
            Some((probe.to_owned(), seen.to_owned()))
        })
        .collect()
}

#[test]
fn a_decision_log_replays_to_the_same_outputs_and_edits_are_caught() {
    let tmp = temp_dir();
    let out = tmp.path().join("out");
    let log = tmp.path().join("decisions.jsonl");
    let records = cohort(tmp.path(), "cohort", 12, "bundles");
    let run_into = |out: &Path| {
        assert_success(&livelab(&[
            "run",
            "--records",
            records.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--decision-log",
            log.to_str().unwrap(),
            "--plugin",
            METFORMIN_EGFR,
            "--plugin",
            test_guests::PROBE,
            "--max-cards",
            "100",
        ]));
    };
    run_into(&out);
    // Append-only: a second run adds its lines after the first run's.
    run_into(&tmp.path().join("out2"));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decisions = decision_lines(&log);
    assert_eq!(
        decisions.len(),
        2 * 2 * 12,
        "one line per evaluation per run"
    );
    // A plugin's identity is written once per run, not on every line (issue 12, item 4).
    let plugin_lines: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "plugin").collect();
    assert_eq!(
        plugin_lines.len(),
        2 * 2,
        "one plugin line per plugin per run: {plugin_lines:?}"
    );
    assert_eq!(lines.len(), decisions.len() + plugin_lines.len());
    for (line, _, decision) in &decisions {
        assert!(
            decision.get("plugin").is_none(),
            "line {line} repeats the plugin's identity: {decision}"
        );
    }
    let (_, plugin, first) = &decisions[0];
    for field in [
        "run_started",
        "input_sha256",
        "output_sha256",
        "fuel",
        "peak_memory_bytes",
        "random_seed",
    ] {
        assert!(
            first.get(field).is_some(),
            "a decision lacks {field}: {first}"
        );
    }
    assert_eq!(plugin["signer"], "unsigned");

    // The probe reads the clock and randomness: replay gives the same cards anyway.
    let replay = livelab(&["replay", log.to_str().unwrap()]);
    assert_success(&replay);
    assert!(
        stdout(&replay).contains("48 evaluation(s)")
            && stdout(&replay).contains("48 identical, 0 different, 0 not replayable"),
        "{}",
        stdout(&replay)
    );

    // Change a logged output hash: replay notices, names the line, and fails.
    let tampered = tmp.path().join("tampered.jsonl");
    let mut lines = lines;
    let changed = decisions[3].0;
    lines[changed - 1]["output_sha256"] = Value::from("0".repeat(64));
    std::fs::write(
        &tampered,
        lines
            .iter()
            .map(|l| l.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let replay = livelab(&["replay", tampered.to_str().unwrap()]);
    assert!(!replay.status.success());
    assert!(
        stdout(&replay).contains(&format!("line {changed}:")),
        "{}",
        stdout(&replay)
    );
    assert!(stdout(&replay).contains("DIFFERENT"), "{}", stdout(&replay));
}

#[test]
fn a_decision_log_can_leave_out_sensitive_fields_and_says_what_cannot_be_replayed() {
    let tmp = temp_dir();
    let pkg = package(METFORMIN_EGFR, &tmp.path().join("pkg"), &[]);
    let trial = trial_file(
        tmp.path(),
        &pkg,
        "",
        "allow_unsigned = true\n[decision_log]\npath = \"log.jsonl\"\nomit = [\"record\", \"input\"]",
    );
    let out = tmp.path().join("out");
    assert_success(&run_trial(&trial, &out));
    let log = out.join("log.jsonl");
    let (_, _, first) = decision_lines(&log).swap_remove(0);
    assert!(
        first.get("record").is_none() && first.get("input").is_none(),
        "{first}"
    );
    assert!(first["input_sha256"].as_str().unwrap().len() == 64);
    let replay = livelab(&["replay", log.to_str().unwrap()]);
    assert!(!replay.status.success());
    assert!(
        stdout(&replay).contains("NOT REPLAYABLE: the log omits the input"),
        "{}",
        stdout(&replay)
    );
}
