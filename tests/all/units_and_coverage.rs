//! Real exports, round two (issue 13): a value in a unit livelab cannot convert, or outside
//! what a living patient's measurement can take, never reaches a plugin; every code system
//! is counted and a plugin's blind spots are reported; a run that evaluated nothing, or
//! refused records for identifiers, does not exit 0. Each export is written here for the test.

use std::path::Path;

use serde_json::json;

use crate::support::*;

/// The export of the unit tests: patients on metformin, each with one eGFR as written.
fn metformin_patient(records: &Path, id: &str, egfr: f64, unit: &str) {
    write_bundle(
        records,
        id,
        "1950",
        &[
            json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                   "medicationCodeableConcept": coding(ATC, "A10BA02"), "authoredOn": "2026-01-10"}),
            json!({"resourceType": "Observation", "status": "final", "code": coding(LOINC, "62238-1"),
                   "effectiveDateTime": "2026-10-20", "valueQuantity": {"value": egfr, "unit": unit}}),
        ],
    );
}

#[test]
fn no_card_comes_from_an_egfr_in_a_unit_that_cannot_be_converted_or_an_implausible_one() {
    let tmp = temp_dir();
    let records = tmp.path().join("records");
    std::fs::create_dir(&records).unwrap();
    // An absolute clearance in mL/s read as mL/min/1.73 m² is "eGFR 1": contraindicated.
    metformin_patient(&records, "per-second-absolute", 1.0, "mL/s");
    metformin_patient(&records, "negative", -5.0, "mL/min/{1.73_m2}");
    // Converted: 0.1 mL/s/1.73 m² is 6 mL/min/1.73 m², truly below 10.
    metformin_patient(&records, "per-second-indexed", 0.1, "mL/s/1.73m2");
    metformin_patient(&records, "in-unit", 8.0, "mL/min/1.73m2");
    let out = tmp.path().join("out");
    let results = run(&records, &[METFORMIN_EGFR, HOME_BP], &out, &[]);

    let plugin_id = "metformin-egfr";
    for record in ["per-second-absolute", "negative"] {
        let got = cards(&results, record, plugin_id);
        assert_eq!(
            got,
            [(
                "info".to_owned(),
                "No eGFR in the last 12 months for a patient on metformin".to_owned()
            )],
            "{plugin_id} on {record}: the withheld eGFR must not reach the plugin"
        );
    }
    assert_eq!(
        cards(&results, "per-second-indexed", plugin_id),
        [(
            "critical".to_owned(),
            "Metformin contraindicated at eGFR 6 (dose not recorded)".to_owned()
        )],
        "{plugin_id} on per-second-indexed: 0.1 mL/s/1.73 m² is 6 mL/min/1.73 m²"
    );
    assert_eq!(
        cards(&results, "in-unit", plugin_id)[0].0,
        "critical",
        "{plugin_id} on in-unit"
    );

    let summary = summary(&out);
    let withheld = &summary["ingest"]["withheld"];
    let unconvertible = "egfr: unit mL/s cannot be converted to mL/min/{1.73_m2}";
    assert_eq!(
        withheld[unconvertible]["count"], 1,
        "ingest.withheld: {withheld}"
    );
    assert_eq!(
        withheld["egfr: implausible value"]["count"], 1,
        "ingest.withheld: {withheld}"
    );
    // The first place names the file and the entry, and the value.
    let first = withheld["egfr: implausible value"]["first"]
        .as_str()
        .unwrap();
    assert!(
        first.contains("negative.json (Bundle.entry[2])") && first.contains("-5"),
        "ingest.withheld first: {first}"
    );
    assert_eq!(
        summary["ingest"]["units"]["egfr: mL/s/1.73m2 -> mL/min/{1.73_m2}"], 1,
        "ingest.units: {}",
        summary["ingest"]["units"]
    );
    // Per plugin: metformin reads eGFR, so both were withheld from it; home-bp does not.
    let metformin = &plugin(&summary, plugin_id)["coverage"]["withheld"];
    assert_eq!(
        metformin[unconvertible]["count"], 1,
        "{plugin_id} coverage: {metformin}"
    );
    assert_eq!(
        metformin["egfr: implausible value"]["count"], 1,
        "{plugin_id} coverage: {metformin}"
    );
    let home_bp = &plugin(&summary, "home-bp")["coverage"]["withheld"];
    assert_eq!(home_bp, &json!({}), "home-bp reads no eGFR: {home_bp}");
}

#[test]
fn an_implausible_component_is_taken_out_of_its_panel_and_counted() {
    let tmp = temp_dir();
    let records = tmp.path().join("records");
    std::fs::create_dir(&records).unwrap();
    let component = |code: &str, value: f64| json!({"code": coding(LOINC, code), "valueQuantity": {"value": value, "unit": "mmHg"}});
    write_bundle(
        &records,
        "panel",
        "1950",
        &[
            json!({"resourceType": "Observation", "status": "final", "code": coding(LOINC, "85354-9"),
                 "effectiveDateTime": "2026-10-20",
                 "component": [component("8480-6", 1400.0), component("8462-4", 88.0)]}),
        ],
    );
    let out = tmp.path().join("out");
    run(&records, &[HOME_BP], &out, &[]);
    let summary = summary(&out);
    let withheld = &summary["ingest"]["withheld"];
    assert_eq!(
        withheld["bp: implausible value"]["count"], 1,
        "ingest.withheld: {withheld}"
    );
    let first = withheld["bp: implausible value"]["first"].as_str().unwrap();
    assert!(
        first.contains("1400 mm[Hg]"),
        "ingest.withheld first: {first}"
    );
    // The panel itself is used: its diastolic still reaches a plugin.
    assert_eq!(
        summary["ingest"]["used"]["Observation"], 1,
        "ingest.used: {}",
        summary["ingest"]["used"]
    );
    assert!(
        summary["ingest"]["dropped"]
            .get("value withheld (unit or plausibility)")
            .is_none()
    );
}

#[test]
fn every_code_system_is_counted_and_a_plugins_blind_spots_are_reported() {
    let tmp = temp_dir();
    let records = tmp.path().join("records");
    std::fs::create_dir(&records).unwrap();
    let condition = |system: &str, code: &str| {
        json!({"resourceType": "Condition", "code": coding(system, code), "onsetDateTime": "2020-01-01",
               "clinicalStatus": coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")})
    };
    const ICD9CM: &str = "http://hl7.org/fhir/sid/icd-9-cm";
    // Atrial fibrillation three ways: ICPC (declared), SNOMED CT (a shipped map reaches
    // ICPC), ICD-9-CM (no map, no plugin declares it).
    write_bundle(&records, "icpc", "1940", &[condition(ICPC, "K78")]);
    write_bundle(&records, "snomed", "1940", &[condition(SNOMED, "49436004")]);
    write_bundle(&records, "icd9", "1940", &[condition(ICD9CM, "427.31")]);
    let out = tmp.path().join("out");
    let output = run_output(&records, &[AF_ANTICOAGULATION], &out, &[]);
    assert_success(&output);
    let summary = summary(&out);
    let codings = &summary["ingest"]["codings"];
    assert_eq!(codings[ICD9CM]["codings"], 1, "ingest.codings: {codings}");
    let af = &plugin(&summary, "af-anticoagulation")["coverage"];
    assert_eq!(
        af["unreachable"],
        json!({"conditions coded in icd-9-cm, not icpc": 1}),
        "af-anticoagulation coverage: {af}"
    );
    assert_eq!(
        af["through_map"],
        json!({"conditions snomed-ct|49436004": 1}),
        "af-anticoagulation coverage: {af}"
    );
    // The terminal says it too, and names the system without a map.
    let text = stdout(&output);
    assert!(text.contains("icd-9-cm 1 (no map)"), "{text}");
    assert!(
        text.contains("af-anticoagulation: 1 conditions coded in icd-9-cm, not icpc unreachable"),
        "{text}"
    );
}

#[test]
fn a_run_that_evaluates_nothing_or_refuses_identified_records_exits_non_zero() {
    let tmp = temp_dir();
    // Every record carries a name: refused, so the run must not report success.
    let identified = tmp.path().join("identified");
    std::fs::create_dir(&identified).unwrap();
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1",
         "birthDate": "1950", "name": [{"family": "Jansen"}]}}]});
    std::fs::write(identified.join("p1.json"), bundle.to_string()).unwrap();
    // Records without a birth date cannot be evaluated.
    let ageless = tmp.path().join("ageless");
    std::fs::create_dir(&ageless).unwrap();
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:p2", "resource": {"resourceType": "Patient", "id": "p2"}}]});
    std::fs::write(ageless.join("p2.json"), bundle.to_string()).unwrap();

    for (records, needle) in [
        (
            &identified,
            "1 of 1 records were refused because they carry direct identifiers",
        ),
        (
            &ageless,
            "no record could be evaluated (1 read, 1 unreadable)",
        ),
    ] {
        let out = tmp.path().join(format!(
            "out-{}",
            records.file_name().unwrap().to_str().unwrap()
        ));
        let output = livelab(&[
            "run",
            "--records",
            records.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--date",
            SAMPLE_DATE,
            "--plugin",
            METFORMIN_EGFR,
        ]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}: {}",
            records.display(),
            stderr(&output)
        );
        // The progress lines come first; the run's verdict is one line at the end.
        let err = stderr(&output);
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: ")
                && last.contains(needle)
                && last.contains("the output files were written"),
            "{}: the last line of stderr should say {needle:?}: {err}",
            records.display()
        );
        assert!(out.join("summary.json").is_file() && out.join("results.jsonl").is_file());
    }
}

/// Item 6: the shipped maps and the sample plugins' declared codes reach what US exports
/// write. A metformin product (RxNorm SCD 861004, the 1000 mg tablet) with an eGFR under an
/// MDRD or other eGFR LOINC code the plugin did not use to declare, and diagnoses coded only
/// in ICD-10-CM or WHO ICD-10, give the cards the Dutch-coded equivalents give; the summary
/// no longer counts them as unreachable.
#[test]
fn us_product_codes_other_egfr_codes_and_icd10_diagnoses_reach_the_sample_plugins() {
    const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
    const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
    const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
    let tmp = temp_dir();
    let records = tmp.path().join("records");
    std::fs::create_dir(&records).unwrap();
    let medication = |code: &str| {
        json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
               "medicationCodeableConcept": coding(RXNORM, code), "authoredOn": "2026-01-10"})
    };
    let egfr = |code: &str, value: f64| {
        json!({"resourceType": "Observation", "status": "final", "code": coding(LOINC, code),
               "effectiveDateTime": "2026-10-20",
               "valueQuantity": {"value": value, "unit": "mL/min/1.73m2"}})
    };
    let condition = |system: &str, code: &str| {
        json!({"resourceType": "Condition", "code": coding(system, code), "onsetDateTime": "2020-01-01",
               "clinicalStatus": coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")})
    };
    // Metformin 1000 mg tablet, eGFR 25 by MDRD (non-Black): the 10-30 band.
    write_bundle(
        &records,
        "metformin-mdrd",
        "1950",
        &[medication("861004"), egfr("48642-3", 25.0)],
    );
    // The same day's MDRD values for Black and non-Black patients, as US labs reported
    // both: the lower one counts.
    write_bundle(
        &records,
        "metformin-both-mdrd",
        "1950",
        &[
            medication("861004"),
            egfr("48643-1", 30.0),
            egfr("48642-3", 25.0),
        ],
    );
    // MDRD in serum, plasma or blood (77147-7): below 10.
    write_bundle(
        &records,
        "metformin-mdrd-blood",
        "1950",
        &[medication("861004"), egfr("77147-7", 8.0)],
    );
    // Atrial fibrillation and hypertension in ICD-10-CM, aged 86, female: CHA2DS2-VASc 4.
    write_bundle(
        &records,
        "af-icd10cm",
        "1940",
        &[condition(ICD10CM, "I48.91"), condition(ICD10CM, "I10")],
    );
    // The same in WHO ICD-10 with heart failure.
    write_bundle(
        &records,
        "af-icd10",
        "1940",
        &[condition(ICD10, "I48.9"), condition(ICD10, "I50.9")],
    );
    // Anticoagulated with an apixaban product code: no card.
    write_bundle(
        &records,
        "af-on-apixaban",
        "1940",
        &[condition(ICD10CM, "I48.91"), medication("1364445")],
    );
    // A gastric ulcer in ICD-10-CM and an ibuprofen 600 mg product, aged 46: protect.
    write_bundle(
        &records,
        "nsaid-ulcer",
        "1980",
        &[condition(ICD10CM, "K25.9"), medication("197806")],
    );
    let out = tmp.path().join("out");
    let results = run(
        &records,
        &[METFORMIN_EGFR, AF_ANTICOAGULATION, NSAID_GASTROPROTECTION],
        &out,
        &[],
    );

    let warning = |summary: &str| vec![("warning".to_owned(), summary.to_owned())];
    let reduce = warning("Metformin at eGFR 25 (dose not recorded): maximum is 1 × 500 mg/day");
    assert_eq!(cards(&results, "metformin-mdrd", "metformin-egfr"), reduce);
    assert_eq!(
        cards(&results, "metformin-both-mdrd", "metformin-egfr"),
        reduce
    );
    assert_eq!(
        cards(&results, "metformin-mdrd-blood", "metformin-egfr"),
        [(
            "critical".to_owned(),
            "Metformin contraindicated at eGFR 8 (dose not recorded)".to_owned()
        )]
    );
    assert_eq!(
        cards(&results, "af-icd10cm", "af-anticoagulation"),
        warning("Atrial fibrillation, CHA2DS2-VASc 4, no anticoagulant")
    );
    assert_eq!(
        cards(&results, "af-icd10", "af-anticoagulation"),
        warning("Atrial fibrillation, CHA2DS2-VASc 4, no anticoagulant")
    );
    assert_eq!(cards(&results, "af-on-apixaban", "af-anticoagulation"), []);
    let nsaid = cards(&results, "nsaid-ulcer", "nsaid-gastroprotection");
    assert!(
        nsaid.len() == 1
            && nsaid[0].0 == "warning"
            && nsaid[0].1.starts_with("NSAID without stomach protection: "),
        "nsaid-gastroprotection on nsaid-ulcer: {nsaid:?}"
    );

    let summary = summary(&out);
    for id in [
        "metformin-egfr",
        "af-anticoagulation",
        "nsaid-gastroprotection",
    ] {
        let coverage = &plugin(&summary, id)["coverage"];
        assert_eq!(
            coverage["unreachable"],
            json!({}),
            "{id}: nothing of this export is out of reach: {coverage}"
        );
    }
    let af = &plugin(&summary, "af-anticoagulation")["coverage"]["through_map"];
    assert_eq!(af["conditions icd-10-cm|I48.91"], 2, "{af}");
    assert_eq!(af["conditions icd-10|I48.9"], 1, "{af}");
    let codings = &summary["ingest"]["codings"];
    assert_eq!(
        codings[ICD10CM],
        json!({"codings": 4, "mapped": 4, "unmapped": 0}),
        "ingest.codings: {codings}"
    );
}
