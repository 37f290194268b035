//! Unit normalisation for the quantities plugins compare against thresholds.
//!
//! A plugin compares an HbA1c with 53 or an eGFR with 30 in the unit its guideline uses; a US
//! export says 7.0 % and 1.2 mg/dL where a Dutch one says 53 mmol/mol and 106 umol/L. At ingest
//! the host identifies the analyte from the observation's codes and converts its value to one
//! **canonical unit** per analyte, the UCUM code that Dutch records (and the synthetic
//! generator's Dutch patients) already use, so Dutch data passes through unchanged.
//!
//! Run it **after** [`crate::ingest::terminology::Terminology::translate`]: the analyte is recognised by
//! LOINC and NHG Tabel 45 codes, and a mapped code can be what names it.
//!
//! # Canonical units and conversions
//!
//! | analyte (stats name) | codes | canonical | converted from |
//! |---|---|---|---|
//! | HbA1c (`hba1c`) | LOINC 4548-4, 17856-6, 59261-8; NHG 2816, 3266 | `mmol/mol` | `%`: 10.929 × (% − 2.15) |
//! | total cholesterol (`cholesterol`) | LOINC 2093-3, 14647-2 | `mmol/L` | `mg/dL`: ÷ 38.67 |
//! | LDL cholesterol (`ldl`) | LOINC 2089-1, 13457-7, 18262-6, 22748-8; NHG 542 | `mmol/L` | `mg/dL`: ÷ 38.67 |
//! | HDL cholesterol (`hdl`) | LOINC 2085-9, 14646-4 | `mmol/L` | `mg/dL`: ÷ 38.67 |
//! | creatinine (`creatinine`) | LOINC 2160-0, 38483-4, 14682-9 | `umol/L` | `mg/dL`: × 88.4 |
//! | glucose (`glucose`) | LOINC 2345-7, 2339-0, 1558-6, 14749-6, 15074-8 | `mmol/L` | `mg/dL`: ÷ 18.016 |
//! | potassium (`potassium`) | LOINC 2823-3, 6298-4 | `mmol/L` | `mEq/L`: × 1 |
//! | eGFR (`egfr`) | LOINC: see [eGFR codes](#egfr-codes); NHG 3583 | `mL/min/{1.73_m2}` | `mL/s/{1.73_m2}`: × 60 |
//! | blood pressure (`bp`) | LOINC 85354-9, 55284-4, 8480-6, 8462-4; NHG 1740 | `mm[Hg]` | spelling only |
//!
//! # eGFR codes
//!
//! Every LOINC code of a glomerular filtration rate estimated per 1.73 m² from serum or plasma
//! (`GFR/1.73 sq M.predicted [Volume Rate/Area]`), whatever the equation: the guidelines the
//! sample plugins follow state their eGFR thresholds for an eGFR, not for one equation (KDIGO
//! 2012 and 2024 stage CKD by any of them, the NHG and KNMP advice is CKD-EPI's but no
//! different for MDRD values, the EMA SmPC says eGFR). Names as LOINC gives them; the sample
//! plugins that read an eGFR declare exactly this list ([`EGFR_LOINC`]).
//!
//! | LOINC | equation (specimen) |
//! |---|---|
//! | 33914-3 | MDRD (serum or plasma); what Synthea writes |
//! | 77147-7 | MDRD (serum, plasma or blood) |
//! | 48642-3 | MDRD, among non-Black patients |
//! | 48643-1 | MDRD, among Black patients |
//! | 50044-7 | MDRD, among females |
//! | 70969-1 | MDRD, among males |
//! | 62238-1 | CKD-EPI creatinine (2009; LOINC does not say the year) |
//! | 88294-4 | CKD-EPI creatinine 2009, among non-Black patients |
//! | 88293-6 | CKD-EPI creatinine 2009, among Black patients |
//! | 98979-8 | CKD-EPI creatinine 2021 (race-free) |
//! | 94677-2 | CKD-EPI creatinine and cystatin C (2012) |
//! | 98980-6 | CKD-EPI creatinine and cystatin C 2021 |
//! | 50210-4 | cystatin C-based (equation not stated) |
//! | 69405-9 | equation not stated |
//!
//! Not eGFR per 1.73 m² of an adult, so not listed (an observation under these codes passes
//! through untouched, and no sample plugin declares them): 50384-7 (bedside Schwartz, for
//! children), 35591-7 (Cockcroft-Gault creatinine clearance, mL/min, not indexed to body
//! surface) and measured creatinine clearances. Race-specific codes (Black / non-Black) come in
//! pairs for one sample; a plugin must not take the higher of the two.
//!
//! HbA1c uses 10.929, the IFCC–NGSP master equation (NGSP % = 0.0915 × IFCC + 2.15, so
//! IFCC = (% − 2.15) / 0.0915 = 10.929 × (% − 2.15)). `docs/CLINICAL_REFERENCE.md` writes 10.93, the
//! same coefficient rounded; the two differ by less than 0.02 mmol/mol over 4–15 %, below the
//! rounding of the result.
//!
//! Converted values keep one decimal more than labs report (mmol/mol and umol/L: 0.1; mmol/L:
//! 0.01): the conversion adds no false precision and hides floating-point noise, and no
//! threshold moves. Values that only change spelling are not touched.
//!
//! # Accepted spellings
//!
//! Units are matched by UCUM code, tolerating the non-UCUM spellings exports use: before
//! comparing, case is ignored, `µ` (micro sign) and `μ` (Greek mu) read as `u`, `²` as `2`, a
//! decimal comma as a point, and spaces and the UCUM decorations `[ ] { } _ ^` are dropped.
//!
//! | unit | accepted, for example |
//! |---|---|
//! | `%` | `%` |
//! | `mmol/mol` | `mmol/mol` |
//! | `mg/dL` | `mg/dL`, `mg/dl`, `MG/DL`, `mg/100mL` |
//! | `mmol/L` | `mmol/L`, `mmol/l` |
//! | `umol/L` | `umol/L`, `µmol/L`, `μmol/L`, `micromol/L` |
//! | `mEq/L` | `mEq/L`, `meq/l` |
//! | `mm[Hg]` | `mm[Hg]`, `mmHg`, `mm Hg` |
//! | `mL/min/{1.73_m2}` | `mL/min/{1.73_m2}`, `mL/min/1.73m2`, `ml/min/1,73m²`, `mL/min/1.73 m^2` |
//! | `mL/s/{1.73_m2}` | `mL/s/{1.73_m2}`, `mL/s/1.73m2`, `ml/s/1,73m²` (Swedish and some Nordic labs) |
//! | `g`, `mg`, `ug` (doses) | `g`, `gram`; `mg`, `MG`, `milligram`; `ug`, `mcg`, `µg`, `microgram` |
//!
//! # The contract: a value reaches a plugin in its analyte's canonical unit, or not at all
//!
//! A plugin compares numbers; a number in the wrong unit is a wrong number (an eGFR of 1 in
//! `mL/s` reads as end-stage kidney failure in `mL/min`). So for every analyte above, a value
//! is **withheld** (it never reaches a plugin as that analyte's value) when
//! - it has no unit, or a unit livelab cannot convert to the canonical one (`mL/min` is not
//!   `mL/min/1.73 m²`: an absolute clearance is not indexed to body surface);
//! - its codes name two analytes (`ambiguous analyte`), so neither unit nor value can be trusted;
//! - converted, it lies outside the analyte's **plausibility range** below: not a reference
//!   range, but the values a living patient's measurement can take, so that only data errors
//!   (a sign lost, a unit mislabelled, a wrong field) are caught.
//!
//! An observation whose own value is withheld is left out of the record; a withheld component
//! (a blood-pressure panel's systolic, say) is left out of its observation. Each is counted
//! by analyte and reason in `IngestStats::withheld`, with the first place it was seen (file and
//! entry or line), and kept beside the record ([`crate::ingest::record::Record::withheld`]) so
//! that a run can say, per plugin, how many values of what it reads were withheld.
//!
//! | analyte | plausible (canonical unit) | why these bounds |
//! |---|---|---|
//! | HbA1c | 10–200 mmol/mol (≈ 3–20 %) | the measuring range of HbA1c assays (IFCC network analysers report about 20–195 mmol/mol); below 10 is not a glycated fraction a living red cell carries |
//! | total cholesterol | 0.5–30 mmol/L | homozygous familial hypercholesterolaemia reaches about 25 mmol/L; below 0.5 only in abetalipoproteinaemia case reports |
//! | LDL cholesterol | 0.1–25 mmol/L | as total cholesterol, of which LDL is a part (and PCSK9 inhibitors can bring LDL near 0.2) |
//! | HDL cholesterol | 0.05–6 mmol/L | Tangier disease is near zero; CETP deficiency reaches about 5 mmol/L |
//! | creatinine | 10–3,000 umol/L | untreated end-stage kidney failure and rhabdomyolysis reach about 2,000; below 10 is not measurable in adults |
//! | glucose | 0.5–150 mmol/L | hyperosmolar states have been reported above 100 mmol/L; below 0.5 is below assays' measuring range |
//! | potassium | 1.0–12.0 mmol/L | the extremes reported in survivors are about 1.1 and 10 mmol/L (haemolysed samples read higher) |
//! | eGFR | 1–250 mL/min/1.73 m² | the CKD-EPI and MDRD equations give about 2–160 over adult creatinine values; hyperfiltration rarely exceeds 180; an eGFR is never zero or negative |
//! | blood pressure | 20–350 mm[Hg] | systolic values up to 370 mmHg were recorded during heavy lifting (Narloch & Brandstater 1995); a diastolic below 20 is not a living patient's |
//!
//! The bounds are livelab's, chosen wide on purpose: a value inside them may still be wrong,
//! but a value outside cannot be right, and a plugin's threshold must not fire on it.
//!
//! # What is counted
//!
//! Every conversion, by analyte and the unit as given: `"hba1c: % -> mmol/mol"`,
//! `"bp: mmHg -> mm[Hg]"`, `"dose: g -> mg"` (in [`UnitStats`]). Every withheld value, by
//! analyte and reason ([`Withheld`]'s text: `"egfr: unit mL/min cannot be converted to
//! mL/min/{1.73_m2}"`, `"egfr: no unit"`, `"egfr: implausible value"`,
//! `"ambiguous analyte: hba1c, glucose"`).
//! A quantity of an analyte livelab does not know is untouched and not counted.

use std::collections::BTreeMap;

use crate::wit::{CodeSystem, Coding, Quantity};

/// Counts by what happened, e.g. `"hba1c: % -> mmol/mol"` or `"hba1c: unknown unit mg"`.
pub type UnitStats = BTreeMap<String, u64>;

/// mmol/mol per (% − 2.15) of HbA1c: the IFCC–NGSP master equation (1 / 0.0915).
pub const HBA1C_MMOL_PER_MOL_PER_PERCENT: f64 = 10.929;
/// The NGSP % at IFCC 0 mmol/mol in the master equation.
pub const HBA1C_PERCENT_OFFSET: f64 = 2.15;
/// mg/dL per mmol/L of cholesterol (molar mass 386.65 g/mol), total, LDL and HDL alike.
pub const CHOLESTEROL_MG_DL_PER_MMOL_L: f64 = 38.67;
/// umol/L per mg/dL of creatinine (molar mass 113.12 g/mol).
pub const CREATININE_UMOL_L_PER_MG_DL: f64 = 88.4;
/// mg/dL per mmol/L of glucose (molar mass 180.16 g/mol).
pub const GLUCOSE_MG_DL_PER_MMOL_L: f64 = 18.016;

/// The LOINC codes of an eGFR per 1.73 m², every equation (see [eGFR codes](#egfr-codes)).
pub const EGFR_LOINC: [&str; 14] = [
    "33914-3", "77147-7", "48642-3", "48643-1", "50044-7", "70969-1", "62238-1", "88294-4",
    "88293-6", "98979-8", "94677-2", "98980-6", "50210-4", "69405-9",
];

/// The analytes whose units livelab normalises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Analyte {
    Hba1c,
    TotalCholesterol,
    LdlCholesterol,
    HdlCholesterol,
    Creatinine,
    Glucose,
    Potassium,
    Egfr,
    BloodPressure,
}

impl Analyte {
    /// The name used in [`UnitStats`] keys.
    pub fn name(self) -> &'static str {
        match self {
            Analyte::Hba1c => "hba1c",
            Analyte::TotalCholesterol => "cholesterol",
            Analyte::LdlCholesterol => "ldl",
            Analyte::HdlCholesterol => "hdl",
            Analyte::Creatinine => "creatinine",
            Analyte::Glucose => "glucose",
            Analyte::Potassium => "potassium",
            Analyte::Egfr => "egfr",
            Analyte::BloodPressure => "bp",
        }
    }

    /// The UCUM code values of this analyte are converted to; what Dutch records and the
    /// sample plugins use.
    pub fn canonical_unit(self) -> &'static str {
        self.canonical().code()
    }

    /// The values, in the canonical unit, that a living patient's measurement can take (see
    /// the module's table for the sources).
    pub fn plausible(self) -> std::ops::RangeInclusive<f64> {
        match self {
            Analyte::Hba1c => 10.0..=200.0,
            Analyte::TotalCholesterol => 0.5..=30.0,
            Analyte::LdlCholesterol => 0.1..=25.0,
            Analyte::HdlCholesterol => 0.05..=6.0,
            Analyte::Creatinine => 10.0..=3000.0,
            Analyte::Glucose => 0.5..=150.0,
            Analyte::Potassium => 1.0..=12.0,
            Analyte::Egfr => 1.0..=250.0,
            Analyte::BloodPressure => 20.0..=350.0,
        }
    }

    fn canonical(self) -> Unit {
        match self {
            Analyte::Hba1c => Unit::MmolPerMol,
            Analyte::TotalCholesterol
            | Analyte::LdlCholesterol
            | Analyte::HdlCholesterol
            | Analyte::Glucose
            | Analyte::Potassium => Unit::MmolPerL,
            Analyte::Creatinine => Unit::UmolPerL,
            Analyte::Egfr => Unit::MlPerMinPer173M2,
            Analyte::BloodPressure => Unit::MmHg,
        }
    }

    /// The analyte one coding names, if livelab knows it (LOINC and NHG Tabel 45 only).
    fn of(coding: &Coding) -> Option<Analyte> {
        use Analyte::*;
        match coding.system {
            CodeSystem::Loinc => Some(match coding.code.as_str() {
                "4548-4" | "17856-6" | "59261-8" => Hba1c,
                "2093-3" | "14647-2" => TotalCholesterol,
                "2089-1" | "13457-7" | "18262-6" | "22748-8" => LdlCholesterol,
                "2085-9" | "14646-4" => HdlCholesterol,
                "2160-0" | "38483-4" | "14682-9" => Creatinine,
                "2345-7" | "2339-0" | "1558-6" | "14749-6" | "15074-8" => Glucose,
                "2823-3" | "6298-4" => Potassium,
                code if EGFR_LOINC.contains(&code) => Egfr,
                "85354-9" | "55284-4" | "8480-6" | "8462-4" => BloodPressure,
                _ => return None,
            }),
            // The NHG codes of docs/CLINICAL_REFERENCE.md. Which of 2816 and 3266 is the IFCC
            // HbA1c is unverified; both are HbA1c, and the unit decides any conversion.
            CodeSystem::NhgTabel45 => Some(match coding.code.as_str() {
                "2816" | "3266" => Hba1c,
                "542" => LdlCholesterol,
                "3583" => Egfr,
                "1740" => BloodPressure,
                _ => return None,
            }),
            _ => None,
        }
    }
}

/// What a concept's codings say about the analyte.
enum Identified {
    Unknown,
    One(Analyte),
    /// Two codings name different analytes: a data error, not ours to resolve.
    Conflict(Analyte, Analyte),
}

fn identify(code: &[Coding]) -> Identified {
    let mut found = None;
    for analyte in code.iter().filter_map(Analyte::of) {
        match found {
            None => found = Some(analyte),
            Some(first) if first != analyte => return Identified::Conflict(first, analyte),
            Some(_) => {}
        }
    }
    found.map_or(Identified::Unknown, Identified::One)
}

/// The analyte a concept names, if livelab knows it and the codings agree.
pub fn analyte(code: &[Coding]) -> Option<Analyte> {
    match identify(code) {
        Identified::One(analyte) => Some(analyte),
        Identified::Unknown | Identified::Conflict(..) => None,
    }
}

/// The units livelab recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Percent,
    MmolPerMol,
    MgPerDl,
    MmolPerL,
    UmolPerL,
    MeqPerL,
    MmHg,
    MlPerMinPer173M2,
    MlPerSecPer173M2,
    Gram,
    Milligram,
    Microgram,
}

/// Accepted spellings, in the folded form [`fold`] produces.
const SPELLINGS: &[(&str, Unit)] = &[
    ("%", Unit::Percent),
    ("mmol/mol", Unit::MmolPerMol),
    ("mg/dl", Unit::MgPerDl),
    ("mg/100ml", Unit::MgPerDl),
    ("mmol/l", Unit::MmolPerL),
    ("umol/l", Unit::UmolPerL),
    ("micromol/l", Unit::UmolPerL),
    ("meq/l", Unit::MeqPerL),
    ("mmhg", Unit::MmHg),
    ("ml/min/1.73m2", Unit::MlPerMinPer173M2),
    ("ml/s/1.73m2", Unit::MlPerSecPer173M2),
    ("g", Unit::Gram),
    ("gram", Unit::Gram),
    ("mg", Unit::Milligram),
    ("milligram", Unit::Milligram),
    ("ug", Unit::Microgram),
    ("mcg", Unit::Microgram),
    ("microgram", Unit::Microgram),
];

impl Unit {
    /// The UCUM code.
    fn code(self) -> &'static str {
        match self {
            Unit::Percent => "%",
            Unit::MmolPerMol => "mmol/mol",
            Unit::MgPerDl => "mg/dL",
            Unit::MmolPerL => "mmol/L",
            Unit::UmolPerL => "umol/L",
            Unit::MeqPerL => "meq/L",
            Unit::MmHg => "mm[Hg]",
            Unit::MlPerMinPer173M2 => "mL/min/{1.73_m2}",
            Unit::MlPerSecPer173M2 => "mL/s/{1.73_m2}",
            Unit::Gram => "g",
            Unit::Milligram => "mg",
            Unit::Microgram => "ug",
        }
    }

    /// The unit `spelled` names, tolerating the spellings of the module table.
    fn parse(spelled: &str) -> Option<Unit> {
        SPELLINGS
            .iter()
            .find(|(folded, _)| fold(spelled).eq(folded.chars()))
            .map(|(_, unit)| *unit)
    }
}

/// `unit` with the differences that do not change its meaning taken out (see the module
/// table), without allocating.
fn fold(unit: &str) -> impl Iterator<Item = char> + '_ {
    unit.chars()
        .filter(|c| !matches!(c, ' ' | '[' | ']' | '{' | '}' | '_' | '^'))
        .map(|c| match c {
            'µ' | 'μ' => 'u',
            '²' => '2',
            ',' => '.',
            c => c.to_ascii_lowercase(),
        })
}

/// `value` rounded to `decimals` places.
fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// `value` in `from` converted to the canonical unit of `analyte`, or `None` when livelab has
/// no conversion for that unit.
fn to_canonical(analyte: Analyte, from: Unit, value: f64) -> Option<f64> {
    use Analyte::*;
    if from == analyte.canonical() {
        return Some(value);
    }
    Some(match (analyte, from) {
        (Hba1c, Unit::Percent) => round_to(
            HBA1C_MMOL_PER_MOL_PER_PERCENT * (value - HBA1C_PERCENT_OFFSET),
            1,
        ),
        (TotalCholesterol | LdlCholesterol | HdlCholesterol, Unit::MgPerDl) => {
            round_to(value / CHOLESTEROL_MG_DL_PER_MMOL_L, 2)
        }
        (Creatinine, Unit::MgPerDl) => round_to(value * CREATININE_UMOL_L_PER_MG_DL, 1),
        (Glucose, Unit::MgPerDl) => round_to(value / GLUCOSE_MG_DL_PER_MMOL_L, 2),
        // Potassium is monovalent: one milliequivalent is one millimole.
        (Potassium, Unit::MeqPerL) => value,
        // The same clearance per second rather than per minute.
        (Egfr, Unit::MlPerSecPer173M2) => round_to(value * 60.0, 1),
        _ => return None,
    })
}

/// Adds one to the count of `key`.
fn count(stats: &mut UnitStats, key: String) {
    *stats.entry(key).or_default() += 1;
}

/// A unit as given, for a stats key: trimmed, at most 32 characters.
fn shown(unit: &str) -> String {
    unit.trim().chars().take(32).collect()
}

/// Why a quantity never reached a plugin as its analyte's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Withheld {
    /// The quantity has no unit.
    NoUnit(Analyte),
    /// A unit livelab does not convert to the analyte's canonical one (as given, shortened).
    Unconvertible(Analyte, String),
    /// In the canonical unit, outside [`Analyte::plausible`] (the converted value).
    Implausible(Analyte, f64),
    /// The codes name two different analytes.
    Ambiguous(Analyte, Analyte),
}

impl Withheld {
    /// The reason without the value: the key values are counted under.
    pub fn reason(&self) -> String {
        match self {
            Withheld::NoUnit(a) => format!("{}: no unit", a.name()),
            Withheld::Unconvertible(a, unit) => format!(
                "{}: unit {unit} cannot be converted to {}",
                a.name(),
                a.canonical_unit()
            ),
            Withheld::Implausible(a, _) => format!("{}: implausible value", a.name()),
            Withheld::Ambiguous(a, b) => format!("ambiguous analyte: {}, {}", a.name(), b.name()),
        }
    }
}

impl std::fmt::Display for Withheld {
    /// The reason with the value where it explains it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Withheld::Implausible(a, value) => {
                let range = a.plausible();
                write!(
                    f,
                    "{}: implausible value {value} {} (plausible: {} to {})",
                    a.name(),
                    a.canonical_unit(),
                    range.start(),
                    range.end()
                )
            }
            other => f.write_str(&other.reason()),
        }
    }
}

/// Converts `quantity` to the canonical unit of the analyte `code` names (if it names one
/// livelab knows and the result is plausible), or says why it must be withheld. A quantity
/// of an analyte livelab does not know is untouched.
pub fn normalise_observation(
    code: &[Coding],
    quantity: &mut Quantity,
    stats: &mut UnitStats,
) -> Result<(), Withheld> {
    let analyte = match identify(code) {
        Identified::Unknown => return Ok(()),
        Identified::One(analyte) => analyte,
        Identified::Conflict(a, b) => return Err(Withheld::Ambiguous(a, b)),
    };
    let canonical = analyte.canonical_unit();
    if quantity.unit != canonical {
        if quantity.unit.trim().is_empty() {
            return Err(Withheld::NoUnit(analyte));
        }
        let value = Unit::parse(&quantity.unit)
            .and_then(|u| to_canonical(analyte, u, quantity.value))
            .ok_or_else(|| Withheld::Unconvertible(analyte, shown(&quantity.unit)))?;
        count(
            stats,
            format!(
                "{}: {} -> {canonical}",
                analyte.name(),
                shown(&quantity.unit)
            ),
        );
        quantity.value = value;
        canonical.clone_into(&mut quantity.unit);
    }
    // NaN is outside every range.
    if !analyte.plausible().contains(&quantity.value) {
        return Err(Withheld::Implausible(analyte, quantity.value));
    }
    Ok(())
}

/// Converts a daily dose to milligrams when it is a mass in another unit (g, mcg, ...).
/// Other units (tablets, mL, IU, ...) are untouched and not counted: the plugin decides.
pub fn normalise_dose(quantity: &mut Quantity, stats: &mut UnitStats) {
    const MG: &str = "mg";
    if quantity.unit == MG {
        return;
    }
    let factor = match Unit::parse(&quantity.unit) {
        Some(Unit::Gram) => 1000.0,
        Some(Unit::Milligram) => 1.0,
        Some(Unit::Microgram) => 0.001,
        _ => return,
    };
    count(stats, format!("dose: {} -> {MG}", shown(&quantity.unit)));
    // Six decimals keep a microgram and drop floating-point noise (0.85 g → 850, not
    // 850.0000000000001), as the daily-dose arithmetic of ingest does.
    quantity.value = round_to(quantity.value * factor, 6);
    MG.clone_into(&mut quantity.unit);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loinc(code: &str) -> Vec<Coding> {
        vec![Coding {
            system: CodeSystem::Loinc,
            code: code.into(),
        }]
    }

    fn nhg(code: &str) -> Vec<Coding> {
        vec![Coding {
            system: CodeSystem::NhgTabel45,
            code: code.into(),
        }]
    }

    /// The normalised (value, unit) and the stats of one quantity that must pass.
    fn normalised(code: &[Coding], value: f64, unit: &str) -> (f64, String, UnitStats) {
        let mut q = Quantity {
            value,
            unit: unit.into(),
        };
        let mut stats = UnitStats::new();
        if let Err(withheld) = normalise_observation(code, &mut q, &mut stats) {
            panic!("{value} {unit:?} of {code:?} was withheld: {withheld}");
        }
        (q.value, q.unit, stats)
    }

    /// Why a quantity that must not pass was withheld.
    fn withheld(code: &[Coding], value: f64, unit: &str) -> Withheld {
        let mut q = Quantity {
            value,
            unit: unit.into(),
        };
        match normalise_observation(code, &mut q, &mut UnitStats::new()) {
            Ok(()) => panic!(
                "{value} {unit:?} of {code:?} passed as {} {}",
                q.value, q.unit
            ),
            Err(withheld) => withheld,
        }
    }

    fn stats(entries: &[&str]) -> UnitStats {
        entries.iter().map(|k| (k.to_string(), 1)).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn hba1c_percent_to_mmol_per_mol() {
        let (v, unit, s) = normalised(&loinc("4548-4"), 6.5, "%");
        // 10.929 × 4.35 = 47.54: about 48 mmol/mol, the diabetes threshold.
        assert!(close(v, 47.5), "{v}");
        assert_eq!(v.round(), 48.0);
        assert_eq!(unit, "mmol/mol");
        assert_eq!(s, stats(&["hba1c: % -> mmol/mol"]));
        // 7.0 % is the classic 53 mmol/mol; 10.0 % is 86 mmol/mol.
        assert!(close(normalised(&loinc("4548-4"), 7.0, "%").0, 53.0));
        assert!(close(normalised(&loinc("4548-4"), 10.0, "%").0, 85.8));
        // Identified by an NHG code too (after terminology mapping).
        assert!(close(normalised(&nhg("2816"), 6.5, "%").0, 47.5));
    }

    #[test]
    fn the_rounded_reference_coefficient_gives_the_same_results() {
        // docs/CLINICAL_REFERENCE.md writes 10.93; over the clinical range the difference is below
        // the 0.1 mmol/mol the result keeps.
        for tenths in 40..=150 {
            let percent = f64::from(tenths) / 10.0;
            let ours = normalised(&loinc("4548-4"), percent, "%").0;
            let reference = 10.93 * (percent - 2.15);
            assert!(
                (ours - reference).abs() < 0.07,
                "{percent}: {ours} {reference}"
            );
        }
    }

    #[test]
    fn cholesterol_mg_dl_to_mmol_l() {
        let (v, unit, s) = normalised(&loinc("2093-3"), 193.35, "mg/dL");
        assert!(close(v, 5.0), "{v}");
        assert_eq!(unit, "mmol/L");
        assert_eq!(s, stats(&["cholesterol: mg/dL -> mmol/L"]));
        // LDL and HDL are cholesterol too: same factor.
        assert!(close(normalised(&loinc("13457-7"), 100.0, "mg/dL").0, 2.59));
        assert!(close(normalised(&nhg("542"), 116.0, "mg/dL").0, 3.0));
        assert!(close(normalised(&loinc("2085-9"), 50.0, "mg/dl").0, 1.29));
    }

    #[test]
    fn creatinine_mg_dl_to_umol_l() {
        let (v, unit, s) = normalised(&loinc("38483-4"), 1.0, "mg/dL");
        assert!(close(v, 88.4));
        assert_eq!(unit, "umol/L");
        assert_eq!(s, stats(&["creatinine: mg/dL -> umol/L"]));
        assert!(close(normalised(&loinc("2160-0"), 1.37, "mg/dL").0, 121.1));
    }

    #[test]
    fn glucose_mg_dl_to_mmol_l() {
        let (v, unit, _) = normalised(&loinc("2345-7"), 126.0, "mg/dL");
        // The diabetes fasting threshold: 126 mg/dL ≈ 7.0 mmol/L.
        assert!(close(v, 6.99), "{v}");
        assert_eq!(unit, "mmol/L");
        assert!(close(normalised(&loinc("1558-6"), 90.08, "mg/dL").0, 5.0));
    }

    #[test]
    fn potassium_meq_is_mmol() {
        let (v, unit, s) = normalised(&loinc("6298-4"), 4.2, "mEq/L");
        assert_eq!((v, unit.as_str()), (4.2, "mmol/L"));
        assert_eq!(s, stats(&["potassium: mEq/L -> mmol/L"]));
    }

    #[test]
    fn egfr_and_blood_pressure_spellings_unified() {
        for spelled in [
            "mL/min/1.73m2",
            "ml/min/1,73m²",
            "mL/min/1.73 m^2",
            "mL/min/{1.73_m2}",
        ] {
            let (v, unit, _) = normalised(&loinc("33914-3"), 42.0, spelled);
            assert_eq!((v, unit.as_str()), (42.0, "mL/min/{1.73_m2}"), "{spelled}");
        }
        let (_, _, s) = normalised(&nhg("3583"), 42.0, "ml/min/1.73m2");
        assert_eq!(s, stats(&["egfr: ml/min/1.73m2 -> mL/min/{1.73_m2}"]));
        for spelled in ["mmHg", "mm Hg", "MMHG"] {
            let (v, unit, _) = normalised(&loinc("8480-6"), 142.0, spelled);
            assert_eq!((v, unit.as_str()), (142.0, "mm[Hg]"), "{spelled}");
        }
        let (_, _, s) = normalised(&loinc("8462-4"), 90.0, "mmHg");
        assert_eq!(s, stats(&["bp: mmHg -> mm[Hg]"]));
    }

    #[test]
    fn aliases() {
        for spelled in ["mg/dl", "MG/DL", "mg/100mL", " mg/dL "] {
            let (v, unit, _) = normalised(&loinc("2093-3"), 193.35, spelled);
            assert_eq!((v, unit.as_str()), (5.0, "mmol/L"), "{spelled}");
        }
        for spelled in ["µmol/L", "μmol/L", "umol/l", "micromol/L"] {
            let (v, unit, s) = normalised(&loinc("38483-4"), 88.0, spelled);
            assert_eq!((v, unit.as_str()), (88.0, "umol/L"), "{spelled}");
            assert_eq!(s, stats(&[&format!("creatinine: {spelled} -> umol/L")]));
        }
        let (v, unit, _) = normalised(&loinc("59261-8"), 53.0, "mmol/mol");
        assert_eq!((v, unit.as_str()), (53.0, "mmol/mol"));
    }

    #[test]
    fn dutch_canonical_units_pass_unchanged_and_uncounted() {
        // What the generator emits for Dutch-coded patients, and what the plugins compare.
        let cases = [
            (loinc("59261-8"), 53.0, "mmol/mol"),
            (loinc("2093-3"), 5.2, "mmol/L"),
            (loinc("6298-4"), 4.1, "mmol/L"),
            (loinc("38483-4"), 96.0, "umol/L"),
            (loinc("62238-1"), 44.0, "mL/min/{1.73_m2}"),
            (loinc("8480-6"), 138.0, "mm[Hg]"),
        ];
        for (code, value, unit) in cases {
            let (v, u, s) = normalised(&code, value, unit);
            assert_eq!((v, u.as_str()), (value, unit));
            assert!(s.is_empty(), "{s:?}");
        }
    }

    #[test]
    fn a_unit_that_cannot_be_converted_is_withheld_never_guessed() {
        use Analyte::*;
        assert_eq!(
            withheld(&loinc("4548-4"), 6.5, "mg"),
            Withheld::Unconvertible(Hba1c, "mg".into())
        );
        // A recognised unit that does not fit the analyte is not guessed either.
        assert_eq!(
            withheld(&loinc("4548-4"), 48.0, "mg/dL"),
            Withheld::Unconvertible(Hba1c, "mg/dL".into())
        );
        // An absolute clearance is not one indexed to body surface.
        let w = withheld(&loinc("33914-3"), 60.0, "mL/min");
        assert_eq!(w, Withheld::Unconvertible(Egfr, "mL/min".into()));
        assert_eq!(
            w.reason(),
            "egfr: unit mL/min cannot be converted to mL/min/{1.73_m2}"
        );
        assert_eq!(
            withheld(&loinc("33914-3"), 60.0, " "),
            Withheld::NoUnit(Egfr)
        );
        assert_eq!(
            withheld(&nhg("3583"), 1.0, "mL/s"),
            Withheld::Unconvertible(Egfr, "mL/s".into())
        );
    }

    #[test]
    fn egfr_per_second_is_converted_per_minute() {
        for spelled in ["mL/s/{1.73_m2}", "mL/s/1.73m2", "ml/s/1,73m²"] {
            let (v, unit, s) = normalised(&loinc("62238-1"), 1.0, spelled);
            assert_eq!((v, unit.as_str()), (60.0, "mL/min/{1.73_m2}"), "{spelled}");
            assert_eq!(
                s,
                stats(&[&format!("egfr: {spelled} -> mL/min/{{1.73_m2}}")])
            );
        }
        assert!(close(
            normalised(&loinc("62238-1"), 0.75, "mL/s/1.73m2").0,
            45.0
        ));
    }

    #[test]
    fn an_implausible_value_is_withheld_after_conversion() {
        use Analyte::*;
        assert_eq!(
            withheld(&loinc("62238-1"), -5.0, "mL/min/{1.73_m2}"),
            Withheld::Implausible(Egfr, -5.0)
        );
        assert_eq!(
            withheld(&loinc("62238-1"), 0.0, "mL/min/{1.73_m2}"),
            Withheld::Implausible(Egfr, 0.0)
        );
        assert_eq!(
            withheld(&loinc("62238-1"), f64::NAN, "mL/min/{1.73_m2}").reason(),
            "egfr: implausible value"
        );
        // 25 % is 249.7 mmol/mol: outside, though the conversion worked.
        assert_eq!(
            withheld(&loinc("4548-4"), 25.0, "%"),
            Withheld::Implausible(Hba1c, 249.7)
        );
        assert_eq!(
            withheld(&loinc("8480-6"), 1400.0, "mmHg").to_string(),
            "bp: implausible value 1400 mm[Hg] (plausible: 20 to 350)"
        );
        // The edges are plausible.
        normalised(&loinc("62238-1"), 1.0, "mL/min/{1.73_m2}");
        normalised(&loinc("62238-1"), 250.0, "mL/min/{1.73_m2}");
        normalised(&loinc("6298-4"), 1.0, "mmol/L");
    }

    #[test]
    fn unknown_analyte_untouched_and_uncounted() {
        // Sodium, a PHQ-9 score, and an HbA1c LOINC code in the wrong system.
        let snomed = vec![Coding {
            system: CodeSystem::SnomedCt,
            code: "4548-4".into(),
        }];
        for (code, value, unit) in [
            (loinc("2951-2"), 140.0, "mEq/L"),
            (loinc("44261-6"), 12.0, "{score}"),
            (snomed, 6.5, "%"),
        ] {
            let (v, u, s) = normalised(&code, value, unit);
            assert_eq!((v, u.as_str()), (value, unit));
            assert!(s.is_empty(), "{s:?}");
        }
    }

    #[test]
    fn conflicting_codes_withhold_the_value() {
        let mut code = loinc("4548-4");
        code.extend(loinc("2345-7"));
        assert_eq!(
            withheld(&code, 6.5, "%"),
            Withheld::Ambiguous(Analyte::Hba1c, Analyte::Glucose)
        );
        // Two codes for the same analyte (LOINC + NHG) agree.
        let mut code = loinc("62238-1");
        code.extend(nhg("3583"));
        assert_eq!(analyte(&code), Some(Analyte::Egfr));
    }

    #[test]
    fn canonical_units_are_the_ones_plugins_and_generator_use() {
        assert_eq!(Analyte::Hba1c.canonical_unit(), "mmol/mol");
        assert_eq!(Analyte::Creatinine.canonical_unit(), "umol/L");
        assert_eq!(Analyte::TotalCholesterol.canonical_unit(), "mmol/L");
        assert_eq!(Analyte::Egfr.canonical_unit(), "mL/min/{1.73_m2}");
        assert_eq!(Analyte::BloodPressure.canonical_unit(), "mm[Hg]");
    }

    fn dose(value: f64, unit: &str) -> (f64, String, UnitStats) {
        let mut q = Quantity {
            value,
            unit: unit.into(),
        };
        let mut stats = UnitStats::new();
        normalise_dose(&mut q, &mut stats);
        (q.value, q.unit, stats)
    }

    #[test]
    fn doses_to_milligrams() {
        let (v, unit, s) = dose(0.85, "g");
        assert_eq!((v, unit.as_str()), (850.0, "mg"));
        assert_eq!(s, stats(&["dose: g -> mg"]));
        for spelled in ["ug", "mcg", "µg", "μg", "microgram"] {
            let (v, unit, s) = dose(100.0, spelled);
            assert_eq!((v, unit.as_str()), (0.1, "mg"), "{spelled}");
            assert_eq!(s, stats(&[&format!("dose: {spelled} -> mg")]));
        }
        let (v, unit, s) = dose(500.0, "MG");
        assert_eq!((v, unit.as_str()), (500.0, "mg"));
        assert_eq!(s, stats(&["dose: MG -> mg"]));
        // Already mg: nothing to count. Not a mass: untouched.
        assert!(dose(1000.0, "mg").2.is_empty());
        for unit in ["{tbl}", "mL", "[iU]", ""] {
            let (v, u, s) = dose(2.0, unit);
            assert_eq!((v, u.as_str()), (2.0, unit));
            assert!(s.is_empty());
        }
    }

    #[test]
    fn every_egfr_code_is_egfr() {
        for code in EGFR_LOINC {
            assert_eq!(analyte(&loinc(code)), Some(Analyte::Egfr), "{code}");
        }
        // Not an eGFR per 1.73 m² of an adult: untouched.
        for code in ["50384-7", "35591-7"] {
            assert_eq!(analyte(&loinc(code)), None, "{code}");
        }
    }

    /// A value reaches a plugin in its analyte's canonical unit only if the host knows the
    /// code as that analyte: a lab code a sample plugin declares that the host did not know
    /// would reach it unconverted. So every LOINC and NHG code a sample plugin's manifest
    /// declares for observations is an analyte here, except the scores and the smoking
    /// status, which have no unit to convert; and a plugin that reads an eGFR declares every
    /// eGFR code.
    #[test]
    fn every_lab_code_a_sample_plugin_declares_is_normalised() {
        const NOT_QUANTITIES: [&str; 3] = ["44249-1", "44261-6", "72166-2"];
        let plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
        let mut manifests: Vec<std::path::PathBuf> = ["", "candidates", "js", "python"]
            .iter()
            .flat_map(|dir| std::fs::read_dir(plugins.join(dir)).unwrap())
            .map(|e| e.unwrap().path().join("plugin.toml"))
            .filter(|p| p.is_file())
            .collect();
        manifests.sort();
        assert!(manifests.len() >= 9, "{manifests:?}");
        for manifest in manifests {
            let text = std::fs::read_to_string(&manifest).unwrap();
            let toml: toml::Value = toml::from_str(&text).unwrap();
            let Some(needs) = toml.get("data_needs").and_then(|n| n.as_array()) else {
                continue;
            };
            let mut egfr = Vec::new();
            for need in needs
                .iter()
                .filter(|n| n["section"].as_str() == Some("observations"))
            {
                for filter in need["codes"].as_array().unwrap() {
                    let (system, code) = filter.as_str().unwrap().split_once('|').unwrap();
                    let coding = vec![Coding {
                        system: match system {
                            "loinc" => CodeSystem::Loinc,
                            "nhg-tabel45" => CodeSystem::NhgTabel45,
                            other => panic!("{}: observations in {other}", manifest.display()),
                        },
                        code: code.into(),
                    }];
                    let known = analyte(&coding);
                    assert!(
                        known.is_some() || NOT_QUANTITIES.contains(&code),
                        "{}: {filter} is not an analyte the host normalises",
                        manifest.display()
                    );
                    if known == Some(Analyte::Egfr) && system == "loinc" {
                        egfr.push(code);
                    }
                }
            }
            if !egfr.is_empty() {
                egfr.sort_unstable();
                let mut all = EGFR_LOINC.to_vec();
                all.sort_unstable();
                assert_eq!(egfr, all, "{}: every eGFR LOINC code", manifest.display());
            }
        }
    }
}
