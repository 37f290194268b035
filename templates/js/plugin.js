// livelab plugin `{{name}}`: an example rule to replace with your own.
//
// Example rule: the most recent HbA1c of the last year above the target of 53 mmol/mol gives a
// warning card (NHG-Standaard Diabetes mellitus type 2, M01). It shows the whole contract:
// `describe` declares the data the plugin needs (the host passes nothing else), `evaluate`
// returns CDS Hooks cards for one patient. The interface is ./wit/cds.wit.
//
// WIT in JavaScript (componentize-js): records are objects with camelCase fields, enums are
// their kebab-case names ('patient-view'), variants are `{ tag, val }`, an absent option is
// `undefined`, and a value thrown from `evaluate` is returned as the `err` of its result.

const ID = '{{name}}';
const GUIDELINE = 'NHG-Standaard Diabetes mellitus type 2 (M01)';
// LOINC HbA1c (IFCC, mmol/mol); the host converts % (DCCT) values to mmol/mol.
const HBA1C_LOINC = '4548-4';
// Only results of the last year.
const LOOK_BACK_DAYS = 365;
// The HbA1c target in mmol/mol.
const TARGET = 53.0;

function describe() {
  return {
    id: ID,
    name: '{{title}}',
    version: '0.1.0',
    description: 'Example: warns when the latest HbA1c of the last year is above 53 mmol/mol.',
    hooks: ['patient-view'],
    dataNeeds: [
      {
        section: 'observations',
        codes: [{ system: { tag: 'loinc' }, prefix: HBA1C_LOINC }],
        lookBackDays: LOOK_BACK_DAYS,
      },
    ],
  };
}

function evaluate(request) {
  if (request.hook.tag !== 'patient-view') {
    throw { kind: 'unsupported-hook', message: 'only patient-view is served' };
  }
  // The most recent HbA1c in mmol/mol (the first in record order on a tie).
  let latest;
  for (const o of request.patient.observations) {
    const isHbA1c = o.code.some((c) => c.system.tag === 'loinc' && c.code.startsWith(HBA1C_LOINC));
    const q = o.value?.tag === 'quantity' ? o.value.val : undefined;
    if (isHbA1c && q?.unit === 'mmol/mol' && (!latest || o.effectiveDaysAgo < latest.days)) {
      latest = { days: o.effectiveDaysAgo, value: q.value };
    }
  }
  if (!latest || latest.value <= TARGET) {
    return [];
  }
  const { days, value } = latest;
  return [
    {
      summary: `HbA1c ${value} mmol/mol is above the target of 53 mmol/mol`,
      detail:
        `The most recent HbA1c (${days} days ago) is ${value} mmol/mol. The ${GUIDELINE} ` +
        'aims for at most 53 mmol/mol for most patients: review the treatment.',
      indicator: 'warning',
      source: {
        label: GUIDELINE,
        url: undefined,
        topic: { system: { tag: 'other', val: 'urn:livelab:topic' }, code: ID },
      },
      suggestions: [],
    },
  ];
}

/** The `evaluator` export of the world `livelab:cds/plugin`. */
export const evaluator = { describe, evaluate };
