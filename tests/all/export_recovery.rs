//! Exports as tools write them (issue 13, items 2–4): one bad NDJSON line is one error and
//! the lines after it are read; a byte-order mark is accepted and counted; nothing in an
//! export is passed over without a named count (empty Bundles, entries without a resource,
//! Bundles without a Patient, unreadable links, sub-directories); and a tool's metadata,
//! README or checksums beside the data are passed over by name rather than refusing the
//! export, in `run` and `anonymise` alike. Each export is written here for the test.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::*;

const BOM: &str = "\u{feff}";

/// One NDJSON line: `resource` as compact JSON.
fn line(resource: &Value) -> String {
    serde_json::to_string(resource).unwrap() + "\n"
}

fn patient(id: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "gender": "male", "birthDate": "1950"})
}

fn on_metformin(id: &str) -> Value {
    json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
           "subject": {"reference": format!("Patient/{id}")},
           "medicationCodeableConcept": coding(ATC, "A10BA02"), "authoredOn": "2026-01-10"})
}

fn egfr(id: &str, value: f64) -> Value {
    json!({"resourceType": "Observation", "status": "final", "code": coding(LOINC, "62238-1"),
           "subject": {"reference": format!("Patient/{id}")},
           "effectiveDateTime": "2026-10-20",
           "valueQuantity": {"value": value, "unit": "mL/min/{1.73_m2}"}})
}

/// A Bulk export of three patients on metformin whose Observation file starts with a line in
/// Latin-1 (patient `a`'s eGFR, with an `é` byte that is not UTF-8) and a line cut short.
fn bulk_export_with_two_bad_lines(records: &Path) {
    std::fs::create_dir_all(records).unwrap();
    let ids = ["a", "b", "c"];
    std::fs::write(
        records.join("Patient.000.ndjson"),
        ids.map(|id| line(&patient(id))).concat(),
    )
    .unwrap();
    std::fs::write(
        records.join("MedicationRequest.000.ndjson"),
        ids.map(|id| line(&on_metformin(id))).concat(),
    )
    .unwrap();
    let mut latin1 = egfr("a", 20.0);
    latin1["note"] = json!([{"text": "caf\u{e9}"}]);
    let latin1 = line(&latin1).replace('é', "\u{1}");
    let mut observations = latin1.into_bytes();
    // `é` in Latin-1: one byte, 0xE9, which starts no valid UTF-8 sequence here.
    let at = observations.iter().position(|b| *b == 1).unwrap();
    observations[at] = 0xE9;
    observations.extend_from_slice(b"{\"resourceType\": \"Observation\", \"subject\": \n");
    observations.extend_from_slice(line(&egfr("b", 25.0)).as_bytes());
    observations.extend_from_slice(line(&egfr("c", 80.0)).as_bytes());
    std::fs::write(records.join("Observation.000.ndjson"), observations).unwrap();
}

#[test]
fn an_ndjson_line_that_is_not_utf8_or_not_json_is_one_error_and_the_lines_after_it_are_read() {
    let tmp = temp_dir();
    let records = tmp.path().join("records");
    bulk_export_with_two_bad_lines(&records);
    let out = tmp.path().join("out");
    let results = run(&records, &[METFORMIN_EGFR], &out, &[]);

    // The lines after the bad ones were read: b's eGFR of 25 gives its card (before the fix,
    // the first bad byte ended the file and b was told it had no eGFR).
    assert_eq!(
        cards(&results, "b", "metformin-egfr"),
        [(
            "warning".to_owned(),
            "Metformin at eGFR 25 (dose not recorded): maximum is 1 × 500 mg/day".to_owned()
        )],
        "metformin-egfr on b: the eGFR on line 3 of Observation.000.ndjson"
    );
    assert_eq!(
        cards(&results, "c", "metformin-egfr"),
        [],
        "metformin-egfr on c (eGFR 80 on line 4)"
    );
    // a's eGFR is the line that is not UTF-8: a is not evaluated without it, and the error
    // names the line; the line cut short is an error of its own.
    let mut errors: Vec<(String, String)> = results
        .iter()
        .filter(|l| l["status"] == "record-error")
        .map(|l| {
            (
                l["source"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
                l["error"]["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    errors.sort();
    assert_eq!(errors.len(), 2, "record errors: {errors:?}");
    assert!(
        errors[0].0 == "Observation.000.ndjson:1"
            && errors[0].1.contains("Observation: line is not UTF-8")
            && errors[0].1.contains("of the line is invalid"),
        "the line that is not UTF-8: {errors:?}"
    );
    assert!(
        errors[1].0 == "Observation.000.ndjson:2" && errors[1].1.contains("not a FHIR resource"),
        "the line cut short: {errors:?}"
    );
    assert!(
        !results
            .iter()
            .any(|l| l["record"] == "a" && l["status"] == "ok"),
        "a must not be evaluated without its eGFR"
    );
    let summary = summary(&out);
    assert_eq!(summary["records"]["read"], 4, "{}", summary["records"]);
    assert_eq!(summary["records"]["errors"], 2, "{}", summary["records"]);
}

/// A Bundle with one patient, as Synthea writes it, as text.
fn bundle_text(id: &str) -> String {
    let tmp = temp_dir();
    let path = write_bundle(tmp.path(), id, "1950", &[]);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn a_byte_order_mark_is_accepted_in_bundles_ndjson_and_the_manifest_and_counted() {
    let tmp = temp_dir();
    let bundles = tmp.path().join("bundles");
    std::fs::create_dir(&bundles).unwrap();
    std::fs::write(bundles.join("p1.json"), BOM.to_owned() + &bundle_text("p1")).unwrap();
    std::fs::write(bundles.join("p2.json"), bundle_text("p2")).unwrap();
    let out = tmp.path().join("out-bundles");
    let results = run(&bundles, &[METFORMIN_EGFR], &out, &[]);
    assert!(
        results.iter().all(|l| l["status"] == "ok"),
        "every Bundle read: {results:?}"
    );
    assert_eq!(summary(&out)["ingest"]["byte_order_marks"], 1);

    let bulk = tmp.path().join("bulk");
    std::fs::create_dir(&bulk).unwrap();
    std::fs::write(
        bulk.join("Patient.000.ndjson"),
        BOM.to_owned() + &line(&patient("a")) + &line(&patient("b")),
    )
    .unwrap();
    std::fs::write(
        bulk.join("MedicationRequest.000.ndjson"),
        BOM.to_owned() + &line(&on_metformin("a")),
    )
    .unwrap();
    let manifest = json!({"transactionTime": "2026-11-01T00:00:00Z", "request": "x",
                          "requiresAccessToken": false,
                          "output": [{"type": "Patient", "url": "Patient.000.ndjson"},
                                     {"type": "MedicationRequest", "url": "MedicationRequest.000.ndjson"}],
                          "error": []});
    std::fs::write(
        bulk.join("manifest.json"),
        BOM.to_owned() + &manifest.to_string(),
    )
    .unwrap();
    let out = tmp.path().join("out-bulk");
    let results = run(&bulk, &[METFORMIN_EGFR], &out, &[]);
    assert_eq!(
        cards(&results, "a", "metformin-egfr")[0].1,
        "No eGFR in the last 12 months for a patient on metformin",
        "a's first line (after the mark) was read"
    );
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(summary(&out)["ingest"]["byte_order_marks"], 2);
}

#[test]
fn nothing_in_a_bundle_export_is_passed_over_without_being_named() {
    let tmp = temp_dir();
    let records = tmp.path().join("records");
    std::fs::create_dir(&records).unwrap();
    write_bundle(&records, "good", "1950", &[]);
    let bundle = |name: &str, value: Value| {
        std::fs::write(records.join(name), value.to_string()).unwrap();
    };
    bundle(
        "empty.json",
        json!({"resourceType": "Bundle", "type": "collection"}),
    );
    bundle(
        "hospitalInformation.json",
        json!({"resourceType": "Bundle", "type": "transaction",
               "entry": [{"resource": {"resourceType": "Organization", "id": "o"}}]}),
    );
    bundle(
        "deleted.json",
        json!({"resourceType": "Bundle", "type": "collection",
               "entry": [{"fullUrl": "urn:uuid:d", "resource": patient("d")},
                         {"fullUrl": "urn:uuid:gone", "request": {"method": "DELETE", "url": "Observation/1"}}]}),
    );
    bundle(
        "export-info.json",
        json!({"generator": "a tool", "patients": 2}),
    );
    std::fs::write(records.join("README.txt"), "how this export was made").unwrap();
    std::fs::create_dir(records.join("logs")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(records.join("moved-away.json"), records.join("linked.json")).unwrap();
        symlink(records.join("loop"), records.join("loop")).unwrap();
    }

    let out = tmp.path().join("out");
    let output = run_output(&records, &[METFORMIN_EGFR], &out, &[]);
    assert_success(&output);
    let summary = summary(&out);
    let passed = &summary["ingest"]["passed_over"];
    let prefix = format!("{}/", records.display());
    let named = |reason: &str| -> Vec<String> {
        let seen = &passed[reason];
        assert!(
            seen.is_object(),
            "ingest.passed_over has no {reason:?}: {passed}"
        );
        let places: Vec<String> = std::iter::once(&seen["first"])
            .chain(seen["more"].as_array().into_iter().flatten())
            .map(|p| p.as_str().unwrap().replace(&prefix, ""))
            .collect();
        assert_eq!(seen["count"], places.len(), "{reason}: {seen}");
        places
    };
    assert_eq!(named("Bundle without entries"), ["empty.json"]);
    assert_eq!(
        named("Bundle without a Patient"),
        ["hospitalInformation.json"]
    );
    assert_eq!(
        named("Bundle entry without a resource"),
        ["deleted.json (Bundle.entry[1])"]
    );
    assert_eq!(
        named("JSON that is not a FHIR resource"),
        ["export-info.json"]
    );
    assert_eq!(
        named("not a FHIR file (neither *.json nor *.ndjson)"),
        ["README.txt"]
    );
    assert_eq!(
        named("sub-directory (an export is read one directory deep)"),
        ["logs/"]
    );
    #[cfg(unix)]
    {
        let unreadable = named("unreadable entry (a link whose target is missing or loops?)");
        assert!(
            unreadable.len() == 1 && unreadable[0].starts_with("loop ("),
            "{unreadable:?}"
        );
        // A link named like a Bundle probably held patients: it is a record error, not a note.
        let errors: Vec<&Value> = summary["record_errors"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        assert!(
            errors
                .iter()
                .any(|e| e["source"].as_str().unwrap().ends_with("linked.json")
                    && e["message"].as_str().unwrap().contains("symbolic link to")),
            "record errors: {errors:?}"
        );
    }
    // The terminal names them too.
    let printed = stdout(&output);
    assert!(
        printed.contains("passed over, holding no patient data:")
            && printed.contains(&format!(
                "1 × Bundle without a Patient ({prefix}hospitalInformation.json)"
            )),
        "stdout:\n{printed}"
    );
}

#[test]
fn a_tools_metadata_and_checksums_beside_ndjson_are_passed_over_by_run_and_anonymise() {
    let tmp = temp_dir();
    let records = tmp.path().join("records");
    std::fs::create_dir(&records).unwrap();
    std::fs::write(records.join("Patient.000.ndjson"), line(&patient("a"))).unwrap();
    std::fs::write(
        records.join("MedicationRequest.000.ndjson"),
        line(&on_metformin("a")),
    )
    .unwrap();
    std::fs::write(
        records.join("export-metadata.json"),
        json!({"generator": "a synthetic generator", "seed": 1, "patients": 1}).to_string(),
    )
    .unwrap();
    std::fs::write(records.join("SHA256SUMS"), "0123  Patient.000.ndjson\n").unwrap();

    let out = tmp.path().join("out");
    let results = run(&records, &[METFORMIN_EGFR], &out, &[]);
    assert_eq!(results.len(), 1, "{results:?}");
    let passed = &summary(&out)["ingest"]["passed_over"];
    assert_eq!(
        passed["JSON that is not a FHIR resource"]["count"], 1,
        "{passed}"
    );
    assert!(
        passed["JSON that is not a FHIR resource"]["first"]
            .as_str()
            .unwrap()
            .ends_with("export-metadata.json"),
        "{passed}"
    );
    assert_eq!(
        passed["not a FHIR file (neither *.json nor *.ndjson)"]["count"], 1,
        "{passed}"
    );

    let key = tmp.path().join("region.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let anonymised = tmp.path().join("anonymised");
    let output = livelab(&[
        "anonymise",
        records.to_str().unwrap(),
        anonymised.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("not copied: SHA256SUMS, export-metadata.json"),
        "stdout:\n{}",
        stdout(&output)
    );

    // A FHIR Bundle beside NDJSON would be lost: still refused, naming it.
    std::fs::write(records.join("pt.json"), bundle_text("pt")).unwrap();
    let anonymised_2 = tmp.path().join("anonymised-2");
    for args in [
        vec![
            "run",
            "--records",
            records.to_str().unwrap(),
            "--plugin",
            METFORMIN_EGFR,
        ],
        vec![
            "anonymise",
            records.to_str().unwrap(),
            anonymised_2.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ],
    ] {
        assert_error(
            &livelab(&args),
            &["pt.json is a FHIR Bundle", "one export at a time"],
        );
    }
}
