"""livelab plugin `{{name}}`: an example rule to replace with your own.

Example rule: the most recent HbA1c of the last year above the target of 53 mmol/mol gives a
warning card (NHG-Standaard Diabetes mellitus type 2, M01). It shows the whole contract:
`describe` declares the data the plugin needs (the host passes nothing else), `evaluate`
returns CDS Hooks cards for one patient. The interface is ./wit/cds.wit; componentize-py
generates the `wit_world` module from it (`componentize-py -d wit -w plugin bindings .` writes
it out for your editor).
"""

from componentize_py_types import Err
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
    PluginInfo,
    Section,
    Source,
)

ID = "{{name}}"
GUIDELINE = "NHG-Standaard Diabetes mellitus type 2 (M01)"
# LOINC HbA1c (IFCC, mmol/mol); the host converts % (DCCT) values to mmol/mol.
HBA1C_LOINC = "4548-4"
# Only results of the last year.
LOOK_BACK_DAYS = 365
# The HbA1c target in mmol/mol.
TARGET = 53.0


def number(x: float) -> str:
    """A number as Rust and JavaScript print it: 64, not 64.0."""
    return str(int(x)) if x == int(x) else repr(x)


class Evaluator(exports.Evaluator):
    def describe(self) -> PluginInfo:
        return PluginInfo(
            id=ID,
            name="{{title}}",
            version="0.1.0",
            description="Example: warns when the latest HbA1c of the last year is above 53 mmol/mol.",
            hooks=[HookKind.PATIENT_VIEW],
            data_needs=[
                DataNeed(
                    section=Section.OBSERVATIONS,
                    codes=[CodeFilter(CodeSystem_Loinc(), HBA1C_LOINC)],
                    look_back_days=LOOK_BACK_DAYS,
                )
            ],
        )

    def evaluate(self, request):
        if not isinstance(request.hook, Hook_PatientView):
            raise Err(EvaluationError(ErrorKind.UNSUPPORTED_HOOK, "only patient-view is served"))
        # The most recent HbA1c in mmol/mol (the first in record order on a tie).
        latest = None
        for o in request.patient.observations:
            is_hba1c = any(
                isinstance(c.system, CodeSystem_Loinc) and c.code.startswith(HBA1C_LOINC)
                for c in o.code
            )
            q = o.value.value if isinstance(o.value, ObservationValue_Quantity) else None
            if is_hba1c and q is not None and q.unit == "mmol/mol":
                if latest is None or o.effective_days_ago < latest[0]:
                    latest = (o.effective_days_ago, q.value)
        if latest is None or latest[1] <= TARGET:
            return []
        days, value = latest[0], number(latest[1])
        return [
            Card(
                summary=f"HbA1c {value} mmol/mol is above the target of 53 mmol/mol",
                detail=f"The most recent HbA1c ({days} days ago) is {value} mmol/mol. The "
                f"{GUIDELINE} aims for at most 53 mmol/mol for most patients: review the treatment.",
                indicator=Indicator.WARNING,
                source=Source(
                    label=GUIDELINE,
                    url=None,
                    topic=Coding(CodeSystem_Other("urn:livelab:topic"), ID),
                ),
                suggestions=[],
            )
        ]
