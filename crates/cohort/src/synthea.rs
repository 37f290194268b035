//! The `synthea` shape: each patient as a Synthea-like FHIR R4 `transaction` Bundle (every
//! entry a `POST` to its type, `urn:uuid:` references), padded with the resources a
//! decision-support plugin never needs, in the numbers and sizes Synthea writes them: a visit
//! history over the patient's life (Encounter with a Claim and an ExplanationOfBenefit each,
//! vital signs at check-ups, Procedures), Immunizations, a DiagnosticReport per lab result,
//! CarePlans with their CareTeams for chronic conditions, an ImagingStudy now and then, a
//! pharmacy Claim and EoB per medication, and one Provenance naming every resource. Synthea's
//! bundles are ~200–400 KB per patient with hundreds of resources. Measured on 200 patients
//! (seed 77): enriched mix median 390 KB and 216 resources (p10–p90 225–526 KB), realistic mix
//! median 227 KB and 126 resources (118–438 KB; children have short histories, as in Synthea).
//!
//! The padding comes from an RNG stream of its own ([`Patient::padding_seed`]): the patient's
//! own resources, and so the labels, are the same in every shape. Padding stays anonymised like
//! the rest: no names, identifiers, telecom or addresses anywhere; practitioners and the
//! organisation are references by opaque id, payers a display only.

use std::borrow::Cow;
use std::cmp::Reverse;

use jiff::civil::Date;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::codes::{self, Coding};
use crate::fhir::{
    Activity, ActivityDetail, Adjudication, Agent, CarePlanResource, CareTeamResource,
    ClaimInsurance, ClaimItem, ClaimResource, Clock, DiagnosticReportResource, Display,
    EncounterResource, EobCareTeam, EobInsurance, EobItem, ExplanationOfBenefitResource,
    ImagingInstance, ImagingSeries, ImagingStudyResource, ImmunizationResource, Money, Number,
    ObservationResource, Participant, Payment, Period, ProcedureResource, ProvenanceResource,
    RefStyle, Reference, Rendered, Resource, ResourceType, Since, TeamMember, cc, quantity,
};
use crate::measure::div_round;
use crate::patient::{CondKind, Hms, LabKind, MedForm, MedStatus, ObsKind, Patient, age_at};
use crate::scenario::uuid;

// ------------------------------------------------------------------ the padding model

#[derive(Clone, Copy, PartialEq, Eq)]
enum VisitKind {
    Wellness,
    WellChild,
    FollowUp,
    Symptom,
    Emergency,
}

impl VisitKind {
    fn class(self) -> Coding {
        match self {
            VisitKind::Emergency => codes::ENCOUNTER_EMERGENCY,
            _ => codes::ENCOUNTER_CLASS[0],
        }
    }

    fn code(self) -> &'static [Coding] {
        match self {
            VisitKind::Wellness => &codes::VISIT_WELLNESS,
            VisitKind::WellChild => &codes::VISIT_WELL_CHILD,
            VisitKind::FollowUp => &codes::VISIT_FOLLOW_UP,
            VisitKind::Symptom => &codes::VISIT_SYMPTOM,
            VisitKind::Emergency => &codes::VISIT_EMERGENCY,
        }
    }

    fn is_check_up(self) -> bool {
        matches!(self, VisitKind::Wellness | VisitKind::WellChild)
    }
}

/// One contact, billed with a Claim and adjudicated in an ExplanationOfBenefit.
struct Visit {
    uuid: String,
    claim: String,
    eob: String,
    days_ago: u32,
    start: Hms,
    minutes: u32,
    kind: VisitKind,
    cost_cents: i64,
}

#[derive(Clone, Copy)]
enum VitalKind {
    Height,
    Weight,
    Bmi,
    HeartRate,
    RespiratoryRate,
    Pain,
}

impl VitalKind {
    fn code(self) -> &'static [Coding] {
        match self {
            VitalKind::Height => &codes::BODY_HEIGHT,
            VitalKind::Weight => &codes::BODY_WEIGHT,
            VitalKind::Bmi => &codes::BMI,
            VitalKind::HeartRate => &codes::HEART_RATE,
            VitalKind::RespiratoryRate => &codes::RESPIRATORY_RATE,
            VitalKind::Pain => &codes::PAIN_SEVERITY,
        }
    }

    fn unit(self) -> &'static str {
        match self {
            VitalKind::Height => "cm",
            VitalKind::Weight => "kg",
            VitalKind::Bmi => "kg/m2",
            VitalKind::HeartRate | VitalKind::RespiratoryRate => "/min",
            VitalKind::Pain => "{score}",
        }
    }
}

/// A vital sign taken at a check-up: value in tenths.
struct Vital {
    uuid: String,
    visit: usize,
    kind: VitalKind,
    tenths: i64,
}

/// A DiagnosticReport wrapping one of the patient's lab results.
struct Report {
    uuid: String,
    observation: usize,
    code: &'static [Coding],
}

struct Shot {
    uuid: String,
    days_ago: u32,
    vaccine: &'static [Coding],
}

struct Procedure {
    uuid: String,
    visit: usize,
    code: &'static [Coding],
}

/// A CarePlan for one chronic condition, with its CareTeam.
struct Plan {
    uuid: String,
    team: String,
    condition: usize,
    code: &'static [Coding],
    activities: [&'static [Coding]; 2],
    active: bool,
}

/// An imaging study. Synthea also writes the Study Instance UID, in `identifier`: an
/// identifier key is what livelab's guard refuses, so this shape leaves it out.
struct Imaging {
    uuid: String,
    days_ago: u32,
    modality: Coding,
    body_site: Coding,
    sop_class: Coding,
    series_uid: String,
    instance_uids: Vec<String>,
}

/// A pharmacy Claim and its EoB for one of the patient's medications.
struct MedicationClaim {
    claim: String,
    eob: String,
    medication: usize,
    cost_cents: i64,
}

/// The padding of one patient: owned, so rendering borrows from it like from the patient.
pub struct Padding {
    practitioner: String,
    organization: String,
    payer: &'static str,
    currency: &'static str,
    visits: Vec<Visit>,
    vitals: Vec<Vital>,
    procedures: Vec<Procedure>,
    shots: Vec<Shot>,
    reports: Vec<Report>,
    plans: Vec<Plan>,
    imaging: Vec<Imaging>,
    medication_claims: Vec<MedicationClaim>,
    provenance: String,
}

/// A DICOM series or instance UID under the UUID-derived root `2.25` (DICOM PS3.5 B.2): opaque, not identifying.
fn dicom_uid(rng: &mut StdRng) -> String {
    format!("2.25.{}", rng.random::<u128>() >> 2)
}

/// Days ago, clustered in recent years (the product of two uniforms), within `life` days.
fn recent_day(rng: &mut StdRng, life: u32) -> u32 {
    let a = u64::from(rng.random_range(0..=1000u32));
    let b = u64::from(rng.random_range(0..=1000u32));
    (u64::from(life) * a * b / 1_000_000) as u32
}

impl Padding {
    /// The padding of `p`, from its own RNG stream.
    pub fn generate(p: &Patient, as_of: Date) -> Padding {
        let mut rng = StdRng::seed_from_u64(p.padding_seed);
        let rng = &mut rng;
        let age = u32::try_from(age_at(as_of, p.birth_year)).unwrap_or(0);
        let life = (age * 365).max(1);
        let chronic = p
            .conditions
            .iter()
            .filter(|c| c.counts() && c.status.is_active())
            .count() as u32;
        let cost = |rng: &mut StdRng, range: std::ops::RangeInclusive<i64>| {
            rng.random_range(range) * 100 + rng.random_range(0..100)
        };

        // Visits over the patient's life, oldest first: more with age and chronic disease.
        let n_visits = (3 + age / 5 + 3 * chronic + rng.random_range(0..=6)).min(100);
        let mut visits: Vec<Visit> = (0..n_visits)
            .map(|_| {
                let days_ago = recent_day(rng, life);
                let child = days_ago / 365 + 18 > age;
                let kind = match rng.random_range(0..100) {
                    0..35 if child => VisitKind::WellChild,
                    0..35 => VisitKind::Wellness,
                    35..65 => VisitKind::FollowUp,
                    65..94 => VisitKind::Symptom,
                    _ => VisitKind::Emergency,
                };
                let cost_cents = match kind {
                    VisitKind::Emergency => cost(rng, 300..=2500),
                    _ => cost(rng, 60..=250),
                };
                Visit {
                    uuid: uuid(rng),
                    claim: uuid(rng),
                    eob: uuid(rng),
                    days_ago,
                    start: (rng.random_range(8..=16), rng.random_range(0..60), 0),
                    minutes: rng.random_range(15..=45),
                    kind,
                    cost_cents,
                }
            })
            .collect();
        visits.sort_by_key(|v| Reverse(v.days_ago));

        // Vital signs at the last 25 check-ups.
        let height_mm: i64 = if p.gender.code() == "female" {
            rng.random_range(1550..=1800)
        } else {
            rng.random_range(1650..=1950)
        };
        let bmi_tenths: i64 = rng.random_range(200..=340);
        let check_ups: Vec<usize> = (0..visits.len())
            .rev()
            .filter(|&i| visits[i].kind.is_check_up())
            .take(25)
            .collect();
        let mut vitals = Vec::new();
        for &visit in check_ups.iter().rev() {
            let age_then = i64::from(age - (visits[visit].days_ago / 365).min(age));
            // Children grow: ~75 cm at 1, adult height by 18 (a rough line).
            let height = if age_then < 18 {
                (750 + age_then * (height_mm - 750) / 18).max(500)
            } else {
                height_mm
            };
            let bmi = bmi_tenths + rng.random_range(-10..=10);
            let weight = div_round(bmi * height * height, 1_000_000);
            for (kind, tenths) in [
                (VitalKind::Height, height),
                (VitalKind::Weight, weight),
                (VitalKind::Bmi, bmi),
                (VitalKind::HeartRate, 10 * rng.random_range(55..=95)),
                (VitalKind::RespiratoryRate, 10 * rng.random_range(12..=18)),
                (VitalKind::Pain, 10 * rng.random_range(0..=4)),
            ] {
                vitals.push(Vital {
                    uuid: uuid(rng),
                    visit,
                    kind,
                    tenths,
                });
            }
        }

        // Screenings and assessments: one to three at a check-up, sometimes one otherwise; a
        // colonoscopy now and then from 45.
        let mut procedures = Vec::new();
        for (visit, v) in visits.iter().enumerate() {
            let n = if v.kind.is_check_up() {
                rng.random_range(1..=3)
            } else {
                u32::from(rng.random_bool(0.3))
            };
            for _ in 0..n {
                let mut code: &[Coding] = &codes::PROCEDURES[rng.random_range(0..4)];
                if age >= 45 && rng.random_bool(0.03) {
                    code = &codes::PROCEDURES[4];
                }
                procedures.push(Procedure {
                    uuid: uuid(rng),
                    visit,
                    code,
                });
            }
        }

        // Immunizations: the childhood schedule, Td every ten years, a flu shot most years (as
        // Synthea's immunization module gives), COVID-19 and pneumococcal for some adults.
        let mut shots = Vec::new();
        let mut shot = |rng: &mut StdRng, days_ago: u32, vaccine: &'static [Coding]| {
            if days_ago <= life {
                shots.push(Shot {
                    uuid: uuid(rng),
                    days_ago,
                    vaccine,
                });
            }
        };
        for (dose, vaccine) in codes::CHILDHOOD_VACCINES.iter().enumerate() {
            let at_age_days = 60 + 150 * dose as u32;
            shot(rng, life.saturating_sub(at_age_days), vaccine);
        }
        for decade in 2..=age / 10 {
            let days = life.saturating_sub(decade * 3650) + rng.random_range(0..=200);
            shot(rng, days, &codes::TD);
        }
        let p_flu = if age >= 60 { 0.8 } else { 0.5 };
        for year in 0..age {
            if rng.random_bool(p_flu) {
                let days = year * 365 + rng.random_range(0..=120);
                shot(rng, days, &codes::FLU);
            }
        }
        if age >= 18 && rng.random_bool(0.7) {
            let first = rng.random_range(1500..=1800);
            shot(rng, first, &codes::COVID);
            let second = first - rng.random_range(21..=60);
            shot(rng, second, &codes::COVID);
        }
        if age >= 65 && rng.random_bool(0.5) {
            let days = rng.random_range(0..=(age - 64) * 365);
            shot(rng, days, &codes::PNEUMOCOCCAL);
        }

        let reports = p
            .observations
            .iter()
            .enumerate()
            .filter_map(|(observation, o)| match o.kind {
                ObsKind::Lab { kind, .. } if kind != LabKind::Phq9 => Some(Report {
                    uuid: uuid(rng),
                    observation,
                    code: match kind {
                        LabKind::Cholesterol | LabKind::Hdl => &codes::LIPID_PANEL,
                        _ => &codes::METABOLIC_PANEL,
                    },
                }),
                _ => None,
            })
            .collect();

        let mut plans = Vec::new();
        for (condition, c) in p.conditions.iter().enumerate() {
            let code: &[Coding] = match c.kind {
                CondKind::Diabetes => &codes::DIABETES_PLAN,
                CondKind::Hypertension | CondKind::HypertensionOrganDamage => {
                    &codes::HYPERTENSION_PLAN
                }
                CondKind::HeartFailure => &codes::HEART_FAILURE_PLAN,
                CondKind::Asthma => &codes::ASTHMA_PLAN,
                _ => continue,
            };
            if !c.counts() {
                continue;
            }
            let first = rng.random_range(0..codes::CARE_ACTIVITIES.len());
            let second = (first + 1 + rng.random_range(0..3)) % codes::CARE_ACTIVITIES.len();
            plans.push(Plan {
                uuid: uuid(rng),
                team: uuid(rng),
                condition,
                code,
                activities: [
                    &codes::CARE_ACTIVITIES[first],
                    &codes::CARE_ACTIVITIES[second],
                ],
                active: c.status.is_active(),
            });
        }

        let n_imaging = if age < 18 {
            0
        } else {
            match rng.random_range(0..10) {
                0..7 => 0,
                7..9 => 1,
                _ => 2,
            }
        };
        let imaging = (0..n_imaging)
            .map(|_| {
                let ct = rng.random_bool(0.3);
                let (modality, sop_class) = if ct {
                    (codes::MODALITY_CT, codes::SOP_CT)
                } else {
                    (codes::MODALITY_DX, codes::SOP_DX)
                };
                let body_site = if ct || rng.random_bool(0.6) {
                    codes::THORAX
                } else {
                    codes::KNEE
                };
                let instances = if ct {
                    rng.random_range(3..=12)
                } else {
                    rng.random_range(1..=3)
                };
                Imaging {
                    uuid: uuid(rng),
                    days_ago: recent_day(rng, life),
                    modality,
                    body_site,
                    sop_class,
                    series_uid: dicom_uid(rng),
                    instance_uids: (0..instances).map(|_| dicom_uid(rng)).collect(),
                }
            })
            .collect();

        let medication_claims = p
            .medications
            .iter()
            .enumerate()
            .filter(|(_, m)| m.status != MedStatus::EnteredInError)
            .map(|(medication, _)| MedicationClaim {
                claim: uuid(rng),
                eob: uuid(rng),
                medication,
                cost_cents: cost(rng, 5..=400),
            })
            .collect();

        let (payer, currency) = match (p.us, age >= 65) {
            (false, _) => ("Zorgverzekeraar", "EUR"),
            (true, true) => ("Medicare", "USD"),
            (true, false) => ("Private health insurer", "USD"),
        };
        Padding {
            practitioner: format!("Practitioner/prac-{:08x}", rng.random::<u32>()),
            organization: format!("Organization/org-{:08x}", rng.random::<u32>()),
            payer,
            currency,
            visits,
            vitals,
            procedures,
            shots,
            reports,
            plans,
            imaging,
            medication_claims,
            provenance: uuid(rng),
        }
    }
}

// ------------------------------------------------------------------ rendering

/// One billed service: a Claim and its ExplanationOfBenefit.
struct Bill<'a> {
    claim: &'a str,
    eob: &'a str,
    kind: &'static [Coding],
    product: &'static [Coding],
    period: Period,
    encounter: Option<Reference>,
    prescription: Option<Reference>,
    cents: i64,
    copay: i64,
}

impl Padding {
    /// Appends the padding resources to `out` (which holds the patient's own, rendered with
    /// the same `style`), then the Provenance naming every resource.
    pub fn render<'a>(
        &'a self,
        p: &'a Patient,
        as_of: Date,
        style: RefStyle,
        out: &mut Vec<Rendered<'a>>,
    ) {
        let clock = Clock(as_of);
        let subject = || style.patient(p);
        let practitioner = || Reference::external(self.practitioner.clone());
        let organization = || Reference::external(self.organization.clone());
        let money = |cents: i64| Money {
            value: Number::Dec(cents as f64 / 100.0),
            currency: self.currency,
        };
        let visit_period = |v: &Visit| {
            let (h, m, s) = v.start;
            let end = u32::from(h) * 60 + u32::from(m) + v.minutes;
            Period::new(
                clock.date_time(v.days_ago, v.start),
                clock.date_time(v.days_ago, ((end / 60) as u8, (end % 60) as u8, s)),
            )
        };
        let push = |out: &mut Vec<Rendered<'a>>, rtype, uuid: &'a str, resource| {
            out.push(Rendered {
                rtype,
                uuid: Cow::Borrowed(uuid),
                resource,
            });
        };
        // A Claim and its ExplanationOfBenefit for one service.
        let claim_and_eob = |out: &mut Vec<Rendered<'a>>, bill: Bill<'a>| {
            let Bill {
                claim,
                eob,
                kind,
                product,
                period,
                encounter,
                prescription,
                cents,
                copay,
            } = bill;
            let created = period.end().to_owned();
            let benefit = div_round((cents - copay) * 8, 10);
            let amounts = [cents, cents, copay, 0, benefit];
            push(
                out,
                ResourceType::Claim,
                claim,
                Resource::Claim(ClaimResource {
                    id: claim,
                    status: "active",
                    kind: cc(kind),
                    purpose: "claim",
                    patient: subject(),
                    billable_period: period.clone(),
                    created: created.clone(),
                    provider: organization(),
                    priority: cc(&codes::PRIORITY_NORMAL),
                    prescription,
                    insurance: [ClaimInsurance {
                        sequence: 1,
                        focal: true,
                        coverage: Display {
                            display: self.payer,
                        },
                    }],
                    item: [ClaimItem {
                        sequence: 1,
                        product_or_service: cc(product),
                        encounter: encounter.clone().map(|e| [e]),
                        net: money(cents),
                    }],
                    total: money(cents),
                }),
            );
            push(
                out,
                ResourceType::ExplanationOfBenefit,
                eob,
                Resource::ExplanationOfBenefit(ExplanationOfBenefitResource {
                    id: eob,
                    status: "active",
                    kind: cc(kind),
                    purpose: "claim",
                    patient: subject(),
                    billable_period: period.clone(),
                    created,
                    insurer: Display {
                        display: self.payer,
                    },
                    provider: organization(),
                    claim: style.to(ResourceType::Claim, claim),
                    outcome: "complete",
                    care_team: [EobCareTeam {
                        sequence: 1,
                        provider: practitioner(),
                        role: cc(&codes::PRIMARY_PROVIDER),
                    }],
                    insurance: [EobInsurance {
                        focal: true,
                        coverage: Display {
                            display: self.payer,
                        },
                    }],
                    item: [EobItem {
                        sequence: 1,
                        category: cc(&codes::MEDICAL_CARE),
                        product_or_service: cc(product),
                        serviced_period: period,
                        encounter: encounter.map(|e| [e]),
                        adjudication: std::array::from_fn(|i| Adjudication {
                            category: cc(&codes::ADJUDICATIONS[i]),
                            amount: money(amounts[i]),
                        }),
                    }],
                    total: [
                        Adjudication {
                            category: cc(&codes::ADJUDICATIONS[0]),
                            amount: money(cents),
                        },
                        Adjudication {
                            category: cc(&codes::ADJUDICATIONS[4]),
                            amount: money(benefit),
                        },
                    ],
                    payment: Payment {
                        amount: money(benefit),
                    },
                }),
            );
        };

        for (i, v) in self.visits.iter().enumerate() {
            let encounter = || style.to(ResourceType::Encounter, &v.uuid);
            push(
                out,
                ResourceType::Encounter,
                &v.uuid,
                Resource::Encounter(EncounterResource {
                    id: &v.uuid,
                    status: "finished",
                    class: v.kind.class(),
                    kind: Some([cc(v.kind.code())]),
                    subject: subject(),
                    participant: Some([Participant::primary_performer(
                        visit_period(v),
                        practitioner(),
                    )]),
                    period: visit_period(v),
                    service_provider: Some(organization()),
                }),
            );
            for vital in self.vitals.iter().filter(|x| x.visit == i) {
                let value = if vital.tenths % 10 == 0 {
                    Number::Int(vital.tenths / 10)
                } else {
                    Number::Dec(vital.tenths as f64 / 10.0)
                };
                let taken = clock.date_time(v.days_ago, v.start);
                push(
                    out,
                    ResourceType::Observation,
                    &vital.uuid,
                    Resource::Observation(ObservationResource {
                        id: &vital.uuid,
                        extension: None,
                        status: "final",
                        category: [cc(&codes::CAT_VITAL_SIGNS)],
                        code: cc(vital.kind.code()),
                        subject: subject(),
                        encounter: Some(encounter()),
                        effective_date_time: Some(taken.clone()),
                        effective_period: None,
                        issued: Some(taken),
                        performer: None,
                        value_quantity: Some(quantity(value, vital.kind.unit())),
                        value_codeable_concept: None,
                        component: None,
                    }),
                );
            }
            for proc in self.procedures.iter().filter(|x| x.visit == i) {
                push(
                    out,
                    ResourceType::Procedure,
                    &proc.uuid,
                    Resource::Procedure(ProcedureResource {
                        id: &proc.uuid,
                        status: "completed",
                        code: cc(proc.code),
                        subject: subject(),
                        encounter: encounter(),
                        performed_period: visit_period(v),
                    }),
                );
            }
            let kind: &'static [Coding] = match v.kind {
                VisitKind::Emergency => &codes::CLAIM_INSTITUTIONAL,
                _ => &codes::CLAIM_PROFESSIONAL,
            };
            claim_and_eob(
                out,
                Bill {
                    claim: &v.claim,
                    eob: &v.eob,
                    kind,
                    product: v.kind.code(),
                    period: visit_period(v),
                    encounter: Some(encounter()),
                    prescription: None,
                    cents: v.cost_cents,
                    copay: 0,
                },
            );
        }
        for s in &self.shots {
            push(
                out,
                ResourceType::Immunization,
                &s.uuid,
                Resource::Immunization(ImmunizationResource {
                    id: &s.uuid,
                    status: "completed",
                    vaccine_code: cc(s.vaccine),
                    patient: subject(),
                    occurrence_date_time: clock.date_time(s.days_ago, (10, 0, 0)),
                    primary_source: true,
                }),
            );
        }
        for r in &self.reports {
            let o = &p.observations[r.observation];
            push(
                out,
                ResourceType::DiagnosticReport,
                &r.uuid,
                Resource::DiagnosticReport(DiagnosticReportResource {
                    id: &r.uuid,
                    status: "final",
                    category: [cc(&codes::LAB_SERVICE)],
                    code: cc(r.code),
                    subject: subject(),
                    effective_date_time: clock.date(o.days_ago),
                    issued: clock.date_time(o.days_ago, (18, 0, 0)),
                    performer: [organization()],
                    result: [style.to(ResourceType::Observation, &o.uuid)],
                }),
            );
        }
        for plan in &self.plans {
            let c = &p.conditions[plan.condition];
            let condition = || style.to(ResourceType::Condition, &c.uuid);
            let since = || Since {
                start: clock.date(c.onset_days),
            };
            let status = if plan.active { "active" } else { "completed" };
            push(
                out,
                ResourceType::CareTeam,
                &plan.team,
                Resource::CareTeam(CareTeamResource {
                    id: &plan.team,
                    status: if plan.active { "active" } else { "inactive" },
                    subject: subject(),
                    period: since(),
                    participant: [
                        TeamMember {
                            role: [cc(&codes::ROLE_PATIENT)],
                            member: subject(),
                        },
                        TeamMember {
                            role: [cc(&codes::ROLE_PROFESSIONAL)],
                            member: practitioner(),
                        },
                        TeamMember {
                            role: [cc(&codes::ROLE_ORGANIZATION)],
                            member: organization(),
                        },
                    ],
                    reason_reference: [condition()],
                    managing_organization: [organization()],
                }),
            );
            push(
                out,
                ResourceType::CarePlan,
                &plan.uuid,
                Resource::CarePlan(CarePlanResource {
                    id: &plan.uuid,
                    status,
                    intent: "order",
                    category: [cc(&codes::CARE_PLAN), cc(plan.code)],
                    subject: subject(),
                    period: since(),
                    care_team: [style.to(ResourceType::CareTeam, &plan.team)],
                    addresses: [condition()],
                    activity: plan.activities.map(|code| Activity {
                        detail: ActivityDetail {
                            code: cc(code),
                            status: if plan.active {
                                "in-progress"
                            } else {
                                "completed"
                            },
                        },
                    }),
                }),
            );
        }
        for img in &self.imaging {
            let started = clock.date_time(img.days_ago, (11, 30, 0));
            let n = img.instance_uids.len() as u32;
            push(
                out,
                ResourceType::ImagingStudy,
                &img.uuid,
                Resource::ImagingStudy(ImagingStudyResource {
                    id: &img.uuid,
                    status: "available",
                    modality: [img.modality],
                    subject: subject(),
                    started: started.clone(),
                    number_of_series: 1,
                    number_of_instances: n,
                    series: [ImagingSeries {
                        uid: &img.series_uid,
                        number: 1,
                        modality: img.modality,
                        number_of_instances: n,
                        body_site: img.body_site,
                        started,
                        instance: img
                            .instance_uids
                            .iter()
                            .zip(1..)
                            .map(|(uid, number)| ImagingInstance {
                                uid,
                                sop_class: img.sop_class,
                                number,
                            })
                            .collect(),
                    }],
                }),
            );
        }
        for mc in &self.medication_claims {
            let m = &p.medications[mc.medication];
            let rtype = match m.form {
                MedForm::Statement { .. } => ResourceType::MedicationStatement,
                _ => ResourceType::MedicationRequest,
            };
            let day = clock.date_time(m.authored_days, (12, 0, 0));
            claim_and_eob(
                out,
                Bill {
                    claim: &mc.claim,
                    eob: &mc.eob,
                    kind: &codes::CLAIM_PHARMACY,
                    product: m.kind.term().codings(p.us),
                    period: Period::new(day.clone(), day),
                    encounter: None,
                    // A MedicationStatement is no prescription: the pharmacy claim for a
                    // reported drug names none.
                    prescription: (rtype == ResourceType::MedicationRequest)
                        .then(|| style.to(rtype, &m.uuid)),
                    cents: mc.cost_cents,
                    // Pharmacy claims carry a 10 % co-payment.
                    copay: div_round(mc.cost_cents, 10),
                },
            );
        }
        let target = out
            .iter()
            .map(|r| match r.rtype {
                ResourceType::Patient => subject(),
                t => style.to(t, &r.uuid),
            })
            .collect();
        push(
            out,
            ResourceType::Provenance,
            &self.provenance,
            Resource::Provenance(ProvenanceResource {
                id: &self.provenance,
                target,
                recorded: clock.date_time(0, (0, 0, 0)),
                agent: [Agent {
                    kind: cc(&codes::AUTHOR),
                    who: practitioner(),
                    on_behalf_of: organization(),
                }],
            }),
        );
    }
}
