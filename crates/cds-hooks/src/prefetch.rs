//! Prefetch templates derived from a plugin's declared data needs, and the check of what a
//! client prefetched against them.
//!
//! # What CDS Hooks 2.0.1 allows in a template
//!
//! A prefetch token is `{{context.<field>}}` for a root-level, primitive context field the
//! hook marks as a token (`userId`, `patientId`, `encounterId` for the hooks here), or one of
//! `{{userPractitionerId}}`, `{{userPractitionerRoleId}}`, `{{userPatientId}}`,
//! `{{userRelatedPersonId}}`. Nothing else: FHIRPath in tokens, including the relative dates
//! `{{today() - 90 days}}`, arrived after 2.0.1 (the continuous build / 3.0 ballot) and a
//! 2.0 client would send the braces through literally or drop the template. The recommended
//! query subset is instance reads, type searches by patient, token equality (optionally
//! `:in`), date prefixes `eq/lt/gt/ge/le` with literal dates, `_count` and `_sort`.
//! [`validate_template`] checks a template against this; it lives in [`crate::protocol`]
//! (discovery refuses a service with a bad template) and is re-exported here.
//!
//! # How livelab maps data needs onto that
//!
//! - **Patient**: always `Patient/{{context.patientId}}` — every plugin gets age and sex.
//! - **Look-back**: a template cannot say "the last 365 days" (no relative dates, and a
//!   literal date would go stale), so templates carry **no date filter**. The look-back is
//!   enforced host-side by data minimisation (the host's `minimise`), which runs on whatever the
//!   client sends.
//! - **Codes**: a plugin declares code *prefixes* (`A10BA` matches `A10BA02`); a FHIR token
//!   search matches whole codes only. A section's template gets a `code=` filter only when
//!   every declared filter of that section is provably a complete code (a LOINC code with its
//!   check digit, a 7-character ATC substance code) and safe to put in a query; otherwise the
//!   section is fetched for the patient without a code filter and minimisation cuts it down.
//!   Each code is listed under every URI the host accepts for its system (e.g. `http://loinc.org`
//!   and LOINC's OID), because a FHIR server matches the stored `system` literally.
//!   [`CodeFilterMode::Never`] drops code filters entirely: needed when the host's terminology
//!   maps translate codes (a G-Standaard-coded record matched by an ATC filter, an ICPC
//!   episode by SNOMED), since the client's server will not translate.
//! - **Medications**: `MedicationRequest` and `MedicationStatement`, never code-filtered: their
//!   `code` search parameter only sees `medicationCodeableConcept`, so a filter would silently
//!   drop orders coded through `medicationReference`. (The referenced `Medication` resources
//!   cannot be prefetched within the 2.0.1 subset; see the crate README's open questions.)

use std::collections::BTreeMap;

use serde_json::Value;

use crate::protocol::{GapReason, PrefetchGap, RequestError, ServiceRequest};
pub use crate::protocol::{TemplateError, validate_template};

/// A part of the patient record a plugin can ask for (WIT `section`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    Conditions,
    Observations,
    Medications,
    Allergies,
}

/// A code system (WIT `code-system`).
///
/// Deliberately a copy of the host's (`livelab_host::wit::CodeSystem` and its URIs): this crate
/// is its own workspace and depends on no livelab crate until `livelab serve` wires it in,
/// when the host's type takes its place.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CodeSystem {
    Icpc,
    Atc,
    Loinc,
    SnomedCt,
    Rxnorm,
    NhgTabel45,
    GStandaard,
    Ucum,
    /// Any other system, by its canonical URI.
    Other(String),
}

impl CodeSystem {
    /// Every URI the host reads as this system (the canonical one first), mirroring
    /// the host's code-system table (`CodeSystem::from_uri` in its `wit` module). A code
    /// filter lists the code under each.
    pub fn uris(&self) -> Vec<&str> {
        match self {
            CodeSystem::Icpc => vec![
                "http://hl7.org/fhir/sid/icpc-1-nl",
                "urn:oid:2.16.840.1.113883.2.4.4.31.1",
                "http://hl7.org/fhir/sid/icpc-1",
            ],
            CodeSystem::Atc => vec!["http://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73"],
            CodeSystem::Loinc => vec!["http://loinc.org", "urn:oid:2.16.840.1.113883.6.1"],
            CodeSystem::SnomedCt => {
                vec!["http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96"]
            }
            CodeSystem::Rxnorm => vec![
                "http://www.nlm.nih.gov/research/umls/rxnorm",
                "urn:oid:2.16.840.1.113883.6.88",
            ],
            CodeSystem::NhgTabel45 => vec!["urn:oid:2.16.840.1.113883.2.4.4.30.45"],
            CodeSystem::GStandaard => vec![
                "urn:oid:2.16.840.1.113883.2.4.4.1",
                "urn:oid:2.16.840.1.113883.2.4.4.7",
                "urn:oid:2.16.840.1.113883.2.4.4.10",
            ],
            CodeSystem::Ucum => vec!["http://unitsofmeasure.org"],
            CodeSystem::Other(uri) => vec![uri.as_str()],
        }
    }
}

/// Matches a coding when the systems are equal and the code starts with `prefix` (WIT
/// `code-filter`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CodeFilter {
    pub system: CodeSystem,
    pub prefix: String,
}

/// One declared need (WIT `data-need`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataNeed {
    pub section: Section,
    /// Empty: the whole section.
    pub codes: Vec<CodeFilter>,
    /// Not expressible in a 2.0.1 template; enforced by the host's minimisation.
    pub look_back_days: Option<u32>,
}

/// Whether templates may carry `code=` filters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CodeFilterMode {
    /// Filter a section when all its declared filters are complete codes (the default).
    #[default]
    CompleteCodesOnly,
    /// Never filter by code: fetch each declared section for the patient.
    Never,
}

/// Options of [`derive_prefetch`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrefetchOptions {
    pub code_filters: CodeFilterMode,
}

/// The most `system|code` values one `code=` filter lists before the section is fetched
/// unfiltered instead (keeps template URLs well under common 8 KiB request-line limits).
pub const MAX_CODE_VALUES: usize = 100;

/// A read of one resource or a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    /// `Type/{{token}}`: the prefetch value is that resource (or `null`).
    Read,
    /// `Type?…`: the prefetch value is a searchset Bundle (or `null`).
    Search,
}

/// One prefetch template with what its data must look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefetchTemplate {
    /// The prefetch key.
    pub key: String,
    /// The FHIR query template.
    pub query: String,
    /// The resource type read or searched.
    pub resource_type: &'static str,
    pub kind: TemplateKind,
}

/// The templates a service publishes in discovery and checks each request against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefetchPlan {
    pub templates: Vec<PrefetchTemplate>,
}

/// Derives the prefetch templates for a plugin's declared data needs (see the module docs
/// for the rules). Keys, in this order: `patient` (always), then `conditions`,
/// `observations`, `medicationRequests` and `medicationStatements`, `allergies` for the
/// sections declared.
pub fn derive_prefetch(needs: &[DataNeed], options: &PrefetchOptions) -> PrefetchPlan {
    let mut templates = vec![PrefetchTemplate {
        key: "patient".into(),
        query: "Patient/{{context.patientId}}".into(),
        resource_type: "Patient",
        kind: TemplateKind::Read,
    }];
    for section in [
        Section::Conditions,
        Section::Observations,
        Section::Medications,
        Section::Allergies,
    ] {
        let declared: Vec<&DataNeed> = needs.iter().filter(|n| n.section == section).collect();
        if declared.is_empty() {
            continue;
        }
        let filter = match section {
            Section::Medications => None,
            _ => code_filter(&declared, options),
        };
        for (key, resource_type) in section_resources(section) {
            let mut query = format!("{resource_type}?patient={{{{context.patientId}}}}");
            if let Some(values) = &filter {
                query.push_str("&code=");
                query.push_str(values);
            }
            templates.push(PrefetchTemplate {
                key: (*key).into(),
                query,
                resource_type,
                kind: TemplateKind::Search,
            });
        }
    }
    PrefetchPlan { templates }
}

fn section_resources(section: Section) -> &'static [(&'static str, &'static str)] {
    match section {
        Section::Conditions => &[("conditions", "Condition")],
        Section::Observations => &[("observations", "Observation")],
        Section::Medications => &[
            ("medicationRequests", "MedicationRequest"),
            ("medicationStatements", "MedicationStatement"),
        ],
        Section::Allergies => &[("allergies", "AllergyIntolerance")],
    }
}

/// The comma-separated `system|code` values for a section, or `None` to fetch it unfiltered.
fn code_filter(needs: &[&DataNeed], options: &PrefetchOptions) -> Option<String> {
    if options.code_filters == CodeFilterMode::Never {
        return None;
    }
    let mut values = std::collections::BTreeSet::new();
    for need in needs {
        if need.codes.is_empty() {
            return None;
        }
        for filter in &need.codes {
            if !is_complete_code(filter) {
                return None;
            }
            for uri in filter.system.uris() {
                if !is_query_safe(uri) {
                    return None;
                }
                values.insert(format!("{uri}|{}", filter.prefix));
            }
        }
    }
    if values.len() > MAX_CODE_VALUES {
        return None;
    }
    Some(values.into_iter().collect::<Vec<_>>().join(","))
}

/// Whether a code filter's prefix is a whole code, so that it matches exactly the codes a
/// FHIR token search for it finds: nothing can extend it.
///
/// - LOINC: digits, a dash and one check digit (`33914-3`; also `LP…`, `LA…`, `LL…`).
/// - ATC: a 7-character chemical-substance code (`A10BA02`), the deepest ATC level.
///
/// Other systems have codes of varying length (SNOMED CT, RxNorm, ICPC with Dutch
/// extensions, NHG Tabel 45, G-Standaard) where a declared code may be the prefix of
/// another, so they are never treated as complete.
pub fn is_complete_code(filter: &CodeFilter) -> bool {
    let code = filter.prefix.as_str();
    match filter.system {
        CodeSystem::Loinc => {
            let digits = code
                .strip_prefix("LP")
                .or_else(|| code.strip_prefix("LA"))
                .or_else(|| code.strip_prefix("LL"))
                .unwrap_or(code);
            match digits.split_once('-') {
                Some((number, check)) => {
                    (1..=7).contains(&number.len())
                        && number.bytes().all(|b| b.is_ascii_digit())
                        && check.len() == 1
                        && check.bytes().all(|b| b.is_ascii_digit())
                }
                None => false,
            }
        }
        CodeSystem::Atc => {
            let b = code.as_bytes();
            b.len() == 7
                && b[0].is_ascii_uppercase()
                && b[1].is_ascii_digit()
                && b[2].is_ascii_digit()
                && b[3].is_ascii_uppercase()
                && b[4].is_ascii_uppercase()
                && b[5].is_ascii_digit()
                && b[6].is_ascii_digit()
        }
        _ => false,
    }
}

/// Characters that mean nothing to a FHIR search value or a URL query and cannot open a
/// prefetch token. Anything else (`,` `|` `$` `\` `&` `#` `{` `}` `%`, spaces, non-ASCII)
/// makes the section unfiltered rather than escaped: escaping rules differ between FHIR
/// servers, and a stray `{{` would be a token injection.
fn is_query_safe(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'/'))
}

impl PrefetchPlan {
    /// The `prefetch` object of the service's discovery entry.
    pub fn discovery_map(&self) -> BTreeMap<String, String> {
        self.templates
            .iter()
            .map(|t| (t.key.clone(), t.query.clone()))
            .collect()
    }

    /// Checks what the client prefetched against the templates, and returns the data of the
    /// declared keys only (`None` for a key whose query found nothing). Keys the service did
    /// not ask for are left out: a plugin gets nothing it did not declare.
    ///
    /// - A key the client left out, answered with an `OperationOutcome`, or answered with the
    ///   first page of a paginated search is a gap; any gap is a 412
    ///   ([`RequestError::PrefetchUnavailable`]), listing them all. The spec's 412 is for a
    ///   service that cannot fetch what is missing itself: a caller that can (with
    ///   `fhirServer` and `fhirAuthorization`) may fetch the gaps instead.
    /// - A value that is not the resource the template asks for, or data about a patient other
    ///   than `context.patientId` (a Patient with another id, a search entry whose `subject` /
    ///   `patient` names another Patient), is a 400: advice computed on the wrong patient's
    ///   data is the one failure a CDS service must never risk.
    pub fn check<'a>(
        &self,
        request: &'a ServiceRequest,
    ) -> Result<BTreeMap<String, Option<&'a Value>>, RequestError> {
        let patient_id = request.context.patient_id();
        let mut data = BTreeMap::new();
        let mut gaps = Vec::new();
        for template in &self.templates {
            let key = &template.key;
            let gap = |reason| PrefetchGap {
                key: key.clone(),
                reason,
            };
            let invalid = |reason| RequestError::InvalidPrefetch {
                key: key.clone(),
                reason,
            };
            let value = match request.prefetch.get(key) {
                None => {
                    gaps.push(gap(GapReason::Missing));
                    continue;
                }
                Some(Value::Null) => {
                    data.insert(key.clone(), None);
                    continue;
                }
                Some(value) => value,
            };
            let resource_type = value
                .get("resourceType")
                .and_then(Value::as_str)
                .ok_or(invalid("is not a FHIR resource"))?;
            if resource_type == "OperationOutcome" {
                gaps.push(gap(GapReason::ClientError));
                continue;
            }
            match template.kind {
                TemplateKind::Read => {
                    if resource_type != template.resource_type {
                        return Err(invalid("has the wrong resourceType for its template"));
                    }
                    if template.resource_type == "Patient"
                        && value.get("id").and_then(Value::as_str) != Some(patient_id)
                    {
                        return Err(RequestError::PrefetchPatientMismatch { key: key.clone() });
                    }
                }
                TemplateKind::Search => {
                    if resource_type != "Bundle" {
                        return Err(invalid("is not a Bundle"));
                    }
                    if has_next_link(value) {
                        gaps.push(gap(GapReason::Paginated));
                        continue;
                    }
                    let entries = match value.get("entry") {
                        None => &[][..],
                        Some(Value::Array(entries)) => entries.as_slice(),
                        Some(_) => return Err(invalid("has a Bundle.entry that is not an array")),
                    };
                    for resource in entries.iter().filter_map(|e| e.get("resource")) {
                        if resource.get("resourceType").and_then(Value::as_str)
                            == Some(template.resource_type)
                            && names_other_patient(resource, patient_id)
                        {
                            return Err(RequestError::PrefetchPatientMismatch { key: key.clone() });
                        }
                    }
                }
            }
            data.insert(key.clone(), Some(value));
        }
        if gaps.is_empty() {
            Ok(data)
        } else {
            Err(RequestError::PrefetchUnavailable { gaps })
        }
    }
}

fn has_next_link(bundle: &Value) -> bool {
    bundle
        .get("link")
        .and_then(Value::as_array)
        .is_some_and(|links| {
            links
                .iter()
                .any(|link| link.get("relation").and_then(Value::as_str) == Some("next"))
        })
}

/// Whether a resource's `subject` or `patient` reference clearly names a Patient other than
/// `patient_id`. References of other forms (`urn:uuid:`, contained, absent) are not judged.
fn names_other_patient(resource: &Value, patient_id: &str) -> bool {
    ["subject", "patient"].iter().any(|field| {
        resource
            .get(field)
            .and_then(|r| r.get("reference"))
            .and_then(Value::as_str)
            .and_then(referenced_patient)
            .is_some_and(|id| id != patient_id)
    })
}

/// The id in `Patient/<id>`, `<base>/Patient/<id>` or `Patient/<id>/_history/<v>`.
fn referenced_patient(reference: &str) -> Option<&str> {
    let segments: Vec<&str> = reference.split('/').collect();
    let at = segments.iter().rposition(|s| *s == "Patient")?;
    segments.get(at + 1).copied().filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorResponse;
    use crate::protocol::{Hook, Limits};

    fn loinc(code: &str) -> CodeFilter {
        CodeFilter {
            system: CodeSystem::Loinc,
            prefix: code.into(),
        }
    }

    fn atc(code: &str) -> CodeFilter {
        CodeFilter {
            system: CodeSystem::Atc,
            prefix: code.into(),
        }
    }

    fn need(section: Section, codes: Vec<CodeFilter>, look_back_days: Option<u32>) -> DataNeed {
        DataNeed {
            section,
            codes,
            look_back_days,
        }
    }

    fn map(plan: &PrefetchPlan) -> Vec<(String, String)> {
        plan.discovery_map().into_iter().collect()
    }

    /// The metformin-eGFR sample plugin's needs: eGFR and creatinine (LOINC, complete codes)
    /// for a year, and metformin by ATC prefix.
    #[test]
    fn metformin_egfr_needs() {
        let plan = derive_prefetch(
            &[
                need(
                    Section::Observations,
                    vec![loinc("62238-1"), loinc("33914-3")],
                    Some(365),
                ),
                need(Section::Medications, vec![atc("A10BA")], None),
            ],
            &PrefetchOptions::default(),
        );
        assert_eq!(
            map(&plan),
            vec![
                (
                    "medicationRequests".into(),
                    "MedicationRequest?patient={{context.patientId}}".into()
                ),
                (
                    "medicationStatements".into(),
                    "MedicationStatement?patient={{context.patientId}}".into()
                ),
                (
                    "observations".into(),
                    "Observation?patient={{context.patientId}}&code=http://loinc.org|33914-3,\
                     http://loinc.org|62238-1,urn:oid:2.16.840.1.113883.6.1|33914-3,\
                     urn:oid:2.16.840.1.113883.6.1|62238-1"
                        .into()
                ),
                ("patient".into(), "Patient/{{context.patientId}}".into()),
            ]
        );
        assert!(plan.templates.iter().all(|t| !t.query.contains("date")));
    }

    #[test]
    fn code_filter_rules() {
        type Case = (
            &'static str,
            Vec<DataNeed>,
            CodeFilterMode,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "complete LOINC",
                vec![need(Section::Observations, vec![loinc("4548-4")], None)],
                CodeFilterMode::CompleteCodesOnly,
                Some(
                    "Observation?patient={{context.patientId}}&code=http://loinc.org|4548-4,urn:oid:2.16.840.1.113883.6.1|4548-4",
                ),
            ),
            (
                "LOINC prefix",
                vec![need(Section::Observations, vec![loinc("4548")], None)],
                CodeFilterMode::CompleteCodesOnly,
                Some("Observation?patient={{context.patientId}}"),
            ),
            (
                "one prefix among codes",
                vec![need(
                    Section::Observations,
                    vec![loinc("4548-4"), loinc("85354")],
                    None,
                )],
                CodeFilterMode::CompleteCodesOnly,
                Some("Observation?patient={{context.patientId}}"),
            ),
            (
                "two needs, one whole section",
                vec![
                    need(Section::Observations, vec![loinc("4548-4")], None),
                    need(Section::Observations, vec![], Some(30)),
                ],
                CodeFilterMode::CompleteCodesOnly,
                Some("Observation?patient={{context.patientId}}"),
            ),
            (
                "SNOMED is never complete",
                vec![need(
                    Section::Conditions,
                    vec![CodeFilter {
                        system: CodeSystem::SnomedCt,
                        prefix: "44054006".into(),
                    }],
                    None,
                )],
                CodeFilterMode::CompleteCodesOnly,
                Some("Condition?patient={{context.patientId}}"),
            ),
            (
                "mode never",
                vec![need(Section::Observations, vec![loinc("4548-4")], None)],
                CodeFilterMode::Never,
                Some("Observation?patient={{context.patientId}}"),
            ),
            (
                "unsafe system URI",
                vec![need(
                    Section::Allergies,
                    vec![CodeFilter {
                        system: CodeSystem::Other("urn:x:{{context.userId}}".into()),
                        prefix: "1".into(),
                    }],
                    None,
                )],
                CodeFilterMode::CompleteCodesOnly,
                Some("AllergyIntolerance?patient={{context.patientId}}"),
            ),
            (
                "empty prefix",
                vec![need(Section::Observations, vec![loinc("")], None)],
                CodeFilterMode::CompleteCodesOnly,
                Some("Observation?patient={{context.patientId}}"),
            ),
        ];
        for (name, needs, mode, want) in cases {
            let plan = derive_prefetch(&needs, &PrefetchOptions { code_filters: mode });
            let section_query = plan.templates.get(1).map(|t| t.query.as_str());
            assert_eq!(section_query, want, "{name}");
        }
    }

    #[test]
    fn medications_are_never_code_filtered() {
        let plan = derive_prefetch(
            &[need(Section::Medications, vec![atc("A10BA02")], None)],
            &PrefetchOptions::default(),
        );
        assert!(
            plan.templates.iter().all(|t| !t.query.contains("code=")),
            "{plan:?}"
        );
    }

    #[test]
    fn too_many_codes_fall_back_to_the_whole_section() {
        let codes: Vec<CodeFilter> = (0..60).map(|i| loinc(&format!("{}-1", 1000 + i))).collect();
        let plan = derive_prefetch(
            &[need(Section::Observations, codes, None)],
            &PrefetchOptions::default(),
        );
        assert_eq!(
            plan.templates[1].query,
            "Observation?patient={{context.patientId}}"
        );
    }

    #[test]
    fn only_the_patient_without_needs() {
        let plan = derive_prefetch(&[], &PrefetchOptions::default());
        assert_eq!(
            map(&plan),
            vec![("patient".into(), "Patient/{{context.patientId}}".into())]
        );
    }

    #[test]
    fn complete_codes() {
        let cases = [
            (loinc("33914-3"), true),
            (loinc("LP12345-6"), true),
            (loinc("LA6576-8"), true),
            (loinc("33914"), false),
            (loinc("33914-"), false),
            (loinc("33914-33"), false),
            (loinc("12345678-1"), false),
            (loinc("3391a-3"), false),
            (atc("A10BA02"), true),
            (atc("A10BA"), false),
            (atc("a10ba02"), false),
            (atc("A10BA0X"), false),
            (
                CodeFilter {
                    system: CodeSystem::Icpc,
                    prefix: "T90.02".into(),
                },
                false,
            ),
            (
                CodeFilter {
                    system: CodeSystem::Rxnorm,
                    prefix: "860975".into(),
                },
                false,
            ),
        ];
        for (filter, want) in cases {
            assert_eq!(is_complete_code(&filter), want, "{filter:?}");
        }
    }

    #[test]
    fn derived_templates_are_valid_for_every_hook() {
        let all = [
            Section::Conditions,
            Section::Observations,
            Section::Medications,
            Section::Allergies,
        ]
        .map(|s| need(s, vec![loinc("4548-4")], Some(90)));
        let plan = derive_prefetch(&all, &PrefetchOptions::default());
        assert_eq!(plan.templates.len(), 6);
        for hook in Hook::ALL {
            for template in &plan.templates {
                assert_eq!(
                    validate_template(&template.query, hook),
                    Ok(()),
                    "{}",
                    template.query
                );
            }
        }
    }

    #[test]
    fn template_validation() {
        let ok = [
            "Patient/{{context.patientId}}",
            "{{context.userId}}",
            "Encounter/{{context.encounterId}}",
            "PractitionerRole?_id={{userPractitionerRoleId}}&_include=PractitionerRole:practitioner",
            "Observation?patient={{context.patientId}}&code=4548-4&_count=1&sort:desc=date",
            "Condition?patient={{context.patientId}}&code=44054006&category=problem-list-item&status=active",
            "Observation?patient={{context.patientId}}&date=ge2024-01-01",
        ];
        for template in ok {
            assert_eq!(
                validate_template(template, Hook::PatientView),
                Ok(()),
                "{template}"
            );
        }
        let bad: [(&str, &str); 11] = [
            ("", "Empty"),
            ("https://ehr.example.org/Patient/1", "NotRelative"),
            ("/Patient/{{context.patientId}}", "NotRelative"),
            (
                "Observation?patient={{context.patientId}}&date=ge{{today() - 365 days}}",
                "UnsupportedToken",
            ),
            ("Patient/{{context.patient.id}}", "UnsupportedToken"),
            (
                "MedicationRequest?_id={{context.draftOrders.entry.resource.id}}",
                "UnsupportedToken",
            ),
            ("Patient/{{ context.patientId }}", "UnsupportedToken"),
            ("Patient/{{context.patientId}", "UnbalancedBraces"),
            ("Patient/{context.patientId}", "UnbalancedBraces"),
            ("patient/{{context.patientId}}", "NotReadOrSearch"),
            ("Patient?", "NotReadOrSearch"),
        ];
        for (template, want) in bad {
            let got = validate_template(template, Hook::OrderSign);
            assert!(
                format!("{got:?}").starts_with(&format!("Err({want}")),
                "{template}: {got:?}"
            );
        }
    }

    // ------------------------------------------------------------- check

    fn plan() -> PrefetchPlan {
        derive_prefetch(
            &[
                need(Section::Observations, vec![loinc("62238-1")], Some(365)),
                need(Section::Conditions, vec![], None),
            ],
            &PrefetchOptions::default(),
        )
    }

    fn request(prefetch: Value) -> ServiceRequest {
        let body = json!({
            "hook": "patient-view",
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/u1", "patientId": "p1"},
            "prefetch": prefetch,
        });
        match ServiceRequest::parse(body.to_string().as_bytes(), &Limits::default()) {
            Ok(request) => request,
            Err(error) => panic!("{error}"),
        }
    }

    fn searchset(entries: Value) -> Value {
        json!({"resourceType": "Bundle", "type": "searchset", "entry": entries})
    }

    fn observation(subject: &str) -> Value {
        json!({"resource": {"resourceType": "Observation", "id": "o1", "subject": {"reference": subject}}})
    }

    #[test]
    fn complete_prefetch_passes_and_drops_undeclared_keys() {
        let request = request(json!({
            "patient": {"resourceType": "Patient", "id": "p1"},
            "observations": searchset(json!([observation("Patient/p1"), observation("https://ehr/fhir/Patient/p1/_history/3")])),
            "conditions": null,
            "medications": searchset(json!([])),
        }));
        let data = plan().check(&request);
        let Ok(data) = data else {
            panic!("{data:?}");
        };
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            ["conditions", "observations", "patient"]
        );
        assert_eq!(data.get("conditions"), Some(&None));
    }

    #[test]
    fn gaps_are_412_and_all_listed() {
        let request = request(json!({
            "observations": {"resourceType": "OperationOutcome", "issue": []},
            "conditions": {"resourceType": "Bundle", "type": "searchset",
                           "link": [{"relation": "next", "url": "https://ehr/fhir/Condition?page=2"}]},
        }));
        let error = plan().check(&request).err();
        assert_eq!(error.as_ref().map(ErrorResponse::status), Some(412));
        assert_eq!(
            error,
            Some(RequestError::PrefetchUnavailable {
                gaps: vec![
                    PrefetchGap {
                        key: "patient".into(),
                        reason: GapReason::Missing
                    },
                    PrefetchGap {
                        key: "conditions".into(),
                        reason: GapReason::Paginated
                    },
                    PrefetchGap {
                        key: "observations".into(),
                        reason: GapReason::ClientError
                    },
                ]
            })
        );
    }

    #[test]
    fn wrong_shapes_and_wrong_patients_are_400() {
        let patient = json!({"resourceType": "Patient", "id": "p1"});
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "patient of another id",
                json!({"patient": {"resourceType": "Patient", "id": "p2"}, "observations": null, "conditions": null}),
                "prefetch-patient-mismatch",
            ),
            (
                "patient without id",
                json!({"patient": {"resourceType": "Patient"}, "observations": null, "conditions": null}),
                "prefetch-patient-mismatch",
            ),
            (
                "observation of another patient",
                json!({"patient": patient, "observations": searchset(json!([observation("Patient/p1"), observation("Patient/p2")])), "conditions": null}),
                "prefetch-patient-mismatch",
            ),
            (
                "patient not a Patient",
                json!({"patient": {"resourceType": "Practitioner", "id": "p1"}, "observations": null, "conditions": null}),
                "invalid-prefetch",
            ),
            (
                "search not a Bundle",
                json!({"patient": patient, "observations": {"resourceType": "Observation"}, "conditions": null}),
                "invalid-prefetch",
            ),
            (
                "not a resource",
                json!({"patient": patient, "observations": [1, 2], "conditions": null}),
                "invalid-prefetch",
            ),
            (
                "entry not an array",
                json!({"patient": patient, "observations": {"resourceType": "Bundle", "entry": {}}, "conditions": null}),
                "invalid-prefetch",
            ),
        ];
        for (name, prefetch, code) in cases {
            let request = request(prefetch);
            let got = plan().check(&request);
            assert_eq!(
                got.as_ref().err().map(ErrorResponse::code),
                Some(code),
                "{name}: {got:?}"
            );
            assert_eq!(got.err().map(|e| e.status()), Some(400), "{name}");
        }
    }

    #[test]
    fn other_reference_forms_are_not_judged() {
        let request = request(json!({
            "patient": {"resourceType": "Patient", "id": "p1"},
            "observations": searchset(json!([observation("urn:uuid:5b3c"), {"resource": {"resourceType": "Observation"}}, {"resource": {"resourceType": "Patient", "id": "p9"}}])),
            "conditions": null,
        }));
        assert!(plan().check(&request).is_ok());
    }

    #[test]
    fn referenced_patients() {
        let cases = [
            ("Patient/p1", Some("p1")),
            ("https://ehr.example.org/fhir/Patient/p1", Some("p1")),
            ("Patient/p1/_history/2", Some("p1")),
            ("Patient/", None),
            ("Group/g1", None),
            ("urn:uuid:1234", None),
        ];
        for (reference, want) in cases {
            assert_eq!(referenced_patient(reference), want, "{reference}");
        }
    }
}
