"""livelab plugin `home-bp-py`: the sample eHealth plugin `home-bp` (plugins/home-bp), in Python.

A week of home blood-pressure self-measurements. Rule 4 of `docs/CLINICAL_REFERENCE.md`: a mean of
a 7-day home series >= 135/85 mmHg means hypertension (ESC/ESH 2023 home threshold; the office
threshold is 140/90). The protocol asks 2 readings a day, morning and evening, for 7 days.

The cards are identical to the Rust plugin's (tests/all/languages.rs checks it on every sample
record): same text, indicator, source label and topic coding (`urn:livelab:topic|home-bp`,
the topic this rule is about, whichever language runs it). Only the plugin id differs, since
ids must be unique in a run.

Build: `livelab build plugins/python/home-bp --out target/lang/home-bp-py` (componentize-py,
pinned in tools/python/requirements.txt).
"""

import math

from wit_world import exports
from wit_world.imports.types import (
    Card,
    CodeFilter,
    CodeSystem_Loinc,
    CodeSystem_Other,
    Coding,
    DataNeed,
    ErrorKind,
    EvaluationError,
    Hook_PatientView,
    HookKind,
    Indicator,
    ObservationValue_Quantity,
    Origin,
    PluginInfo,
    Section,
    Source,
)
from componentize_py_types import Err

ID = "home-bp-py"
# The topic the cards are about: the same as the Rust `home-bp`'s, so trials group them.
TOPIC = "home-bp"
TOPIC_SYSTEM = "urn:livelab:topic"
VERSION = "0.1.0"
GUIDELINE = "ESC/ESH 2023 hypertension guideline: home blood-pressure monitoring"

# LOINC blood-pressure panel and its systolic and diastolic components.
BP_PANEL_LOINC = "85354-9"
SYSTOLIC_LOINC = "8480-6"
DIASTOLIC_LOINC = "8462-4"
# Days 0..=6 before the evaluation date: the last 7 days (rule 4).
LOOK_BACK_DAYS = 6
# 2 readings a day for 7 days (rule 4 protocol).
FULL_SERIES = 12
# ESC/ESH 2023 home blood-pressure thresholds (mmHg), compared with the unrounded means.
HOME_SYSTOLIC = 135.0
HOME_DIASTOLIC = 85.0


def has_code(concept, system_type, prefix):
    """True when any coding has the system and a code starting with `prefix`."""
    return any(isinstance(c.system, system_type) and c.code.startswith(prefix) for c in concept)


def mm_hg(observation, loinc):
    """The pressure in mmHg of the panel's component `loinc`: the first matching component
    with a quantity, if its unit is mm[Hg] (UCUM; `mmHg` is accepted too)."""
    for component in observation.components:
        if has_code(component.code, CodeSystem_Loinc, loinc) and component.value is not None:
            if isinstance(component.value, ObservationValue_Quantity):
                q = component.value.value
                return q.value if q.unit in ("mm[Hg]", "mmHg") else None
    return None


def round_half_away(x):
    """Rust's `f64::round`: halves away from zero (Python's `round` rounds halves to even)."""
    f = math.floor(x)
    r = f + 1.0 if x - f >= 0.5 else f
    return r if x >= 0 else -round_half_away(-x)


def text(x):
    """`format!("{x:.0}")` of a whole number."""
    return str(int(x))


def source():
    return Source(label=GUIDELINE, url=None, topic=Coding(CodeSystem_Other(TOPIC_SYSTEM), TOPIC))


class Evaluator(exports.Evaluator):
    def describe(self) -> PluginInfo:
        return PluginInfo(
            id=ID,
            name="Home blood pressure",
            version=VERSION,
            description="Reviews the last 7 days of patient-measured blood pressure against the "
            "ESC/ESH home threshold of 135/85 mmHg.",
            hooks=[HookKind.PATIENT_VIEW],
            data_needs=[
                DataNeed(
                    section=Section.OBSERVATIONS,
                    codes=[CodeFilter(CodeSystem_Loinc(), BP_PANEL_LOINC)],
                    look_back_days=LOOK_BACK_DAYS,
                )
            ],
        )

    def evaluate(self, request):
        if not isinstance(request.hook, Hook_PatientView):
            raise Err(
                EvaluationError(
                    ErrorKind.UNSUPPORTED_HOOK, "hook order-sign is not served by this plugin"
                )
            )
        readings = []
        for o in request.patient.observations:
            if (
                o.origin == Origin.PATIENT_GENERATED
                and o.effective_days_ago <= LOOK_BACK_DAYS
                and has_code(o.code, CodeSystem_Loinc, BP_PANEL_LOINC)
            ):
                systolic = mm_hg(o, SYSTOLIC_LOINC)
                diastolic = mm_hg(o, DIASTOLIC_LOINC)
                if systolic is not None and diastolic is not None:
                    readings.append((systolic, diastolic))
        n = len(readings)
        if n == 0:
            return []
        if n < FULL_SERIES:
            return [
                Card(
                    summary=f"Incomplete home blood-pressure series ({n} readings in 7 days, "
                    "protocol asks 2 a day)",
                    detail=f"The {GUIDELINE} bases the diagnosis on a home series of 2 readings a "
                    f"day, morning and evening, for 7 days; {n} usable readings were found, "
                    f"fewer than {FULL_SERIES}. Ask the patient to complete the series.",
                    indicator=Indicator.INFO,
                    source=source(),
                    suggestions=[],
                )
            ]
        # Summed in record order, as the Rust plugin does, so the means are bit-identical.
        systolic = 0.0
        diastolic = 0.0
        for s, d in readings:
            systolic += s
            diastolic += d
        systolic /= n
        diastolic /= n
        if systolic < HOME_SYSTOLIC and diastolic < HOME_DIASTOLIC:
            return []
        s, d = text(round_half_away(systolic)), text(round_half_away(diastolic))
        return [
            Card(
                summary=f"Home blood pressure mean {s}/{d} mmHg is at or above 135/85",
                detail=f"Mean of {n} home readings in the last 7 days: {s}/{d} mmHg. The "
                f"{GUIDELINE} takes a home mean ≥ 135/85 mmHg as hypertension (the office "
                "threshold is 140/90 mmHg, which does not apply to self-measurements).",
                indicator=Indicator.WARNING,
                source=source(),
                suggestions=[],
            )
        ]
