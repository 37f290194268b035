#!/usr/bin/env python3
"""Writes fuzz/corpus/<target>/ from the repository's fixtures and sample records.

Run from anywhere: `python3 fuzz/tools/seed_corpora.py`. Deterministic (no randomness), so
rerunning it rewrites the same files. Each target keeps at most 50 files and 2 MB.
"""
import hashlib, json, os, random, shutil

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def read(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return f.read()

for t in os.listdir(CORPUS) if os.path.isdir(CORPUS) else []:
    shutil.rmtree(os.path.join(CORPUS, t))

# ---- fhir_bundle: the Synthea-shaped fixture, the template fixtures, 40 sample records
# (smallest, largest and an even spread by size).
put("fhir_bundle", "synthea-shaped.json", read("tests/fixtures/synthea-bundle/synthea-shaped.json"))
for name in sorted(os.listdir(os.path.join(ROOT, "templates/common/fixtures"))):
    if name.startswith("pt-"):
        put("fhir_bundle", "template-" + name, read("templates/common/fixtures/" + name))
records = sorted(
    (os.path.getsize(os.path.join(ROOT, "sample-records", n)), n)
    for n in os.listdir(os.path.join(ROOT, "sample-records")) if n.startswith("pt-")
)
picked = records[:8] + records[-4:] + records[8:-4:max(1, (len(records) - 12) // 28)][:28]
for _, n in picked:
    put("fhir_bundle", n, read("sample-records/" + n))
# A multi-patient Bundle, references as Patient/<id> (a `searchset`, not Synthea's shape).
multi = {"resourceType": "Bundle", "type": "searchset", "entry": []}
for _, n in picked[:3]:
    b = json.loads(read("sample-records/" + n))
    pid = None
    for e in b["entry"]:
        r = e["resource"]
        if r["resourceType"] == "Patient":
            pid = r["id"]
        elif "subject" in r and pid:
            r["subject"] = {"reference": "Patient/" + pid}
        multi["entry"].append({"resource": r})
put("fhir_bundle", "multi-patient-searchset.json", json.dumps(multi))

# ---- bulk_ndjson_line: every fixture file, the whole export in one file, sample records as
# NDJSON (references rewritten to Patient/<id>, as Bulk exports have them).
bulk = "tests/fixtures/bulk-ndjson"
whole = b""
for name in sorted(os.listdir(os.path.join(ROOT, bulk))):
    if name.endswith(".ndjson"):
        data = read(f"{bulk}/{name}")
        put("bulk_ndjson_line", name, data)
        whole += data if data.endswith(b"\n") else data + b"\n"
put("bulk_ndjson_line", "whole-export.ndjson", whole)
put("bulk_ndjson_line", "whole-export-crlf.ndjson", whole.replace(b"\n", b"\r\n"))
for _, n in picked[:6] + picked[-3:]:
    b = json.loads(read("sample-records/" + n))
    lines, pid = [], None
    for e in b["entry"]:
        r = e["resource"]
        if r["resourceType"] == "Patient":
            pid = r["id"]
        for key in ("subject", "patient"):
            if key in r and pid:
                r[key] = {"reference": "Patient/" + pid}
        lines.append(json.dumps(r, separators=(",", ":")))
    put("bulk_ndjson_line", n.replace(".json", ".ndjson"), "\n".join(lines) + "\n")

# ---- bulk_manifest: the fixture's manifest and variants over the two files the target
# puts beside it (Patient.000.ndjson, Observation.000.ndjson).
put("bulk_manifest", "fixture-manifest.json", read(f"{bulk}/manifest.json"))
def manifest(output, error=(), **extra):
    m = {"transactionTime": "2026-11-01T00:00:00Z",
         "request": "https://fhir.example.org/Patient/$export", "requiresAccessToken": True,
         "output": [{"type": t, "url": u} for t, u in output],
         "error": [{"type": "OperationOutcome", "url": u} for u in error]}
    m.update(extra)
    return json.dumps(m, indent=2)
base = "https://bulk.example.org/output/"
put("bulk_manifest", "both-files.json", manifest([("Patient", base + "Patient.000.ndjson"), ("Observation", base + "Observation.000.ndjson")]))
put("bulk_manifest", "patient-only.json", manifest([("Patient", base + "Patient.000.ndjson")]))
put("bulk_manifest", "relative-urls.json", manifest([("Patient", "Patient.000.ndjson"), ("Observation", "Observation.000.ndjson")]))
put("bulk_manifest", "missing-file.json", manifest([("Patient", base + "Patient.001.ndjson")]))
put("bulk_manifest", "error-list.json", manifest([("Patient", base + "Patient.000.ndjson")], [base + "Observation.000.ndjson"]))
put("bulk_manifest", "empty-output.json", manifest([]))
put("bulk_manifest", "minimal.json", '{"output":[{"url":"Patient.000.ndjson"}]}')
put("bulk_manifest", "empty-object.json", "{}")
put("bulk_manifest", "trailing-slash.json", manifest([("Patient", base)]))

# ---- concept_map: the shipped maps, and small maps cut from them (one group, one element).
term = "sample-records/terminology"
for name in sorted(os.listdir(os.path.join(ROOT, term))):
    if name.endswith(".json"):
        text = read(f"{term}/{name}")
        put("concept_map", name, text)
        cm = json.loads(text)
        for g, group in enumerate(cm.get("group", [])[:2]):
            small = dict(cm)
            small["group"] = [dict(group, element=group.get("element", [])[:2])]
            put("concept_map", f"{name[:-5]}-group{g}-small.json", json.dumps(small, indent=1))

# ---- trial_file: the sample trial and variants of every optional part.
sample = read("trials/sample.toml").decode()
put("trial_file", "sample.toml", sample)
minimal = 'name = "t"\nregion = "r"\nrecords = "records"\n\n[[plugin]]\npath = "plugin"\n'
put("trial_file", "minimal.toml", minimal)
put("trial_file", "pinned.toml", minimal + 'sha256 = "' + "ab" * 32 + '"\ntopic = "x"\nalert_from = "critical"\n\n[plugin.limits]\nfuel = 1000000\nmemory_mib = 16\n')
put("trial_file", "everything.toml", '''name = "Everything"
region = "Regio"
description = """multi
line"""
evaluation_date = "2026-02-28"
seed = 18446744073709551615
records = "/abs/records"
labels = "../labels.csv"
output = "out"
trust = "./policy/../trust.toml"
allow_unsigned = false
allow_identifiers = true
terminology = ["maps", "/abs/maps", "../x/./y"]

[limits]
deadline_ms = 100
fuel = 5_000_000
memory_mib = 8
max_cards = 3
max_output_bytes = 1024
max_string_bytes = 256
max_log_lines = 5

[decision_log]
path = "decisions.jsonl"
omit = ["record", "input", "output", "log"]

[[plugin]]
path = "sample:metformin-egfr"
topic = "metformin-egfr"
alert_from = "info"

[[plugin]]
path = "candidates/metformin-egfr-ema"
alert_from = "warning"

[[compare]]
baseline = "metformin-egfr"
candidate = "metformin-egfr-ema"
''')
put("trial_file", "bad-date.toml", minimal.replace('records', 'evaluation_date = "2026-13-40"\nrecords', 1))
put("trial_file", "no-plugins.toml", 'name = "t"\nregion = "r"\nrecords = "records"\nplugin = []\n')

# ---- plugin_toml: every sample and candidate manifest, filled in as the build fills them.
filled_sha = hashlib.sha256(b"\0asm").hexdigest()
data_tree = hashlib.sha256(("rules.txt\0" + hashlib.sha256(b"x\n").hexdigest() + "\n").encode()).hexdigest()
for rel in ["templates/common/plugin.toml"] + sorted(
    os.path.join(dp, f)[len(ROOT) + 1:]
    for dp, _, fs in os.walk(os.path.join(ROOT, "plugins")) for f in fs
    if f == "plugin.toml" and "/target/" not in dp):
    text = read(rel).decode()
    name = rel.replace("/", "_")
    put("plugin_toml", name, text)
    filled = text.replace('component = ""', 'component = "plugin.wasm"').replace('sha256 = ""', f'sha256 = "{filled_sha}"')
    put("plugin_toml", "filled-" + name, filled)
full = f'''[plugin]
id = "x"
version = "1.2.3-rc.1"
publisher = "Me"
component = "sub/plugin.wasm"
sha256 = "{filled_sha}"

[[data_needs]]
section = "observations"
codes = ["loinc|33914-3", "http://example.org/cs|", "snomed-ct|"]
look_back_days = 400

[[data_needs]]
section = "allergies"

[limits]
memory_mib = 32
fuel = 1000
deadline_ms = 10

[grants]
data = "data"
data_sha256 = "{data_tree}"
'''
put("plugin_toml", "grants-data.toml", full)
put("plugin_toml", "grants-data-changed.toml", full.replace(data_tree, "0" * 64))
put("plugin_toml", "grants-dot.toml", full.replace('data = "data"', 'data = "."'))

# ---- trust_policy and signature: the RFC 8032 test vector 1 key (fuzz/src/lib.rs).
key = "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
key2 = "ed25519:3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"  # RFC 8032 vector 2
put("trust_policy", "one.toml", f'[[publisher]]\nname = "Test publisher"\nkey = "{key}"\n')
put("trust_policy", "two.toml", f'# region policy\n[[publisher]]\nname = "A"\nkey = "{key2}"\n\n[[publisher]]\nname = "B"\nkey = "{key}"\n')
put("trust_policy", "duplicate.toml", f'[[publisher]]\nname = "A"\nkey = "{key}"\n[[publisher]]\nname = "B"\nkey = "{key}"\n')
put("trust_policy", "empty.toml", "")
put("trust_policy", "weak-key.toml", '[[publisher]]\nname = "W"\nkey = "ed25519:0100000000000000000000000000000000000000000000000000000000000000"\n')
put("trust_policy", "not-on-curve.toml", '[[publisher]]\nname = "N"\nkey = "ed25519:' + "ff" * 32 + '"\n')
put("trust_policy", "inline-array.toml", f'publisher = [{{ name = "A", key = "{key.upper().replace("ED25519", "ed25519")}" }}]\n')
put("trust_policy", "unknown-field.toml", f'[[publisher]]\nname = "A"\nkey = "{key}"\nnote = "x"\n')

sha = "09f909984f03997f5dfb33324dfad399f2693db3417429a1f64022d812b1b148"
sig = "20457a41f1e67c36c8d928ac41b7b53a8c788e771abac45c543193a3672c71197084fbbba557a1d15f172b5f2a52fe321e9bf939b9a42b848e1acb212c1e1504"
good = f'# livelab plugin signature over plugin.toml (see the region\'s trust policy)\npublisher = "Test publisher"\npublic_key = "{key}"\nmanifest_sha256 = "{sha}"\nsignature = "{sig}"\n'
put("signature", "valid.sig", good)
put("signature", "valid-signed-at.sig", good + 'signed_at = "2026-11-01T12:00:00Z"\n')
put("signature", "valid-uppercase.sig", good.replace(sig, sig.upper()).replace(sha, sha.upper()))
put("signature", "other-key.sig", good.replace(key, key2))
put("signature", "altered.sig", good.replace(sig, "0" + sig[1:]))
put("signature", "other-manifest.sig", good.replace(sha, "00" * 32))
put("signature", "short.sig", good.replace(sig, sig[:100]))
put("signature", "unknown-field.sig", good + 'extra = "x"\n')

# ---- decision_log: plugin and decision lines as a run writes them (livelab.decision/2).
plugin_line = {"schema": "livelab.decision/2", "kind": "plugin", "run_started": "2026-11-01T10:00:00Z",
               "plugin_ref": 0, "plugin": {"id": "metformin-egfr", "version": "0.1.0",
               "path": "target/plugins/packages/metformin-egfr", "sha256": "ab" * 32,
               "manifest_sha256": "cd" * 32, "signer": "unsigned"}}
limits = {"deadline_ms": 250, "fuel": None, "memory_bytes": 67108864, "table_elements": 20000,
          "max_cards": 20, "max_output_bytes": 65536, "max_string_bytes": 8192,
          "max_log_lines": 100, "max_log_bytes": 16384}
coding = lambda system, code: {"system": system, "code": code}
request = {"hook": "PatientView", "patient": {
    "age_years": 71, "sex": "Female",
    "conditions": [{"code": [coding("Icpc", "T90.02"), coding("SnomedCt", "44054006")], "status": "Active",
                    "onset_days_ago": 3650, "abated_days_ago": None}],
    "observations": [{"code": [coding("Loinc", "33914-3")], "category": "Laboratory", "origin": "Clinical",
                      "effective_days_ago": 30, "value": {"Quantity": {"value": 42.0, "unit": "mL/min/{1.73_m2}"}},
                      "components": []},
                     {"code": [coding({"Other": "http://example.org/cs"}, "x")], "category": "VitalSigns",
                      "origin": "PatientGenerated", "effective_days_ago": 1, "value": {"Integer": -3},
                      "components": [{"code": [coding("Loinc", "8480-6")], "value": {"Boolean": True}}]}],
    "medications": [{"code": [coding("Atc", "A10BA02")], "status": "Active", "started_days_ago": 400,
                     "daily_dose": {"value": 1000.0, "unit": "mg"}}],
    "allergies": [{"code": [coding("Rxnorm", "860975")], "active": False}]}}
decision = {"schema": "livelab.decision/2", "kind": "decision", "run_started": "2026-11-01T10:00:00Z",
            "plugin_ref": 0, "record": "pt-005a98e1cd5f", "evaluation_date": "2026-11-01",
            "random_seed": 7, "limits": limits, "input_sha256": "ef" * 32, "input": request,
            "output_sha256": "01" * 32,
            "output": {"status": "cards", "cards": [{"summary": "Reduce metformin", "indicator": "warning"}]},
            "latency_ns": 123456, "fuel": 98765, "peak_memory_bytes": 1114112, "log": ["checked eGFR"]}
line = lambda o: json.dumps(o, separators=(",", ":"))
omitted = {k: v for k, v in decision.items() if k not in ("record", "input", "output", "log")}
failed = dict(omitted, fuel=None, fuel_at_least=50000000, stopped_by="fuel-exhausted",
              output={"status": "error", "error": {"cause": "fuel-exhausted"}})
failed = {k: v for k, v in failed.items() if v is not None}
order = dict(decision, input={"hook": {"OrderSign": request["patient"]["medications"]}, "patient": request["patient"]})
plugin2 = dict(plugin_line, plugin_ref=1, plugin=dict(plugin_line["plugin"], id="home-bp", signer="signed by X"))
put("decision_log", "one-decision.jsonl", line(plugin_line) + "\n" + line(decision) + "\n")
put("decision_log", "omitted.jsonl", line(plugin_line) + "\n" + line(omitted) + "\n")
put("decision_log", "failed.jsonl", line(plugin_line) + "\n" + line(failed) + "\n")
put("decision_log", "order-sign.jsonl", line(plugin_line) + "\n" + line(order) + "\n")
put("decision_log", "two-runs.jsonl", "\n".join(line(x) for x in [plugin_line, decision, plugin2, dict(omitted, plugin_ref=1), dict(plugin_line, run_started="2026-11-02T10:00:00Z"), failed]) + "\n\n")
put("decision_log", "no-plugin-line.jsonl", line(decision) + "\n")
put("decision_log", "other-schema.jsonl", line(dict(plugin_line, schema="livelab.decision/1")) + "\n")
put("decision_log", "empty.jsonl", "")

for t in sorted(os.listdir(CORPUS)):
    files = os.listdir(os.path.join(CORPUS, t))
    size = sum(os.path.getsize(os.path.join(CORPUS, t, f)) for f in files)
    assert len(files) <= 50 and size <= 2 << 20, (t, len(files), size)
    print(f"{t}: {len(files)} files, {size} bytes")
