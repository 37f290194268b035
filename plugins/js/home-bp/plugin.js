// livelab plugin `home-bp-js`: the sample eHealth plugin `home-bp` (plugins/home-bp), in
// JavaScript.
//
// A week of home blood-pressure self-measurements. Rule 4 of `docs/CLINICAL_REFERENCE.md`: a mean
// of a 7-day home series >= 135/85 mmHg means hypertension (ESC/ESH 2023 home threshold; the
// office threshold is 140/90). The protocol asks 2 readings a day, morning and evening, for 7
// days.
//
// The cards are identical to the Rust plugin's (tests/all/languages.rs checks it on every
// sample record): same text, indicator, source label and topic coding
// (`urn:livelab:topic|home-bp`, the topic this rule is about, whichever language runs it).
// Only the plugin id differs, since ids must be unique in a run.
//
// Build: `livelab build plugins/js/home-bp --out target/lang/home-bp-js` (componentize-js,
// pinned in tools/js/package-lock.json).
//
// WIT in JavaScript (componentize-js): records are objects with camelCase fields, enums are
// their kebab-case names, variants are `{ tag, val }`, an absent option is `undefined`, and
// throwing a value from `evaluate` returns it as the `err` of the result.

const ID = 'home-bp-js';
// The topic the cards are about: the same as the Rust `home-bp`'s, so trials group them.
const TOPIC = 'home-bp';
const TOPIC_SYSTEM = 'urn:livelab:topic';
const VERSION = '0.1.0';
const GUIDELINE = 'ESC/ESH 2023 hypertension guideline: home blood-pressure monitoring';

// LOINC blood-pressure panel and its systolic and diastolic components.
const BP_PANEL_LOINC = '85354-9';
const SYSTOLIC_LOINC = '8480-6';
const DIASTOLIC_LOINC = '8462-4';
// Days 0..=6 before the evaluation date: the last 7 days (rule 4).
const LOOK_BACK_DAYS = 6;
// 2 readings a day for 7 days (rule 4 protocol).
const FULL_SERIES = 12;
// ESC/ESH 2023 home blood-pressure thresholds (mmHg), compared with the unrounded means.
const HOME_SYSTOLIC = 135.0;
const HOME_DIASTOLIC = 85.0;

/** True when any coding has the system and a code starting with `prefix`. */
function hasCode(concept, system, prefix) {
  return concept.some((c) => c.system.tag === system && c.code.startsWith(prefix));
}

/**
 * The pressure in mmHg of the panel's component `loinc`: the first matching component with a
 * quantity, if its unit is mm[Hg] (UCUM; `mmHg` is accepted too).
 */
function mmHg(observation, loinc) {
  for (const component of observation.components) {
    if (hasCode(component.code, 'loinc', loinc) && component.value?.tag === 'quantity') {
      const q = component.value.val;
      return q.unit === 'mm[Hg]' || q.unit === 'mmHg' ? q.value : undefined;
    }
  }
  return undefined;
}

/** Rust's `f64::round`: halves away from zero (`Math.round` rounds -0.5 up). */
function roundHalfAway(x) {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

function source() {
  return {
    label: GUIDELINE,
    url: undefined,
    topic: { system: { tag: 'other', val: TOPIC_SYSTEM }, code: TOPIC },
  };
}

function describe() {
  return {
    id: ID,
    name: 'Home blood pressure',
    version: VERSION,
    description:
      'Reviews the last 7 days of patient-measured blood pressure against the ESC/ESH home ' +
      'threshold of 135/85 mmHg.',
    hooks: ['patient-view'],
    dataNeeds: [
      {
        section: 'observations',
        codes: [{ system: { tag: 'loinc' }, prefix: BP_PANEL_LOINC }],
        lookBackDays: LOOK_BACK_DAYS,
      },
    ],
  };
}

function evaluate(request) {
  if (request.hook.tag !== 'patient-view') {
    throw {
      kind: 'unsupported-hook',
      message: `hook ${request.hook.tag} is not served by this plugin`,
    };
  }
  const readings = [];
  for (const o of request.patient.observations) {
    if (
      o.origin === 'patient-generated' &&
      o.effectiveDaysAgo <= LOOK_BACK_DAYS &&
      hasCode(o.code, 'loinc', BP_PANEL_LOINC)
    ) {
      const systolic = mmHg(o, SYSTOLIC_LOINC);
      const diastolic = mmHg(o, DIASTOLIC_LOINC);
      if (systolic !== undefined && diastolic !== undefined) {
        readings.push([systolic, diastolic]);
      }
    }
  }
  const n = readings.length;
  if (n === 0) {
    return [];
  }
  if (n < FULL_SERIES) {
    return [
      {
        summary: `Incomplete home blood-pressure series (${n} readings in 7 days, protocol asks 2 a day)`,
        detail:
          `The ${GUIDELINE} bases the diagnosis on a home series of 2 readings a day, morning ` +
          `and evening, for 7 days; ${n} usable readings were found, fewer than ` +
          `${FULL_SERIES}. Ask the patient to complete the series.`,
        indicator: 'info',
        source: source(),
        suggestions: [],
      },
    ];
  }
  // Summed in record order, as the Rust plugin does, so the means are bit-identical.
  let systolic = 0;
  let diastolic = 0;
  for (const [s, d] of readings) {
    systolic += s;
    diastolic += d;
  }
  systolic /= n;
  diastolic /= n;
  if (systolic < HOME_SYSTOLIC && diastolic < HOME_DIASTOLIC) {
    return [];
  }
  const s = roundHalfAway(systolic).toFixed(0);
  const d = roundHalfAway(diastolic).toFixed(0);
  return [
    {
      summary: `Home blood pressure mean ${s}/${d} mmHg is at or above 135/85`,
      detail:
        `Mean of ${n} home readings in the last 7 days: ${s}/${d} mmHg. The ${GUIDELINE} ` +
        'takes a home mean ≥ 135/85 mmHg as hypertension (the office threshold is 140/90 ' +
        'mmHg, which does not apply to self-measurements).',
      indicator: 'warning',
      source: source(),
      suggestions: [],
    },
  ];
}

/** The `evaluator` export of the world `livelab:cds/plugin`. */
export const evaluator = { describe, evaluate };
