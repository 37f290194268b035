//! Mapping FHIR resources to the WIT record. `Err` carries the reason a resource is dropped,
//! which ingest counts: nothing is dropped silently.

use std::collections::HashMap;

use jiff::civil::Date;

use super::shapes::*;
use crate::wit::{
    Allergy, ClinicalStatus, CodeSystem, Coding, Condition, Medication, MedicationStatus,
    Observation, ObservationCategory, ObservationComponent, ObservationValue, Origin, Quantity,
};

pub(super) type Mapped<T> = Result<T, &'static str>;

/// Medications by every reference that names them (`Medication/id`, a Bundle's `urn:uuid:`
/// fullUrl), for resolving `medicationReference`.
pub(super) type MedicationIndex = HashMap<String, Vec<Coding>>;

/// What mapping a resource needs to know besides the resource.
pub(super) struct MapContext<'a> {
    pub(super) evaluation_date: Date,
    /// References that name this resource's patient (for `performer`).
    pub(super) patient_refs: &'a [String],
    pub(super) medications: &'a MedicationIndex,
}

pub(super) fn concept(cc: Option<CodeableConcept>) -> Vec<Coding> {
    cc.unwrap_or_default()
        .coding
        .into_iter()
        .filter_map(|c| {
            Some(Coding {
                system: CodeSystem::from_uri(c.system.as_deref()?),
                code: c.code?,
            })
        })
        .collect()
}

pub(super) fn status_code(cc: &Option<CodeableConcept>) -> Option<&str> {
    cc.as_ref()?.coding.iter().find_map(|c| c.code.as_deref())
}

pub(super) fn is_refuted(verification: &Option<CodeableConcept>) -> bool {
    matches!(
        status_code(verification),
        Some("refuted" | "entered-in-error")
    )
}

/// Days before the evaluation date; `Err` for data dated after it.
pub(super) fn days_ago(value: &str, ctx: &MapContext) -> Result<Option<u32>, &'static str> {
    let date = parse_fhir_date(value).ok_or("unparseable date")?;
    let days = date
        .until(ctx.evaluation_date)
        .map_err(|_| "unparseable date")?
        .get_days();
    if days < 0 {
        return Err("dated after the evaluation date");
    }
    Ok(Some(days as u32))
}

pub(super) fn map_condition(r: FhirCondition, ctx: &MapContext) -> Mapped<Condition> {
    if is_refuted(&r.verification_status) {
        return Err("refuted or entered-in-error");
    }
    let code = concept(r.code);
    if code.is_empty() {
        return Err("no code");
    }
    let status = match status_code(&r.clinical_status) {
        Some("active") => ClinicalStatus::Active,
        Some("recurrence") => ClinicalStatus::Recurrence,
        Some("relapse") => ClinicalStatus::Relapse,
        Some("inactive") => ClinicalStatus::Inactive,
        Some("remission") => ClinicalStatus::Remission,
        Some("resolved") => ClinicalStatus::Resolved,
        _ => ClinicalStatus::Unknown,
    };
    let onset = r
        .onset_date_time
        .or_else(|| r.onset_period.and_then(|p| p.start))
        .or(r.recorded_date);
    let onset_days_ago = match onset {
        Some(d) => days_ago(&d, ctx)?,
        None => None,
    };
    let abatement = r
        .abatement_date_time
        .or_else(|| r.abatement_period.and_then(|p| p.end.or(p.start)));
    let abated_days_ago = match abatement {
        // An abatement after the evaluation date has not happened yet.
        Some(d) => days_ago(&d, ctx).unwrap_or(None),
        None => None,
    };
    Ok(Condition {
        code,
        status,
        onset_days_ago,
        abated_days_ago,
    })
}

pub(super) fn map_value(v: FhirValue) -> Result<Option<ObservationValue>, &'static str> {
    if let Some(q) = v.value_quantity {
        return map_quantity(q)
            .map(|q| Some(ObservationValue::Quantity(q)))
            .ok_or("quantity without a value");
    }
    if let Some(cc) = v.value_codeable_concept {
        return Ok(Some(ObservationValue::Coded(concept(Some(cc)))));
    }
    if let Some(b) = v.value_boolean {
        return Ok(Some(ObservationValue::Boolean(b)));
    }
    if let Some(i) = v.value_integer {
        return Ok(Some(ObservationValue::Integer(i)));
    }
    if v.value_string.is_some()
        || v.value_range.is_some()
        || v.value_ratio.is_some()
        || v.value_date_time.is_some()
        || v.value_period.is_some()
    {
        return Err("value type not supported");
    }
    Ok(None)
}

pub(super) fn map_quantity(q: FhirQuantity) -> Option<Quantity> {
    let ucum = q.system.as_deref() == Some("http://unitsofmeasure.org");
    let unit = if ucum {
        q.code.or(q.unit)
    } else {
        q.unit.or(q.code)
    };
    Some(Quantity {
        value: q.value?,
        unit: unit.unwrap_or_default(),
    })
}

pub(super) fn map_observation(r: FhirObservation, ctx: &MapContext) -> Mapped<Observation> {
    if matches!(r.status.as_deref(), Some("entered-in-error" | "cancelled")) {
        return Err("entered-in-error or cancelled");
    }
    let code = concept(r.code);
    if code.is_empty() {
        return Err("no code");
    }
    let effective = r
        .effective_date_time
        .or_else(|| r.effective_period.and_then(|p| p.start.or(p.end)))
        .or(r.effective_instant)
        .or(r.issued)
        .ok_or("no effective time")?;
    let effective_days_ago = days_ago(&effective, ctx)?.expect("a date gives days");
    const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
    let category = r
        .category
        .iter()
        .flat_map(|cc| &cc.coding)
        .find(|c| c.system.as_deref() == Some(CATEGORY))
        .and_then(|c| c.code.as_deref())
        .map(|code| match code {
            "laboratory" => ObservationCategory::Laboratory,
            "vital-signs" => ObservationCategory::VitalSigns,
            "survey" => ObservationCategory::Survey,
            "exam" => ObservationCategory::Exam,
            "social-history" => ObservationCategory::SocialHistory,
            "activity" => ObservationCategory::Activity,
            _ => ObservationCategory::Other,
        })
        .unwrap_or(ObservationCategory::Other);
    // Self-measured and patient-reported data name the patient (or a relative) as performer.
    let origin = if r.performer.iter().any(|p| {
        p.reference.as_deref().is_some_and(|reference| {
            let reference = normalise_reference(reference);
            reference.starts_with("Patient/")
                || reference.starts_with("RelatedPerson/")
                || ctx
                    .patient_refs
                    .iter()
                    .any(|n| normalise_reference(n) == reference)
        })
    }) {
        Origin::PatientGenerated
    } else {
        Origin::Clinical
    };
    let value = map_value(r.value)?;
    let components = r
        .component
        .into_iter()
        .map(|c| {
            Ok(ObservationComponent {
                code: concept(c.code),
                value: map_value(c.value)?,
            })
        })
        .collect::<Mapped<Vec<_>>>()?;
    if value.is_none() && components.iter().all(|c| c.value.is_none()) {
        return Err("no value");
    }
    Ok(Observation {
        code,
        category,
        origin,
        effective_days_ago,
        value,
        components,
    })
}

pub(super) fn map_medication(r: FhirMedicationUse, ctx: &MapContext) -> Mapped<Medication> {
    let status = match r.status.as_deref() {
        Some("active") => MedicationStatus::Active,
        Some("on-hold") => MedicationStatus::OnHold,
        Some("completed") => MedicationStatus::Completed,
        Some("stopped" | "cancelled") => MedicationStatus::Stopped,
        Some("draft" | "intended") => MedicationStatus::Draft,
        Some("entered-in-error") => return Err("entered-in-error"),
        Some("not-taken") => return Err("not taken"),
        _ => MedicationStatus::Unknown,
    };
    let code = match (r.medication_codeable_concept, r.medication_reference) {
        (Some(cc), _) => concept(Some(cc)),
        (
            None,
            Some(Reference {
                reference: Some(reference),
            }),
        ) => resolve_medication(&reference, &r.contained, ctx)?,
        (None, _) => Vec::new(),
    };
    if code.is_empty() {
        return Err("no code");
    }
    let start = r
        .authored_on
        .or(r.effective_date_time)
        .or_else(|| r.effective_period.and_then(|p| p.start))
        .or(r.date_asserted);
    let started_days_ago = match start {
        Some(d) => days_ago(&d, ctx)?,
        None => None,
    };
    let dosage = r.dosage_instruction.into_iter().chain(r.dosage).next();
    Ok(Medication {
        code,
        status,
        started_days_ago,
        daily_dose: dosage.and_then(daily_dose),
    })
}

/// The codings of the Medication a `medicationReference` points at: a contained one (`#id`)
/// or one elsewhere in the export (`Medication/id`, `urn:uuid:...`).
fn resolve_medication(
    reference: &str,
    contained: &[ContainedResource],
    ctx: &MapContext,
) -> Mapped<Vec<Coding>> {
    if let Some(id) = reference.strip_prefix('#') {
        return contained
            .iter()
            .find(|c| {
                c.resource_type.as_deref() == Some("Medication") && c.id.as_deref() == Some(id)
            })
            .map(|c| concept(c.code.clone()))
            .ok_or("medicationReference to a missing contained Medication");
    }
    ctx.medications
        .get(normalise_reference(reference))
        .cloned()
        .ok_or("medicationReference to an unknown Medication")
}

/// Dose × frequency ÷ period, per day. `None` when the dosage does not say enough.
pub(super) fn daily_dose(dosage: Dosage) -> Option<Quantity> {
    let repeat = dosage.timing?.repeat?;
    let dose = dosage
        .dose_and_rate
        .into_iter()
        .find_map(|d| d.dose_quantity)
        .and_then(map_quantity)?;
    let days = repeat.period.unwrap_or(1.0)
        * match repeat.period_unit.as_deref().unwrap_or("d") {
            "s" => 1.0 / 86_400.0,
            "min" => 1.0 / 1_440.0,
            "h" => 1.0 / 24.0,
            "d" => 1.0,
            "wk" => 7.0,
            "mo" => 30.0,
            "a" => 365.0,
            _ => return None,
        };
    if days <= 0.0 {
        return None;
    }
    let per_day = dose.value * repeat.frequency.unwrap_or(1.0) / days;
    Some(Quantity {
        value: (per_day * 1e6).round() / 1e6,
        unit: dose.unit,
    })
}

pub(super) fn map_allergy(r: FhirAllergy, _ctx: &MapContext) -> Mapped<Allergy> {
    if is_refuted(&r.verification_status) {
        return Err("refuted or entered-in-error");
    }
    let code = concept(r.code);
    if code.is_empty() {
        return Err("no code");
    }
    Ok(Allergy {
        code,
        active: matches!(status_code(&r.clinical_status), Some("active") | None),
    })
}

/// `http://example.org/fhir/Patient/123/_history/2` and `Patient/123` name the same patient.
pub(crate) fn normalise_reference(reference: &str) -> &str {
    if reference.starts_with("urn:") {
        return reference;
    }
    let path = reference.split("/_history/").next().unwrap_or(reference);
    let mut parts = path.rsplitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(id), Some(ty)) => &path[path.len() - id.len() - ty.len() - 1..],
        _ => path,
    }
}

/// A FHIR `date` or `dateTime` as a calendar date. Partial dates are imputed to the middle
/// of the period they name (`1956` → 1 July 1956, `2024-03` → 15 March 2024); the time of
/// day and time zone of a `dateTime` are ignored, the date as written is the local date.
pub(crate) fn parse_fhir_date(value: &str) -> Option<Date> {
    let full = match value.len() {
        4 => format!("{value}-07-01"),
        7 => format!("{value}-15"),
        n if n >= 10 => value.get(..10)?.to_owned(),
        _ => return None,
    };
    full.parse().ok()
}

/// Whole years from `birth` (a FHIR date, possibly partial) to `on`.
pub(crate) fn age_at(birth: &str, on: Date) -> Result<u8, String> {
    let born = parse_fhir_date(birth).ok_or_else(|| {
        format!("Patient.birthDate {birth:?} is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)")
    })?;
    if born > on {
        return Err(format!(
            "Patient.birthDate {birth} is after the evaluation date {on}"
        ));
    }
    let mut years = on.year() - born.year();
    if (on.month(), on.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    u8::try_from(years).map_err(|_| format!("Patient.birthDate {birth} gives an age over 255"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn partial_dates_are_imputed_mid_period() {
        assert_eq!(parse_fhir_date("1956"), Some(date("1956-07-01")));
        assert_eq!(parse_fhir_date("2024-03"), Some(date("2024-03-15")));
        assert_eq!(
            parse_fhir_date("2024-03-02T08:15:00+01:00"),
            Some(date("2024-03-02"))
        );
        assert_eq!(parse_fhir_date("03/02/2024"), None);
        assert_eq!(parse_fhir_date("2024-13-01"), None);
    }

    #[test]
    fn ages_count_whole_years() {
        assert_eq!(age_at("1956", date("2026-06-30")), Ok(69));
        assert_eq!(age_at("1956", date("2026-07-01")), Ok(70));
        assert_eq!(age_at("2000-02-29", date("2026-02-28")), Ok(25));
        assert!(
            age_at("2030", date("2026-01-01"))
                .unwrap_err()
                .contains("after")
        );
        assert!(
            age_at("someday", date("2026-01-01"))
                .unwrap_err()
                .contains("not a FHIR date")
        );
    }

    #[test]
    fn references_normalise_to_type_and_id() {
        assert_eq!(normalise_reference("Patient/1"), "Patient/1");
        assert_eq!(
            normalise_reference("https://fhir.example/r4/Patient/1/_history/3"),
            "Patient/1"
        );
        assert_eq!(normalise_reference("urn:uuid:abc"), "urn:uuid:abc");
    }

    #[test]
    fn daily_dose_follows_timing() {
        let dosage: Dosage = serde_json::from_str(
            r#"{"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}},
                "doseAndRate":[{"doseQuantity":{"value":500,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}]}"#,
        )
        .unwrap();
        let dose = daily_dose(dosage).unwrap();
        assert_eq!((dose.value, dose.unit.as_str()), (1000.0, "mg"));
        let weekly: Dosage = serde_json::from_str(
            r#"{"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"wk"}},
                "doseAndRate":[{"doseQuantity":{"value":70,"unit":"mg"}}]}"#,
        )
        .unwrap();
        assert_eq!(daily_dose(weekly).unwrap().value, 10.0);
        let no_timing: Dosage =
            serde_json::from_str(r#"{"doseAndRate":[{"doseQuantity":{"value":70}}]}"#).unwrap();
        assert!(daily_dose(no_timing).is_none());
    }
}
