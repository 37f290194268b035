//! The FHIR R4 JSON shapes ingest reads: only the fields it uses. Every other field (and every
//! extension) is ignored by serde without building a value, which is what keeps ingest fast
//! on exports full of data no plugin needs.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// Just enough of any resource to route it.
#[derive(Deserialize)]
pub(super) struct ResourceHead<'a> {
    #[serde(rename = "resourceType", borrow)]
    pub(super) resource_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(super) id: Option<Cow<'a, str>>,
    /// Condition, Observation, MedicationRequest, MedicationStatement.
    #[serde(borrow)]
    pub(super) subject: Option<&'a RawValue>,
    /// AllergyIntolerance.
    #[serde(borrow)]
    pub(super) patient: Option<&'a RawValue>,
}

/// Just the type of any resource, from text or from a `serde_json::Value` alike.
#[derive(Deserialize)]
pub(super) struct ResourceType<'a> {
    #[serde(rename = "resourceType", borrow)]
    pub(super) resource_type: Option<Cow<'a, str>>,
}

impl ResourceHead<'_> {
    /// The reference to the patient the resource is about, if it has a readable one.
    pub(super) fn patient_reference(&self) -> Option<String> {
        let raw = self.subject.or(self.patient)?;
        serde_json::from_str::<Reference>(raw.get()).ok()?.reference
    }
}

#[derive(Deserialize)]
pub(super) struct Bundle<'a> {
    #[serde(rename = "resourceType")]
    pub(super) resource_type: Option<String>,
    #[serde(default, borrow)]
    pub(super) entry: Vec<BundleEntry<'a>>,
}

#[derive(Deserialize)]
pub(super) struct BundleEntry<'a> {
    #[serde(rename = "fullUrl")]
    pub(super) full_url: Option<String>,
    #[serde(borrow)]
    pub(super) resource: Option<&'a RawValue>,
}

#[derive(Deserialize, Default, Clone)]
pub(super) struct CodeableConcept {
    #[serde(default)]
    pub(super) coding: Vec<FhirCoding>,
}

#[derive(Deserialize, Clone)]
pub(super) struct FhirCoding {
    pub(super) system: Option<String>,
    pub(super) code: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Reference {
    pub(super) reference: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Period {
    pub(super) start: Option<String>,
    pub(super) end: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct FhirQuantity {
    pub(super) value: Option<f64>,
    pub(super) unit: Option<String>,
    pub(super) system: Option<String>,
    pub(super) code: Option<String>,
}

/// A Patient. The identifying fields are read only to refuse records that carry them (see
/// [`FhirPatient::direct_identifiers`]); none of them reaches a record.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FhirPatient {
    pub(super) id: Option<String>,
    pub(super) gender: Option<String>,
    pub(super) birth_date: Option<String>,
    #[serde(default)]
    name: Vec<IgnoredAny>,
    #[serde(default)]
    identifier: Vec<IdentifierHead>,
    #[serde(default)]
    telecom: Vec<IgnoredAny>,
    #[serde(default)]
    address: Vec<AddressHead>,
    #[serde(default)]
    photo: Vec<IgnoredAny>,
    #[serde(default)]
    contact: Vec<IgnoredAny>,
}

#[derive(Deserialize)]
struct IdentifierHead {
    value: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct AddressHead {
    #[serde(default)]
    line: Vec<IgnoredAny>,
    text: Option<IgnoredAny>,
}

impl FhirPatient {
    /// The direct identifiers this Patient still carries, as FHIR paths (empty when none).
    /// An identifier without a value, or an address of only a city or country, does not
    /// identify anyone and is allowed.
    pub(super) fn direct_identifiers(&self) -> Vec<&'static str> {
        let mut found = Vec::new();
        if !self.name.is_empty() {
            found.push("Patient.name");
        }
        if self.identifier.iter().any(|i| i.value.is_some()) {
            found.push("Patient.identifier.value");
        }
        if !self.telecom.is_empty() {
            found.push("Patient.telecom");
        }
        if self
            .address
            .iter()
            .any(|a| !a.line.is_empty() || a.text.is_some())
        {
            found.push("Patient.address.line");
        }
        if !self.photo.is_empty() {
            found.push("Patient.photo");
        }
        if !self.contact.is_empty() {
            found.push("Patient.contact");
        }
        found
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FhirCondition {
    pub(super) clinical_status: Option<CodeableConcept>,
    pub(super) verification_status: Option<CodeableConcept>,
    pub(super) code: Option<CodeableConcept>,
    pub(super) subject: Option<Reference>,
    pub(super) onset_date_time: Option<String>,
    pub(super) onset_period: Option<Period>,
    pub(super) recorded_date: Option<String>,
    pub(super) abatement_date_time: Option<String>,
    pub(super) abatement_period: Option<Period>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FhirObservation {
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) category: Vec<CodeableConcept>,
    pub(super) code: Option<CodeableConcept>,
    pub(super) subject: Option<Reference>,
    pub(super) effective_date_time: Option<String>,
    pub(super) effective_period: Option<Period>,
    pub(super) effective_instant: Option<String>,
    pub(super) issued: Option<String>,
    #[serde(default)]
    pub(super) performer: Vec<Reference>,
    #[serde(flatten)]
    pub(super) value: FhirValue,
    #[serde(default)]
    pub(super) component: Vec<FhirComponent>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct FhirValue {
    pub(super) value_quantity: Option<FhirQuantity>,
    pub(super) value_codeable_concept: Option<CodeableConcept>,
    pub(super) value_boolean: Option<bool>,
    pub(super) value_integer: Option<i64>,
    // Present in real data, not (yet) representable in the record: counted, not guessed.
    pub(super) value_string: Option<IgnoredAny>,
    pub(super) value_range: Option<IgnoredAny>,
    pub(super) value_ratio: Option<IgnoredAny>,
    pub(super) value_date_time: Option<IgnoredAny>,
    pub(super) value_period: Option<IgnoredAny>,
}

#[derive(Deserialize)]
pub(super) struct FhirComponent {
    pub(super) code: Option<CodeableConcept>,
    #[serde(flatten)]
    pub(super) value: FhirValue,
}

/// A MedicationRequest or MedicationStatement (the fields they share are read alike).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FhirMedicationUse {
    pub(super) status: Option<String>,
    pub(super) medication_codeable_concept: Option<CodeableConcept>,
    pub(super) medication_reference: Option<Reference>,
    /// Resources contained in this one; a `#id` medicationReference points into it.
    #[serde(default)]
    pub(super) contained: Vec<ContainedResource>,
    pub(super) subject: Option<Reference>,
    // MedicationRequest
    pub(super) authored_on: Option<String>,
    #[serde(default)]
    pub(super) dosage_instruction: Vec<Dosage>,
    // MedicationStatement
    pub(super) effective_date_time: Option<String>,
    pub(super) effective_period: Option<Period>,
    pub(super) date_asserted: Option<String>,
    #[serde(default)]
    pub(super) dosage: Vec<Dosage>,
}

/// A contained resource: only a contained Medication is used.
#[derive(Deserialize)]
pub(super) struct ContainedResource {
    #[serde(rename = "resourceType")]
    pub(super) resource_type: Option<String>,
    pub(super) id: Option<String>,
    pub(super) code: Option<CodeableConcept>,
}

/// A Medication: what a medicationReference points at.
#[derive(Deserialize)]
pub(super) struct FhirMedication {
    pub(super) id: Option<String>,
    pub(super) code: Option<CodeableConcept>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Dosage {
    pub(super) timing: Option<Timing>,
    #[serde(default)]
    pub(super) dose_and_rate: Vec<DoseAndRate>,
}

#[derive(Deserialize)]
pub(super) struct Timing {
    pub(super) repeat: Option<TimingRepeat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TimingRepeat {
    pub(super) frequency: Option<f64>,
    pub(super) period: Option<f64>,
    pub(super) period_unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DoseAndRate {
    pub(super) dose_quantity: Option<FhirQuantity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FhirAllergy {
    pub(super) clinical_status: Option<CodeableConcept>,
    pub(super) verification_status: Option<CodeableConcept>,
    pub(super) code: Option<CodeableConcept>,
    pub(super) patient: Option<Reference>,
}
