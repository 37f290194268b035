//! The anonymised patient record as the host holds it, and data minimisation: cutting it
//! down to exactly what a plugin declared before it crosses into the sandbox.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::units::Withheld;
use crate::wit::{
    Allergy, CodeFilter, CodeSystem, Coding, Condition, DataNeed, Hook, Medication, Observation,
    Patient, Section,
};

/// Where a record (or a problem with one) was read from: a file, and the entry of a Bundle
/// or the line of an NDJSON file when there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceLocation {
    pub file: PathBuf,
    /// `entry 12` of a Bundle or `line 40` of an NDJSON file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Zero-based index into `Bundle.entry`, as FHIRPath would name it.
    Entry(usize),
    /// One-based line number.
    Line(usize),
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        match self.position {
            Some(Position::Entry(i)) => write!(f, " (Bundle.entry[{i}])"),
            Some(Position::Line(n)) => write!(f, ":{n}"),
            None => Ok(()),
        }
    }
}

/// One anonymised patient, ready to be minimised and passed to plugins.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The pseudonym the host reports results under. It never crosses into a plugin.
    pub key: String,
    pub source: SourceLocation,
    /// Everything the host could read, before minimisation.
    pub patient: Patient,
    /// Which code systems the source used for diagnoses and medications, before any
    /// terminology map added codings: a trial's subgroup, so that a plugin that only works
    /// for Dutch-coded records shows it.
    pub coding: CodingOrigin,
    /// How many leading codings of each item the source wrote (the rest a terminology map
    /// added), section by section in the order of `patient`.
    pub source_codings: SourceCodings,
    /// Values that reach no plugin because their unit or value cannot be trusted.
    pub withheld: Vec<WithheldValue>,
}

/// Per section, for each item in the record's order, how many of its codings the source
/// wrote: a terminology map appends after them ([`super::terminology::Terminology::translate`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceCodings {
    pub conditions: Vec<usize>,
    pub observations: Vec<usize>,
    pub medications: Vec<usize>,
    pub allergies: Vec<usize>,
}

/// A value withheld from every plugin ([`crate::ingest::units`]): the observation as a plugin
/// would have been given it (codes translated; for a withheld component of a panel, the
/// component's code and value at the panel's date), why, and where it was read.
#[derive(Clone, Debug, PartialEq)]
pub struct WithheldValue {
    pub observation: Observation,
    pub reason: Withheld,
    pub location: SourceLocation,
}

/// The code systems of a record's diagnoses and medications as the source wrote them.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CodingOrigin {
    /// Dutch GP systems only (ICPC, ATC, NHG Tabel 45, G-Standaard).
    Dutch,
    /// International systems only (SNOMED CT, RxNorm).
    International,
    /// Both.
    Mixed,
    /// No diagnosis or medication codes in either.
    #[default]
    None,
}

impl CodingOrigin {
    pub const ALL: [CodingOrigin; 4] = [
        CodingOrigin::Dutch,
        CodingOrigin::International,
        CodingOrigin::Mixed,
        CodingOrigin::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CodingOrigin::Dutch => "dutch",
            CodingOrigin::International => "international",
            CodingOrigin::Mixed => "mixed",
            CodingOrigin::None => "none",
        }
    }

    /// This origin after also seeing `concept` (as the source wrote it).
    pub fn with(self, concept: &[crate::wit::Coding]) -> CodingOrigin {
        use crate::wit::CodeSystem as S;
        let dutch = concept
            .iter()
            .any(|c| matches!(c.system, S::Icpc | S::Atc | S::NhgTabel45 | S::GStandaard));
        let international = concept
            .iter()
            .any(|c| matches!(c.system, S::SnomedCt | S::Rxnorm));
        let seen = match (dutch, international) {
            (true, true) => CodingOrigin::Mixed,
            (true, false) => CodingOrigin::Dutch,
            (false, true) => CodingOrigin::International,
            (false, false) => return self,
        };
        match self {
            CodingOrigin::None => seen,
            same if same == seen => same,
            _ => CodingOrigin::Mixed,
        }
    }
}

/// Cut `patient` down to the declared `needs`: sections nobody asked for are empty, items
/// whose code matches no filter are dropped, items older than the look-back are dropped,
/// and of each item only the codings that matched are kept.
pub fn minimise(patient: &Patient, needs: &[DataNeed]) -> Patient {
    Patient {
        age_years: patient.age_years,
        sex: patient.sex,
        conditions: select(&patient.conditions, needs, Section::Conditions),
        observations: select(&patient.observations, needs, Section::Observations),
        medications: select(&patient.medications, needs, Section::Medications),
        allergies: select(&patient.allergies, needs, Section::Allergies),
    }
}

/// The hook as a plugin may see it: the draft orders of `order-sign` cut down to the
/// declared medication needs, like the record's own medications (a draft order outside them
/// is not the plugin's business any more than a current prescription would be).
pub fn minimise_hook(hook: &Hook, needs: &[DataNeed]) -> Hook {
    match hook {
        Hook::PatientView => Hook::PatientView,
        Hook::OrderSign(drafts) => Hook::OrderSign(select(drafts, needs, Section::Medications)),
    }
}

/// What a plugin's declared needs could and could not reach in one record, beside what
/// [`minimise`] gave it: the coverage a region reads to see which of its data a plugin never
/// sees. Keys are readable and bounded by the code systems and maps in use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Coverage {
    /// Items of a declared section (inside the look-back) that no declared filter can match
    /// because none of their codings, original or mapped, is in a system the plugin declares
    /// for that section: by `"<section> coded in <systems the source wrote>, not <systems
    /// declared>"`.
    pub unreachable: Vec<String>,
    /// Items that reached the plugin only through a terminology map, by
    /// `"<section> <system>|<code>"` (the source's first coding).
    pub through_map: Vec<String>,
    /// Withheld values the plugin would have been given, by reason, with where each was read.
    pub withheld: Vec<(String, String)>,
}

impl Record {
    /// What `needs` reach and miss in this record (see [`Coverage`]).
    pub fn coverage(&self, needs: &[DataNeed]) -> Coverage {
        let p = &self.patient;
        let s = &self.source_codings;
        let mut coverage = Coverage::default();
        cover(
            &p.conditions,
            &s.conditions,
            needs,
            Section::Conditions,
            &mut coverage,
        );
        cover(
            &p.observations,
            &s.observations,
            needs,
            Section::Observations,
            &mut coverage,
        );
        cover(
            &p.medications,
            &s.medications,
            needs,
            Section::Medications,
            &mut coverage,
        );
        cover(
            &p.allergies,
            &s.allergies,
            needs,
            Section::Allergies,
            &mut coverage,
        );
        for w in &self.withheld {
            if !select(
                std::slice::from_ref(&w.observation),
                needs,
                Section::Observations,
            )
            .is_empty()
            {
                coverage
                    .withheld
                    .push((w.reason.reason(), format!("{}: {}", w.location, w.reason)));
            }
        }
        coverage
    }
}

/// The section's name in coverage keys.
fn section_name(section: Section) -> &'static str {
    match section {
        Section::Conditions => "conditions",
        Section::Observations => "observations",
        Section::Medications => "medications",
        Section::Allergies => "allergies",
    }
}

/// Adds one section's unreachable and map-only items to `coverage`.
fn cover<T: SectionItem>(
    items: &[T],
    source_codings: &[usize],
    needs: &[DataNeed],
    section: Section,
    coverage: &mut Coverage,
) {
    let needs: Vec<&DataNeed> = needs.iter().filter(|n| n.section == section).collect();
    // A need without filters takes every item in whatever system: nothing is unreachable.
    if needs.is_empty() || needs.iter().any(|n| n.codes.is_empty()) {
        return;
    }
    let mut declared: Vec<&CodeSystem> = needs
        .iter()
        .flat_map(|n| n.codes.iter().map(|f| &f.system))
        .collect();
    declared.sort_unstable_by_key(|s| system_label(s));
    declared.dedup();
    let declared_names = declared
        .iter()
        .map(|s| system_label(s))
        .collect::<Vec<_>>()
        .join(" or ");
    for (item, &written) in items.iter().zip(source_codings) {
        let days = item.last_relevant_days_ago();
        let passing: Vec<&&DataNeed> = needs.iter().filter(|n| within_look_back(n, days)).collect();
        if passing.is_empty() {
            continue;
        }
        let codings = item.codings();
        let (original, mapped) = codings.split_at(written.min(codings.len()));
        if !codings.iter().any(|c| declared.contains(&&c.system)) {
            let mut systems: Vec<&str> = original.iter().map(|c| system_label(&c.system)).collect();
            systems.sort_unstable();
            systems.dedup();
            let systems = if systems.is_empty() {
                "no code".to_owned()
            } else {
                systems.join(" + ")
            };
            coverage.unreachable.push(format!(
                "{} coded in {}, not {declared_names}",
                section_name(section),
                bounded(&systems)
            ));
            continue;
        }
        let matches = |c: &&Coding| {
            passing
                .iter()
                .any(|n| n.codes.iter().any(|f| filter_matches(f, c)))
        };
        if !original.iter().any(|c| matches(&c))
            && mapped.iter().any(|c| matches(&c))
            && let Some(first) = original.first()
        {
            coverage.through_map.push(format!(
                "{} {}|{}",
                section_name(section),
                bounded(system_label(&first.system)),
                bounded(&first.code)
            ));
        }
    }
}

/// A code system as coverage names it: the short name, and for the systems HL7 names under
/// `http://hl7.org/fhir/sid/` (ICD-10, ICD-10-CM, NDC, ...) the name after that prefix.
fn system_label(system: &CodeSystem) -> &str {
    let name = system.short_name();
    name.strip_prefix("http://hl7.org/fhir/sid/")
        .unwrap_or(name)
}

/// A code or system URI from the export, cut to a length that keeps keys readable.
fn bounded(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    text.chars().take(MAX_CHARS).collect()
}

/// An item of a record section: its code, and how many days ago it last mattered for a
/// look-back window (`None`: still current, always inside any window).
trait SectionItem: Clone {
    fn codings(&self) -> &[Coding];
    fn with_codings(&self, codings: Vec<Coding>) -> Self;
    fn last_relevant_days_ago(&self) -> Option<u32>;
}

impl SectionItem for Condition {
    fn codings(&self) -> &[Coding] {
        &self.code
    }
    fn with_codings(&self, code: Vec<Coding>) -> Self {
        Condition { code, ..*self }
    }
    fn last_relevant_days_ago(&self) -> Option<u32> {
        self.abated_days_ago
    }
}

impl SectionItem for Observation {
    fn codings(&self) -> &[Coding] {
        &self.code
    }
    fn with_codings(&self, code: Vec<Coding>) -> Self {
        Observation {
            code,
            value: self.value.clone(),
            components: self.components.clone(),
            ..*self
        }
    }
    fn last_relevant_days_ago(&self) -> Option<u32> {
        Some(self.effective_days_ago)
    }
}

impl SectionItem for Medication {
    fn codings(&self) -> &[Coding] {
        &self.code
    }
    fn with_codings(&self, code: Vec<Coding>) -> Self {
        Medication {
            code,
            daily_dose: self.daily_dose.clone(),
            ..*self
        }
    }
    fn last_relevant_days_ago(&self) -> Option<u32> {
        use crate::wit::MedicationStatus as S;
        match self.status {
            S::Active | S::OnHold | S::Draft => None,
            // When it ended is not in the record; the start is the latest date known.
            S::Completed | S::Stopped | S::Unknown => self.started_days_ago,
        }
    }
}

impl SectionItem for Allergy {
    fn codings(&self) -> &[Coding] {
        &self.code
    }
    fn with_codings(&self, code: Vec<Coding>) -> Self {
        Allergy { code, ..*self }
    }
    fn last_relevant_days_ago(&self) -> Option<u32> {
        None
    }
}

fn filter_matches(filter: &CodeFilter, coding: &Coding) -> bool {
    filter.system == coding.system && coding.code.starts_with(&filter.prefix)
}

fn within_look_back(need: &DataNeed, days_ago: Option<u32>) -> bool {
    match (need.look_back_days, days_ago) {
        (Some(window), Some(days)) => days <= window,
        _ => true,
    }
}

fn select<T: SectionItem>(items: &[T], needs: &[DataNeed], section: Section) -> Vec<T> {
    let needs: Vec<&DataNeed> = needs.iter().filter(|n| n.section == section).collect();
    if needs.is_empty() {
        return Vec::new();
    }
    let mut selected = Vec::new();
    for item in items {
        let days = item.last_relevant_days_ago();
        let passing: Vec<&DataNeed> = needs
            .iter()
            .copied()
            .filter(|need| within_look_back(need, days))
            .collect();
        if passing.iter().any(|need| need.codes.is_empty()) {
            selected.push(item.clone());
            continue;
        }
        let kept: Vec<Coding> = item
            .codings()
            .iter()
            .filter(|coding| {
                passing
                    .iter()
                    .any(|need| need.codes.iter().any(|f| filter_matches(f, coding)))
            })
            .cloned()
            .collect();
        if !kept.is_empty() {
            selected.push(item.with_codings(kept));
        }
    }
    selected
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wit::{
        ClinicalStatus, CodeSystem, MedicationStatus, ObservationCategory, ObservationValue,
        Origin, Quantity, Sex,
    };

    fn coding(system: CodeSystem, code: &str) -> Coding {
        Coding {
            system,
            code: code.into(),
        }
    }

    fn need(section: Section, filters: &[(CodeSystem, &str)], look_back: Option<u32>) -> DataNeed {
        DataNeed {
            section,
            codes: filters
                .iter()
                .map(|(system, prefix)| CodeFilter {
                    system: system.clone(),
                    prefix: (*prefix).into(),
                })
                .collect(),
            look_back_days: look_back,
        }
    }

    fn patient() -> Patient {
        let egfr = |days, value| Observation {
            code: vec![
                coding(CodeSystem::Loinc, "62238-1"),
                coding(CodeSystem::NhgTabel45, "3583"),
            ],
            category: ObservationCategory::Laboratory,
            origin: Origin::Clinical,
            effective_days_ago: days,
            value: Some(ObservationValue::Quantity(Quantity {
                value,
                unit: "mL/min/{1.73_m2}".into(),
            })),
            components: vec![],
        };
        Patient {
            age_years: 70,
            sex: Sex::Female,
            conditions: vec![
                Condition {
                    code: vec![
                        coding(CodeSystem::Icpc, "T90.02"),
                        coding(CodeSystem::SnomedCt, "44054006"),
                    ],
                    status: ClinicalStatus::Active,
                    onset_days_ago: Some(4000),
                    abated_days_ago: None,
                },
                Condition {
                    code: vec![coding(CodeSystem::Icpc, "R96")],
                    status: ClinicalStatus::Active,
                    onset_days_ago: Some(100),
                    abated_days_ago: None,
                },
            ],
            observations: vec![egfr(20, 42.0), egfr(500, 55.0)],
            medications: vec![Medication {
                code: vec![coding(CodeSystem::Atc, "A10BA02")],
                status: MedicationStatus::Active,
                started_days_ago: Some(900),
                daily_dose: None,
            }],
            allergies: vec![],
        }
    }

    #[test]
    fn undeclared_sections_are_empty() {
        let needs = [need(
            Section::Medications,
            &[(CodeSystem::Atc, "A10BA")],
            None,
        )];
        let minimised = minimise(&patient(), &needs);
        assert!(minimised.conditions.is_empty());
        assert!(minimised.observations.is_empty());
        assert_eq!(minimised.medications.len(), 1);
        assert_eq!((minimised.age_years, minimised.sex), (70, Sex::Female));
    }

    #[test]
    fn only_matching_items_and_codings_cross() {
        let needs = [need(
            Section::Conditions,
            &[(CodeSystem::Icpc, "T90")],
            None,
        )];
        let minimised = minimise(&patient(), &needs);
        assert_eq!(minimised.conditions.len(), 1);
        // The SNOMED counterpart was not asked for, so it stays behind.
        assert_eq!(
            minimised.conditions[0].code,
            vec![coding(CodeSystem::Icpc, "T90.02")]
        );
    }

    #[test]
    fn look_back_drops_old_observations() {
        let needs = [need(
            Section::Observations,
            &[(CodeSystem::NhgTabel45, "3583")],
            Some(365),
        )];
        let minimised = minimise(&patient(), &needs);
        assert_eq!(minimised.observations.len(), 1);
        assert_eq!(minimised.observations[0].effective_days_ago, 20);
        assert_eq!(
            minimised.observations[0].code,
            vec![coding(CodeSystem::NhgTabel45, "3583")]
        );
    }

    #[test]
    fn an_empty_filter_list_asks_for_the_whole_section() {
        let needs = [need(Section::Conditions, &[], None)];
        assert_eq!(
            minimise(&patient(), &needs).conditions,
            patient().conditions
        );
    }

    #[test]
    fn active_items_pass_any_look_back() {
        let needs = [need(
            Section::Medications,
            &[(CodeSystem::Atc, "A10")],
            Some(30),
        )];
        assert_eq!(minimise(&patient(), &needs).medications.len(), 1);
    }

    fn record(conditions: Vec<(Vec<Coding>, usize)>, withheld: Vec<WithheldValue>) -> Record {
        let (conditions, written): (Vec<Condition>, Vec<usize>) = conditions
            .into_iter()
            .map(|(code, written)| {
                let condition = Condition {
                    code,
                    status: ClinicalStatus::Active,
                    onset_days_ago: Some(100),
                    abated_days_ago: None,
                };
                (condition, written)
            })
            .unzip();
        let mut patient = patient();
        patient.conditions = conditions;
        Record {
            key: "k".into(),
            source: SourceLocation {
                file: "r.json".into(),
                position: None,
            },
            source_codings: SourceCodings {
                conditions: written,
                observations: vec![1; patient.observations.len()],
                medications: vec![1; patient.medications.len()],
                allergies: Vec::new(),
            },
            patient,
            coding: CodingOrigin::None,
            withheld,
        }
    }

    #[test]
    fn coverage_names_what_no_declared_system_reaches_and_what_only_a_map_did() {
        let icd10cm = CodeSystem::Other("http://hl7.org/fhir/sid/icd-10-cm".into());
        let r = record(
            vec![
                // SNOMED as written, ICPC added by a map.
                (
                    vec![
                        coding(CodeSystem::SnomedCt, "49436004"),
                        coding(CodeSystem::Icpc, "K78"),
                    ],
                    1,
                ),
                (vec![coding(icd10cm.clone(), "I48.91")], 1),
                (vec![coding(CodeSystem::Icpc, "K78")], 1),
                // Declared system, another code: reachable, just not asked for.
                (vec![coding(CodeSystem::Icpc, "R96")], 1),
            ],
            Vec::new(),
        );
        let needs = [need(
            Section::Conditions,
            &[(CodeSystem::Icpc, "K78")],
            None,
        )];
        let c = r.coverage(&needs);
        assert_eq!(c.unreachable, ["conditions coded in icd-10-cm, not icpc"]);
        assert_eq!(c.through_map, ["conditions snomed-ct|49436004"]);
        // A section asked for whole reaches every item; an undeclared one is not looked at.
        let whole = [need(Section::Conditions, &[], None)];
        assert_eq!(r.coverage(&whole), Coverage::default());
        let other = [need(
            Section::Medications,
            &[(CodeSystem::Atc, "A10")],
            None,
        )];
        assert_eq!(r.coverage(&other), Coverage::default());
        // An active condition reaches a plugin whatever its look-back, so it counts there too.
        let recent = [need(
            Section::Conditions,
            &[(CodeSystem::Icpc, "K78")],
            Some(30),
        )];
        assert_eq!(r.coverage(&recent).unreachable, c.unreachable);
    }

    #[test]
    fn coverage_counts_only_the_withheld_values_a_plugin_would_have_been_given() {
        let egfr = patient().observations[0].clone();
        let withheld = WithheldValue {
            observation: egfr,
            reason: Withheld::Implausible(super::super::units::Analyte::Egfr, -5.0),
            location: SourceLocation {
                file: "r.json".into(),
                position: Some(Position::Entry(3)),
            },
        };
        let r = record(Vec::new(), vec![withheld]);
        let reads_egfr = [need(
            Section::Observations,
            &[(CodeSystem::Loinc, "62238-1")],
            Some(365),
        )];
        assert_eq!(
            r.coverage(&reads_egfr).withheld,
            [(
                "egfr: implausible value".to_owned(),
                "r.json (Bundle.entry[3]): egfr: implausible value -5 mL/min/{1.73_m2} (plausible: 1 to 250)".to_owned()
            )]
        );
        let reads_hba1c = [need(
            Section::Observations,
            &[(CodeSystem::Loinc, "4548-4")],
            None,
        )];
        assert!(r.coverage(&reads_hba1c).withheld.is_empty());
    }
}
