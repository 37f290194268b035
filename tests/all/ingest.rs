//! Real exports in: a Synthea-shaped transaction Bundle and a Bulk Data NDJSON set with a
//! manifest (both under `tests/fixtures/`, written for these tests from the FHIR R4 spec) map
//! to the expected WIT records, with codes translated, units normalised and every resource
//! that is not used counted. Goldens: `tests/expected/ingest-*.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use livelab_host::SourceLocation;
use livelab_host::ingest::record::Record;
use livelab_host::ingest::terminology::Terminology;
use livelab_host::ingest::{IngestOptions, IngestStats, RecordError, RecordReader, Unit};
use serde_json::{Value, json};

use crate::support::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn date() -> jiff::civil::Date {
    SAMPLE_DATE.parse().unwrap()
}

/// Every record (or record error) the reader yields, in order, and its ingest counts.
fn read(dir: &Path, options: IngestOptions) -> (Vec<Value>, IngestStats) {
    let mut reader = RecordReader::open_with(dir, date(), options).expect("opening the fixture");
    let records = reader.by_ref().map(|o| shown(dir, o)).collect();
    (records, relative(dir, reader.stats().clone()))
}

/// What [`read`] gives, but taken unit by unit as a run takes them and the units read on two
/// threads, each reading its share last unit first; counts merged in source order.
fn read_in_units(dir: &Path, options: IngestOptions) -> (Vec<Value>, IngestStats, usize) {
    let mut reader = RecordReader::open_with(dir, date(), options).expect("opening the fixture");
    let units: Vec<(usize, Unit)> = std::iter::from_fn(|| reader.next_unit())
        .enumerate()
        .collect();
    let count = units.len();
    let (even, odd): (Vec<_>, Vec<_>) = units.into_iter().partition(|(i, _)| i % 2 == 0);
    let mut read: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = [even, odd]
            .into_iter()
            .map(|share| {
                scope.spawn(move || {
                    let reversed = share.into_iter().rev();
                    reversed
                        .map(|(i, unit)| (i, unit.read()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("a unit's reader panicked"))
            .collect()
    });
    read.sort_by_key(|(i, _)| *i);
    let mut stats = reader.stats().clone();
    let mut records = Vec::new();
    for (_, (outcomes, counted)) in read {
        stats.merge(counted);
        records.extend(outcomes.into_iter().map(|o| shown(dir, o)));
    }
    (records, relative(dir, stats), count)
}

/// One outcome as the goldens show it, its places relative to the fixture so that the golden
/// does not depend on the checkout.
fn shown(dir: &Path, outcome: Result<Record, RecordError>) -> Value {
    let at = |location: &SourceLocation| {
        SourceLocation {
            file: location
                .file
                .strip_prefix(dir)
                .unwrap_or(&location.file)
                .to_owned(),
            position: location.position,
        }
        .to_string()
    };
    match outcome {
        Ok(record) => json!({
            "key": record.key,
            "source": at(&record.source),
            "patient": record.patient,
        }),
        Err(error) => json!({
            "error": error.message,
            "key": error.key,
            "source": at(&error.location),
        }),
    }
}

/// The places of what was withheld or passed over name files: relative, like the records.
fn relative(dir: &Path, mut stats: IngestStats) -> IngestStats {
    let prefix = format!("{}/", dir.display());
    for seen in stats
        .withheld
        .values_mut()
        .chain(stats.passed_over.values_mut())
    {
        for place in std::iter::once(&mut seen.first).chain(&mut seen.more) {
            *place = place.replace(&prefix, "");
        }
    }
    stats
}

fn golden(name: &str, records: &[Value], stats: &IngestStats) {
    let actual =
        serde_json::to_string_pretty(&json!({"records": records, "ingest": stats})).unwrap() + "\n";
    check_golden(name, &actual);
}

#[test]
fn a_synthea_shaped_bundle_maps_to_the_expected_record() {
    let (records, stats) = read(&fixture("synthea-bundle"), IngestOptions::default());
    golden("ingest-synthea-bundle.json", &records, &stats);
    // What the golden must show, stated so a bad bless cannot hide it.
    assert_eq!(records.len(), 1);
    let patient = &records[0]["patient"];
    let codes = |section: &str| -> Vec<String> {
        patient[section]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|item| item["code"].as_array().unwrap())
            .map(|c| format!("{}:{}", c["system"], c["code"]).replace('"', ""))
            .collect()
    };
    let conditions = codes("conditions");
    assert!(conditions.contains(&"SnomedCt:44054006".to_string()));
    assert!(
        conditions.contains(&"Icpc:T90.02".to_string()),
        "SNOMED diabetes translated to ICPC beside the original: {conditions:?}"
    );
    assert!(
        !conditions.iter().any(|c| c.ends_with("49436004")),
        "a refuted condition is dropped"
    );
    let medications = codes("medications");
    for atc in ["Atc:A10BA02", "Atc:C09AA03", "Atc:M01AE02"] {
        assert!(
            medications.contains(&atc.to_string()),
            "{atc} via codeable concept, medicationReference and contained: {medications:?}"
        );
    }
    for skipped in [
        "Claim",
        "ExplanationOfBenefit",
        "Encounter",
        "DiagnosticReport",
        "Immunization",
        "Procedure",
        "Provenance",
    ] {
        assert_eq!(stats.skipped.get(skipped), Some(&1), "{skipped} skipped");
    }
    for reason in [
        "refuted or entered-in-error",
        "entered-in-error",
        "no code",
        "value type not supported",
        "medicationReference to an unknown Medication",
    ] {
        assert!(stats.dropped.contains_key(reason), "{reason} counted");
    }
    let counted: u64 = stats.used.values().sum::<u64>()
        + stats.skipped.values().sum::<u64>()
        + stats.dropped.values().sum::<u64>();
    assert_eq!(counted, stats.resources, "every resource accounted for");
}

#[test]
fn a_bulk_export_with_a_manifest_maps_to_the_expected_records() {
    let (records, stats) = read(&fixture("bulk-ndjson"), IngestOptions::default());
    golden("ingest-bulk-ndjson.json", &records, &stats);
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.get("error").is_none()));
    assert_eq!(stats.dropped.get("unknown patient reference"), Some(&1));
    assert_eq!(stats.dropped.get("no patient reference"), Some(&1));
    assert_eq!(
        stats.dropped.get("dated after the evaluation date"),
        Some(&1)
    );
    let counted: u64 = stats.used.values().sum::<u64>()
        + stats.skipped.values().sum::<u64>()
        + stats.dropped.values().sum::<u64>();
    assert_eq!(counted, stats.resources, "every resource accounted for");
}

#[test]
fn partitioning_a_bulk_export_changes_nothing_but_the_order() {
    let whole = read(&fixture("bulk-ndjson"), IngestOptions::default());
    let options = IngestOptions {
        partition_bytes: 1500,
        ..IngestOptions::default()
    };
    let parts = read(&fixture("bulk-ndjson"), options);
    assert!(parts.1.bulk_partitions > 3, "{}", parts.1.bulk_partitions);
    assert_eq!(whole.1.bulk_partitions, 1);
    let sorted = |mut records: Vec<Value>| {
        records.sort_by_key(|r| r["key"].to_string());
        records
    };
    assert_eq!(sorted(parts.0), sorted(whole.0));
    let without_partitions = |mut stats: IngestStats| {
        stats.bulk_partitions = 0;
        stats
    };
    assert_eq!(without_partitions(parts.1), without_partitions(whole.1));
}

/// A Bulk export's patients are assembled in the run's workers, one unit per patient (issue
/// 15). Read that way, out of order on two threads, the export gives exactly what reading it
/// in order gives: the same records and errors in the same order, the same counts. The
/// export has every awkward case a unit's assembly decides on its own: a Patient line that
/// does not parse (and resources of that patient), a duplicate Patient, a resource that
/// makes its patient's record an error, and resources of no patient, readable or not.
#[test]
fn a_bulk_export_read_unit_by_unit_on_two_threads_gives_what_reading_it_in_order_gives() {
    let tmp = temp_dir();
    let dir = tmp.path().join("export");
    copy_dir(&fixture("bulk-ndjson"), &dir);
    let append = |file: &str, lines: &[&str]| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(file))
            .unwrap();
        for line in lines {
            writeln!(f, "{line}").unwrap();
        }
    };
    append(
        "Patient.000.ndjson",
        &[
            r#"{"resourceType": "Patient", "id": "bad-shape", "gender": 5}"#,
            r#"{"resourceType": "Patient", "id": "nl-1", "gender": "male", "birthDate": "1950"}"#,
            r#"{"resourceType": "Patient", "id": "late", "gender": "female", "birthDate": "1970"}"#,
        ],
    );
    let condition = |patient: &str, code: &str| {
        format!(
            r#"{{"resourceType": "Condition", "code": {code}, "subject": {{"reference": "Patient/{patient}"}}}}"#
        )
    };
    let good = r#"{"coding": [{"system": "http://hl7.org/fhir/sid/icpc-1-nl", "code": "K86"}]}"#;
    append(
        "Condition.000.ndjson",
        &[
            &condition("bad-shape", good),
            &condition("bad-shape", "17"),
            &condition("late", "17"),
            &condition("nobody", good),
            &condition("nobody", "17"),
        ],
    );
    for partition_bytes in [IngestOptions::DEFAULT_PARTITION_BYTES, 1500] {
        let options = || IngestOptions {
            partition_bytes,
            ..IngestOptions::default()
        };
        let (in_order, counted) = read(&dir, options());
        let (in_units, counted_in_units, units) = read_in_units(&dir, options());
        assert!(units > in_order.len() / 2, "{units} units");
        for (i, (a, b)) in in_order.iter().zip(&in_units).enumerate() {
            assert_eq!(a, b, "partitions of {partition_bytes} bytes: outcome {i}");
        }
        assert_eq!(in_order.len(), in_units.len(), "{partition_bytes}");
        assert_eq!(counted, counted_in_units, "{partition_bytes}");
        // Each awkward case came out as what it is.
        let errors: Vec<&str> = in_order
            .iter()
            .filter_map(|o| o["error"].as_str())
            .collect();
        for expected in [
            "Patient does not have the FHIR R4 shape",
            "Condition does not have the FHIR R4 shape",
        ] {
            let n = errors.iter().filter(|e| e.starts_with(expected)).count();
            assert!(n >= 1, "{expected}: {errors:?}");
        }
        let late = in_order.iter().find(|o| o["key"] == "late").unwrap();
        assert!(
            late["error"].is_string(),
            "late's record is an error: {late}"
        );
        assert!(counted.dropped["duplicate Patient"] >= 1);
        assert!(counted.dropped["unknown patient reference"] >= 2);
    }
}

#[test]
fn without_terminology_us_codes_stay_as_they_are_and_are_counted() {
    let options = IngestOptions {
        terminology: Arc::new(Terminology::empty()),
        ..IngestOptions::default()
    };
    let (records, stats) = read(&fixture("synthea-bundle"), options);
    let text = records[0].to_string();
    assert!(!text.contains("T90.02"));
    let snomed = &stats.codings["snomed-ct"];
    assert!(snomed.codings > 0);
    assert_eq!(
        snomed.mapped + snomed.unmapped,
        0,
        "no map, nothing counted as mapped"
    );
}

#[test]
fn a_manifest_that_lists_a_missing_file_is_named() {
    let tmp = temp_dir();
    let records = tmp.path().join("bulk");
    copy_dir(&fixture("bulk-ndjson"), &records);
    std::fs::remove_file(records.join("Observation.000.ndjson")).unwrap();
    let out = livelab(&[
        "run",
        "--records",
        records.to_str().unwrap(),
        "--out",
        tmp.path().join("out").to_str().unwrap(),
    ]);
    assert_error(
        &out,
        &["manifest.json", "Observation.000.ndjson", "download"],
    );
}

/// The Synthea-shaped fixture with the Patient given `extra` fields, in a temporary dir.
fn identified_bundle(tmp: &Path, extra: Value) -> PathBuf {
    let text = std::fs::read_to_string(fixture("synthea-bundle/synthea-shaped.json")).unwrap();
    let mut bundle: Value = serde_json::from_str(&text).unwrap();
    let patient = bundle["entry"][0]["resource"].as_object_mut().unwrap();
    for (k, v) in extra.as_object().unwrap() {
        patient.insert(k.clone(), v.clone());
    }
    let dir = tmp.join("identified");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("patient.json"), bundle.to_string()).unwrap();
    dir
}

#[test]
fn records_with_direct_identifiers_are_refused_by_default() {
    let tmp = temp_dir();
    let records = identified_bundle(
        tmp.path(),
        json!({
            "name": [{"family": "Jansen", "given": ["Anna"]}],
            "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "999911120"}],
            "telecom": [{"system": "phone", "value": "+31 6 12345678"}],
            "address": [{"line": ["Dorpsstraat 1"], "city": "Enschede"}]
        }),
    );
    let out = tmp.path().join("out");
    let lines = run_exiting(EXIT_RUN_UNUSABLE, &records, &[METFORMIN_EGFR], &out, &[]);
    assert_eq!(lines.len(), 1);
    let error = &lines[0];
    assert_eq!(error["status"], "record-error");
    let message = error["error"]["message"].as_str().unwrap();
    for needle in [
        "Patient.name",
        "Patient.identifier.value",
        "Patient.telecom",
        "Patient.address.line",
        "livelab anonymise",
        "--allow-identifiers",
    ] {
        assert!(message.contains(needle), "{needle} in {message}");
    }
    assert!(
        error["source"].as_str().unwrap().contains("patient.json"),
        "{error}"
    );
    assert_eq!(summary(&out)["identifiers_allowed"], false);
}

#[test]
fn allowing_identifiers_admits_the_record_and_the_summary_says_so() {
    let tmp = temp_dir();
    let records = identified_bundle(tmp.path(), json!({"name": [{"text": "Anna Jansen"}]}));
    let out = tmp.path().join("out");
    let lines = run(&records, &[METFORMIN_EGFR], &out, &["--allow-identifiers"]);
    assert!(lines.iter().all(|l| l["status"] == "ok"), "{lines:?}");
    let summary = summary(&out);
    assert_eq!(summary["identifiers_allowed"], true);
    assert_eq!(summary["ingest"]["identified_records_admitted"], 1);
    // An identifier without a value, or an address of only a city, identifies no one.
    let tmp = temp_dir();
    let records = identified_bundle(
        tmp.path(),
        json!({
            "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn"}],
            "address": [{"city": "Enschede", "country": "NL"}]
        }),
    );
    let lines = run(&records, &[METFORMIN_EGFR], &tmp.path().join("out"), &[]);
    assert!(lines.iter().all(|l| l["status"] == "ok"), "{lines:?}");
}

#[test]
fn a_region_adds_its_own_concept_map_without_rebuilding() {
    let tmp = temp_dir();
    let maps = tmp.path().join("maps");
    std::fs::create_dir(&maps).unwrap();
    // Map the fixture's uncoded-in-ICPC bronchitis to ICPC R78 (acute bronchitis).
    std::fs::write(
        maps.join("region.json"),
        json!({
            "resourceType": "ConceptMap",
            "url": "urn:example:region-map",
            "name": "RegionMap",
            "status": "active",
            "group": [{
                "source": "http://snomed.info/sct",
                "target": "http://hl7.org/fhir/sid/icpc-1-nl",
                "element": [{"code": "10509002", "target": [{"code": "R78", "equivalence": "equivalent"}]}]
            }]
        })
        .to_string(),
    )
    .unwrap();
    let snomed_mapped = |extra: &[&str], out: &str| {
        let out = tmp.path().join(out);
        run(&fixture("synthea-bundle"), &[METFORMIN_EGFR], &out, extra);
        let summary = summary(&out);
        let maps: Vec<String> = summary["terminology"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect();
        (
            summary["ingest"]["codings"]["snomed-ct"]["mapped"].clone(),
            maps,
        )
    };
    let (shipped, shipped_maps) = snomed_mapped(&[], "shipped");
    let (region, region_maps) = snomed_mapped(&["--terminology", maps.to_str().unwrap()], "region");
    assert!(!shipped_maps.contains(&"urn:example:region-map".to_string()));
    assert!(region_maps.contains(&"urn:example:region-map".to_string()));
    assert_eq!(
        region.as_u64().unwrap(),
        shipped.as_u64().unwrap() + 1,
        "the region's map translated the bronchitis code"
    );
}

/// Found by fuzzing (`fuzz/regressions/bulk_ndjson_line/`): a tab or line break in a Patient
/// id or a patient reference split the reader's partition lines, and a line break panicked
/// the whole read. Each input is now read to the end, every line accounted for.
#[test]
fn ids_and_references_with_tabs_or_line_breaks_do_not_split_bulk_partitions() {
    let regressions =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/bulk_ndjson_line");
    for name in [
        "patient-id-with-newline.ndjson",
        "patient-id-with-tab.ndjson",
        "reference-with-newline.ndjson",
    ] {
        let tmp = temp_dir();
        std::fs::copy(
            regressions.join(name),
            tmp.path().join("Patient.000.ndjson"),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let outcome = std::panic::catch_unwind(|| read(tmp.path(), IngestOptions::default()));
        let (records, _) = outcome.unwrap_or_else(|_| panic!("{name}: the reader panicked"));
        for record in &records {
            if let Some(error) = record["error"].as_str() {
                assert!(!error.is_empty(), "{name}: an empty error");
            }
        }
    }
}
