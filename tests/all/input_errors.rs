//! Bad input gets one clear error (plugins, missing files) or is reported per record
//! (unreadable records) while the rest of the run goes on. Never a panic.

use std::path::Path;

use serde_json::json;

use crate::support::*;

fn run_plugin(plugin: &Path) -> std::process::Output {
    livelab(&[
        "run",
        "--plugin",
        plugin.to_str().unwrap(),
        "--records",
        SAMPLE_RECORDS,
    ])
}

#[test]
fn a_missing_plugin_file_is_named() {
    let output = run_plugin(Path::new("/nonexistent/plugin.wasm"));
    assert_error(
        &output,
        &["plugin not found: /nonexistent/plugin.wasm", "component"],
    );
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let tmp = temp_dir();
    let path = tmp.path().join("notes.wasm");
    std::fs::write(&path, "this is not a component").unwrap();
    assert_error(
        &run_plugin(&path),
        &["notes.wasm", "not a WebAssembly file"],
    );
}

#[test]
fn a_truncated_component_is_refused() {
    let tmp = temp_dir();
    let path = tmp.path().join("broken.wasm");
    let bytes = std::fs::read(METFORMIN_EGFR).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_error(
        &run_plugin(&path),
        &["broken.wasm", "not a valid WebAssembly component"],
    );
}

#[test]
fn missing_records_are_named() {
    let output = livelab(&["run", "--records", "/nonexistent/records"]);
    assert_error(&output, &["/nonexistent/records does not exist"]);
}

#[test]
fn unreadable_records_are_reported_and_the_rest_evaluated() {
    let tmp = temp_dir();
    let records = tmp.path().join("records");
    std::fs::create_dir(&records).unwrap();
    write_bundle(&records, "pt-good", "1960", &[]);
    write_bundle(&records, "pt-no-birth-date", "", &[]);
    write_bundle(
        &records,
        "pt-bad-shape",
        "1960",
        &[json!({"resourceType": "Observation", "status": "final", "code": 42})],
    );
    std::fs::write(
        records.join("pt-broken.json"),
        "{\"resourceType\": \"Bundle\", \"entry\": [",
    )
    .unwrap();
    std::fs::write(
        records.join("pt-patient.json"),
        "{\"resourceType\": \"Patient\", \"id\": \"x\"}",
    )
    .unwrap();

    let out = tmp.path().join("out");
    let lines = run(&records, &[METFORMIN_EGFR], &out, &[]);
    let errors: Vec<_> = lines
        .iter()
        .filter(|l| l["status"] == "record-error")
        .collect();
    let ok: Vec<_> = lines.iter().filter(|l| l["status"] == "ok").collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["record"], "pt-good");
    let message = |file: &str| {
        let line = errors
            .iter()
            .find(|l| l["source"].as_str().unwrap().contains(file))
            .unwrap_or_else(|| panic!("no error for {file}: {errors:?}"));
        format!(
            "{} {}",
            line["source"].as_str().unwrap(),
            line["error"]["message"].as_str().unwrap()
        )
    };
    assert!(
        message("pt-no-birth-date.json").contains("not a FHIR date"),
        "{}",
        message("pt-no-birth-date.json")
    );
    let bad_shape = message("pt-bad-shape.json");
    assert!(
        bad_shape.contains("Bundle.entry[1]")
            && bad_shape.contains("Observation does not have the FHIR R4 shape"),
        "{bad_shape}"
    );
    let broken = message("pt-broken.json");
    assert!(
        broken.contains("not valid JSON") && broken.contains("line 1"),
        "{broken}"
    );
    assert!(
        message("pt-patient.json")
            .contains("expected a FHIR Bundle, found resourceType \"Patient\"")
    );
    assert_eq!(errors.len(), 4);
    let summary = summary(&out);
    assert_eq!(summary["records"]["read"], 5);
    assert_eq!(summary["records"]["errors"], 4);
}

#[test]
fn an_ndjson_line_that_is_not_json_names_its_line() {
    let tmp = temp_dir();
    let records = tmp.path().join("bulk");
    std::fs::create_dir(&records).unwrap();
    std::fs::write(
        records.join("Patient.000.ndjson"),
        "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"birthDate\":\"1950\"}\n{not json\n",
    )
    .unwrap();
    let lines = run(&records, &[METFORMIN_EGFR], &tmp.path().join("out"), &[]);
    assert_eq!(lines.len(), 2);
    let error = lines
        .iter()
        .find(|l| l["status"] == "record-error")
        .unwrap();
    assert!(
        error["source"]
            .as_str()
            .unwrap()
            .ends_with("Patient.000.ndjson:2"),
        "{error}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["record"] == "p1" && l["status"] == "ok")
    );
}
