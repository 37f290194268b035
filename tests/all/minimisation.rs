//! Data minimisation: a plugin receives exactly what it declared, nothing more.

use serde_json::json;

use crate::support::*;

#[test]
fn plugin_receives_only_declared_sections_codes_and_look_back() {
    let tmp = temp_dir();
    let records = tmp.path().join("records");
    std::fs::create_dir(&records).unwrap();
    let condition = |codes: serde_json::Value, onset: &str| {
        json!({"resourceType": "Condition", "code": codes, "onsetDateTime": onset,
               "clinicalStatus": coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")})
    };
    let lab = |code: &str, date: &str, value: f64| {
        json!({"resourceType": "Observation", "status": "final", "code": coding(LOINC, code),
               "effectiveDateTime": date, "valueQuantity": {"value": value, "unit": "mL/min/{1.73_m2}"}})
    };
    let medication = |code: &str, authored: &str| {
        json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
               "medicationCodeableConcept": coding(ATC, code), "authoredOn": authored})
    };
    write_bundle(
        &records,
        "pt-minimal",
        "1950",
        &[
            // Declared (ICPC K78); its SNOMED coding was not asked for and stays behind.
            condition(
                json!({"coding": [{"system": ICPC, "code": "K78"}, {"system": SNOMED, "code": "49436004"}]}),
                "2026-10-02",
            ),
            condition(coding(ICPC, "T90.02"), "2026-09-02"),
            lab("33914-3", "2026-10-22", 45.0),
            // Declared code, but older than the 365-day look-back.
            lab("33914-3", "2025-10-01", 61.0),
            lab("4548-4", "2026-10-22", 7.1),
            medication("B01AA04", "2026-08-03"),
            medication("A10BA02", "2026-08-03"),
            json!({"resourceType": "AllergyIntolerance", "code": coding(SNOMED, "91936005"),
                   "clinicalStatus": coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active")}),
        ],
    );
    let results = run(&records, &[test_guests::ECHO], &tmp.path().join("out"), &[]);
    assert_eq!(results.len(), 1);
    let received: Vec<&str> = results[0]["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        received,
        [
            "patient age=76 sex=female",
            "condition icpc:K78 30",
            "observation loinc:33914-3 10",
            "medication atc:B01AA04 90",
        ]
    );
}

#[test]
fn describe_shows_declared_data_needs_in_plain_words() {
    let output = livelab(&["describe", METFORMIN_EGFR]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("medications: atc A10BA*"), "{text}");
    assert!(text.contains("last 365 days"), "{text}");
    assert!(
        !text.contains("ALL items"),
        "sample plugins declare codes: {text}"
    );
}
