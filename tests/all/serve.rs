//! `livelab serve`: the real binary on 127.0.0.1:0, called over the socket with a real HTTP
//! client. Discovery, a patient-view call whose prefetch (searchset Bundles) gives the
//! sample metformin-egfr card, a missing prefetch (412), shadow mode, each error status, the
//! client-JWT cases, and that nothing identifying of a prefetched Patient leaves the service.
//! Feedback on issued cards and `/metrics`; the concurrency bound and the request deadline
//! with a plugin that spins; a graceful shutdown on SIGTERM during a call.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::support::{METFORMIN_PAIR, cache_dir, livelab_in, test_guests};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/crates/cds-hooks/tests/fixtures"
);
const ISS: &str = "https://ehr.example.org";
const KID: &str = "ehr-2024";

// What a real EHR's Patient carries, and must never leave the service.
const FAMILY: &str = "Zwanenburg";
const GIVEN: &str = "Henrietta";
const BSN: &str = "999911120";
const PHONE: &str = "0612345678";
const STREET: &str = "Dorpsstraat 17";
const PATIENT_ID: &str = "ehr-patient-7f3a9";

/// A `livelab serve` process, killed when dropped.
struct Server {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    out: Option<JoinHandle<Vec<u8>>>,
    err: Option<JoinHandle<Vec<u8>>>,
    /// How the process ended, once [`Server::stop`] has run.
    status: Option<ExitStatus>,
}

impl Server {
    /// `GET /metrics`, which must answer 200 with every `expected` line (or fragment) in it;
    /// returns the text.
    fn metrics_containing(&self, expected: &[&str]) -> String {
        let metrics = get(&self.url("/metrics"), None);
        assert_eq!(metrics.status, 200, "{}", metrics.text);
        for expected in expected {
            assert!(
                metrics.text.contains(expected),
                "{expected:?} missing from:\n{}",
                metrics.text
            );
        }
        metrics.text
    }

    /// Starts `livelab serve ARGS --addr 127.0.0.1:0` in a fresh directory and reads the
    /// address from the first line of stdout. `setup` may write files into the directory first.
    fn start(args: &[&str], setup: impl FnOnce(&Path)) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        setup(dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_livelab"))
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .current_dir(dir.path())
            .env("LIVELAB_CACHE_DIR", cache_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting livelab serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, rx) = mpsc::channel();
        let out = std::thread::spawn(move || {
            let mut first = String::new();
            let _ = stdout.read_line(&mut first);
            let _ = tx.send(first.clone());
            let mut rest = first.into_bytes();
            let _ = stdout.read_to_end(&mut rest);
            rest
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let err = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            bytes
        });
        let mut server = Server {
            child,
            base: String::new(),
            dir,
            out: Some(out),
            err: Some(err),
            status: None,
        };
        let first = rx
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_default();
        if !first.starts_with("http://127.0.0.1:") {
            let (out, err) = server.stop();
            panic!("livelab serve did not start:\nstdout:\n{out}\nstderr:\n{err}");
        }
        server.base = first.trim().to_owned();
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server with SIGTERM (a graceful shutdown) and returns stdout and stderr.
    fn stop(&mut self) -> (String, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.status = self.child.wait().ok();
        let text = |h: Option<JoinHandle<Vec<u8>>>| {
            h.map(|h| String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned())
                .unwrap_or_default()
        };
        (text(self.out.take()), text(self.err.take()))
    }

    /// Stops the server and checks that nothing identifying of the prefetched Patient is in
    /// `replies`, stdout, stderr or any file the server wrote; returns stdout and stderr.
    #[track_caller]
    fn stop_leaking_nothing(&mut self, replies: &[String]) -> (String, String) {
        let (stdout, stderr) = self.stop();
        for (i, text) in replies.iter().enumerate() {
            assert_no_identifiers(&format!("response {i}"), text);
        }
        assert_no_identifiers("stdout", &stdout);
        assert_no_identifiers("stderr", &stderr);
        assert_no_identifiers("the output directory", &self.written());
        (stdout, stderr)
    }

    /// Every byte the server wrote under its directory (the decision log), as text.
    fn written(&self) -> String {
        let mut all = String::new();
        collect(self.dir.path(), &mut all);
        all
    }

    fn decision_log(&self) -> Vec<Value> {
        self.json_lines("decisions.jsonl")
    }

    fn feedback_log(&self) -> Vec<Value> {
        self.json_lines("feedback.jsonl")
    }

    fn json_lines(&self, name: &str) -> Vec<Value> {
        let path = self.dir.path().join("livelab-serve-out").join(name);
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(dir: &Path, all: &mut String) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, all);
        } else if let Ok(bytes) = std::fs::read(&path) {
            all.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A response: status, headers of interest, body as JSON (or text).
struct Reply {
    status: u16,
    auth_header: Option<String>,
    cors_methods: Option<String>,
    cors_headers: Option<String>,
    retry_after: Option<String>,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    fn error_code(&self) -> Value {
        self.json()["issue"][0]["details"]["coding"][0]["code"].clone()
    }
}

fn reply(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = response.expect("an HTTP response");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Reply {
        status: response.status().as_u16(),
        auth_header: header("x-livelab-auth"),
        cors_methods: header("access-control-allow-methods"),
        cors_headers: header("access-control-allow-headers"),
        retry_after: header("retry-after"),
        text: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn get(url: &str, token: Option<&str>) -> Reply {
    let mut request = agent().get(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    reply(request.call())
}

fn post(url: &str, token: Option<&str>, body: &str) -> Reply {
    let mut request = agent().post(url).header("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    reply(request.send(body))
}

fn days_ago(days: i64) -> String {
    (jiff::Zoned::now().date() - jiff::Span::new().days(days)).to_string()
}

/// The spec's patient-view example shape, with a prefetch for metformin-egfr: a Patient with
/// a name and identifiers, eGFR 25 (LOINC 62238-1) and metformin (ATC A10BA02) as searchset
/// Bundles.
fn metformin_call() -> Value {
    patient_view_call(PATIENT_ID, 25)
}

/// [`metformin_call`] for the patient with EHR id `id` and an eGFR of `egfr`.
fn patient_view_call(id: &str, egfr: u32) -> Value {
    json!({
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": "http://hooks.smarthealthit.org:9080",
        "hook": "patient-view",
        "context": {"userId": "Practitioner/example", "patientId": id},
        "prefetch": {
            "patient": {
                "resourceType": "Patient", "id": id, "gender": "female",
                "birthDate": "1950-03-04",
                "name": [{"family": FAMILY, "given": [GIVEN]}],
                "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": BSN}],
                "telecom": [{"system": "phone", "value": PHONE}],
                "address": [{"line": [STREET], "city": "Utrecht"}],
                "text": {"status": "generated", "div": format!("<div>{GIVEN} {FAMILY}, BSN {BSN}</div>")},
            },
            "observations": {"resourceType": "Bundle", "type": "searchset", "entry": [
                {"fullUrl": "http://ehr.example.org/fhir/Observation/o1", "resource": {
                    "resourceType": "Observation", "id": "o1", "status": "final",
                    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": "62238-1"}]},
                    "subject": {"reference": format!("Patient/{id}"), "display": format!("{GIVEN} {FAMILY}")},
                    "effectiveDateTime": days_ago(10),
                    "valueQuantity": {"value": egfr, "unit": "mL/min/{1.73_m2}", "system": "http://unitsofmeasure.org", "code": "mL/min/{1.73_m2}"}
                }},
                // A Patient inside a search result carries identifiers too: never ingested.
                {"resource": {"resourceType": "Patient", "id": id, "name": [{"family": FAMILY}]}}
            ]},
            "medicationRequests": {"resourceType": "Bundle", "type": "searchset", "entry": [
                {"resource": {
                    "resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
                    "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "A10BA02"}]},
                    "subject": {"reference": format!("Patient/{id}")},
                    "authoredOn": days_ago(10)
                }}
            ]},
            "medicationStatements": null
        }
    })
}

const METFORMIN_SUMMARY: &str =
    "Metformin at eGFR 25 (dose not recorded): maximum is 1 × 500 mg/day";

#[track_caller]
fn assert_no_identifiers(what: &str, text: &str) {
    for needle in [FAMILY, GIVEN, BSN, PHONE, STREET, PATIENT_ID] {
        assert!(!text.contains(needle), "{what} holds {needle:?}:\n{text}");
    }
}

#[test]
fn serve_discovery_calls_errors_and_no_identifiers_leak() {
    let mut server = Server::start(&["--no-auth"], |_| {});
    let mut replies = Vec::new();

    // Discovery: one patient-view service per sample-trial plugin, prefetch from data needs.
    let discovery = get(&server.url("/cds-services"), None);
    assert_eq!(discovery.status, 200, "{}", discovery.text);
    assert_eq!(discovery.auth_header.as_deref(), Some("disabled"));
    assert_eq!(
        discovery.cors_methods.as_deref(),
        Some("GET, POST, OPTIONS")
    );
    assert_eq!(
        discovery.cors_headers.as_deref(),
        Some("Content-Type, Authorization")
    );
    let services = discovery.json()["services"].clone();
    let ids: Vec<&str> = services
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "metformin-egfr",
            "metformin-egfr-order-sign",
            "metformin-egfr-order-select",
            "af-anticoagulation",
            "home-bp",
            "nsaid-gastroprotection",
            "score2",
            "phq9",
            "metformin-egfr-ema",
            "metformin-egfr-ema-order-sign",
            "metformin-egfr-ema-order-select"
        ]
    );
    let metformin = &services[0];
    assert_eq!(metformin["hook"], "patient-view");
    assert_eq!(metformin["title"], "Metformin and kidney function");
    assert_eq!(
        metformin["prefetch"]["patient"],
        "Patient/{{context.patientId}}"
    );
    assert!(
        metformin["prefetch"]["observations"]
            .as_str()
            .is_some_and(|q| q.starts_with("Observation?patient={{context.patientId}}")),
        "{metformin}"
    );
    assert!(metformin["prefetch"]["medicationRequests"].is_string());
    assert!(metformin["prefetch"].get("conditions").is_none());

    // patient-view: the sample plugin's card, with spec fields and UUIDs.
    let body = metformin_call().to_string();
    let call = post(&server.url("/cds-services/metformin-egfr"), None, &body);
    assert_eq!(call.status, 200, "{}", call.text);
    let card = &call.json()["cards"][0];
    assert_eq!(card["summary"], METFORMIN_SUMMARY, "{}", call.text);
    assert_eq!(card["indicator"], "warning");
    assert!(
        card["source"]["label"]
            .as_str()
            .is_some_and(|l| l.contains("NHG"))
    );
    assert!(card["detail"].is_string());
    assert_eq!(card["uuid"].as_str().map(str::len), Some(36));
    assert_eq!(card["selectionBehavior"], "at-most-one");
    assert_eq!(
        card["suggestions"][0]["uuid"].as_str().map(str::len),
        Some(36)
    );
    assert!(card["suggestions"][0]["label"].is_string());
    replies.push(call.text.clone());

    // A second call answers with new UUIDs.
    let again = post(&server.url("/cds-services/metformin-egfr"), None, &body);
    assert_ne!(again.json()["cards"][0]["uuid"], card["uuid"]);
    replies.push(again.text);

    // Another plugin on the same patient: no cards.
    let mut other = metformin_call();
    other["prefetch"]["conditions"] = json!(null);
    let af = post(
        &server.url("/cds-services/af-anticoagulation"),
        None,
        &other.to_string(),
    );
    assert_eq!(af.status, 200, "{}", af.text);
    assert_eq!(af.json(), json!({"cards": []}));

    // A required prefetch key missing: 412 with an OperationOutcome.
    let mut partial = metformin_call();
    partial["prefetch"]
        .as_object_mut()
        .map(|p| p.remove("observations"));
    let gap = post(
        &server.url("/cds-services/metformin-egfr"),
        None,
        &partial.to_string(),
    );
    assert_eq!(gap.status, 412, "{}", gap.text);
    assert_eq!(gap.json()["resourceType"], "OperationOutcome");
    assert_eq!(gap.error_code(), "missing-prefetch");
    // A Patient the client found no data for (`null`) cannot be evaluated either.
    let mut no_patient = metformin_call();
    no_patient["prefetch"]["patient"] = json!(null);
    let gap = post(
        &server.url("/cds-services/metformin-egfr"),
        None,
        &no_patient.to_string(),
    );
    assert_eq!(gap.status, 412, "{}", gap.text);

    // Errors, each an OperationOutcome with its status.
    let malformed = post(
        &server.url("/cds-services/metformin-egfr"),
        None,
        "{\"hook\":",
    );
    assert_eq!(malformed.status, 400, "{}", malformed.text);
    assert_eq!(malformed.json()["resourceType"], "OperationOutcome");
    let unknown = post(&server.url("/cds-services/no-such-plugin"), None, &body);
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.error_code(), "unknown-service");
    let mut wrong_hook = metformin_call();
    wrong_hook["hook"] = json!("order-sign");
    wrong_hook["context"]["draftOrders"] =
        json!({"resourceType": "Bundle", "type": "collection", "entry": []});
    let wrong = post(
        &server.url("/cds-services/metformin-egfr"),
        None,
        &wrong_hook.to_string(),
    );
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert_eq!(wrong.error_code(), "wrong-hook");
    let route = get(&server.url("/nowhere"), None);
    assert_eq!(route.status, 404);
    assert_eq!(route.json()["resourceType"], "OperationOutcome");
    let (status, text) = oversize(&server.base);
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("OperationOutcome"), "{text}");
    let health = get(&server.url("/healthz"), None);
    assert_eq!(health.status, 200);

    // Every evaluation is in the decision log under a pseudonym.
    let log = server.decision_log();
    let decisions: Vec<&Value> = log.iter().filter(|l| l["kind"] == "decision").collect();
    assert_eq!(decisions.len(), 3, "two metformin calls and one af call");
    let record = decisions[0]["record"].as_str().unwrap_or_default();
    assert!(record.starts_with("pt-"), "{record}");
    assert_eq!(decisions[1]["record"], decisions[0]["record"]);

    // Nothing identifying of the prefetched Patient in any response, output or file.
    let (_, stderr) = server.stop_leaking_nothing(&replies);
    assert!(stderr.contains("service call"), "structured logs: {stderr}");
    assert!(stderr.contains("random key"), "{stderr}");
}

/// A body over the cap, announced by its Content-Length: 413 before the body is read.
fn oversize(base: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let length = 9 * 1024 * 1024;
    let head = format!(
        "POST /cds-services/metformin-egfr HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("write");
    let mut text = String::new();
    let _ = BufReader::new(stream).read_to_string(&mut text);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The spec's order-sign example shape for metformin-egfr: no current metformin, eGFR 40, and
/// a draft order of metformin 1000 mg (RxNorm 861004) twice a day, beside a lab order.
fn order_call(hook: &str) -> Value {
    let mut call = metformin_call();
    call["hook"] = json!(hook);
    call["prefetch"]["medicationRequests"] =
        json!({"resourceType": "Bundle", "type": "searchset", "entry": []});
    call["prefetch"]["observations"]["entry"][0]["resource"]["valueQuantity"]["value"] = json!(40);
    call["context"]["encounterId"] = json!("89284");
    call["context"]["draftOrders"] = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {
            "resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "861004",
                "display": "metformin hydrochloride 1000 MG Oral Tablet"}]},
            "subject": {"reference": format!("Patient/{PATIENT_ID}"), "display": format!("{GIVEN} {FAMILY}")},
            "dosageInstruction": [{
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1000, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}]
            }]
        }},
        {"resource": {
            "resourceType": "ServiceRequest", "id": "draft-2", "status": "draft", "intent": "order",
            "code": {"coding": [{"system": "http://loinc.org", "code": "62238-1"}]},
            "subject": {"reference": format!("Patient/{PATIENT_ID}")}
        }}
    ]});
    if hook == "order-select" {
        call["context"]["selections"] = json!(["MedicationRequest/draft-1"]);
    }
    call
}

#[test]
fn serve_order_sign_and_order_select_give_the_draft_orders_to_the_plugin() {
    let mut server = Server::start(&["--no-auth"], |_| {});
    let discovery = get(&server.url("/cds-services"), None).json();
    let hooks: Vec<(String, String)> = discovery["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["hook"] != "patient-view")
        .map(|s| (s["id"].to_string(), s["hook"].to_string()))
        .collect();
    let metformin_orders = [
        ("\"metformin-egfr-order-sign\"", "\"order-sign\""),
        ("\"metformin-egfr-order-select\"", "\"order-select\""),
    ];
    for (id, hook) in metformin_orders {
        assert!(
            hooks.iter().any(|(i, h)| i == id && h == hook),
            "no {id} service at {hook}: {hooks:?}"
        );
    }
    let order_service = discovery["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "metformin-egfr-order-sign"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        order_service["prefetch"], discovery["services"][0]["prefetch"],
        "an order hook prefetches what the plugin's data needs ask, as patient-view does"
    );

    let mut replies = Vec::new();
    for hook in ["order-sign", "order-select"] {
        let url = server.url(&format!("/cds-services/metformin-egfr-{hook}"));
        let call = post(&url, None, &order_call(hook).to_string());
        assert_eq!(call.status, 200, "{hook}: {}", call.text);
        let cards = call.json()["cards"].clone();
        let summary = cards[0]["summary"].as_str().unwrap_or_default().to_owned();
        assert!(
            summary.contains("eGFR 40") && summary.contains("2000 mg/day"),
            "{hook}: the draft order's 2 × 1000 mg is not what the card judged: {cards}"
        );
        assert_eq!(cards.as_array().map(Vec::len), Some(1), "{hook}: {cards}");
        replies.push(call.text);
    }
    // The same patient at patient-view: the draft order is not a current prescription.
    let mut view = order_call("patient-view");
    view["context"]
        .as_object_mut()
        .map(|c| c.remove("draftOrders"));
    let call = post(
        &server.url("/cds-services/metformin-egfr"),
        None,
        &view.to_string(),
    );
    assert_eq!(call.status, 200, "{}", call.text);
    assert_eq!(
        call.json(),
        json!({"cards": []}),
        "patient-view saw a draft order"
    );
    // An order hook sent to the patient-view service, and the reverse: 400 wrong-hook.
    let wrong = post(
        &server.url("/cds-services/metformin-egfr-order-sign"),
        None,
        &view.to_string(),
    );
    assert_eq!(
        (wrong.status, wrong.error_code()),
        (400, json!("wrong-hook")),
        "{}",
        wrong.text
    );
    // A plugin that serves only patient-view offers no order services.
    assert!(
        !hooks
            .iter()
            .any(|(id, _)| id.starts_with("\"af-anticoagulation")),
        "{hooks:?}"
    );

    // The decision log holds the order-sign input: the draft, minimised and mapped (ATC).
    let log = server.decision_log();
    let orders: Vec<&Value> = log
        .iter()
        .filter(|l| l["kind"] == "decision" && l["input"]["hook"].get("OrderSign").is_some())
        .collect();
    assert_eq!(
        orders.len(),
        2,
        "two order calls logged as order-sign: {log:?}"
    );
    let drafts = &orders[0]["input"]["hook"]["OrderSign"];
    assert_eq!(
        drafts.as_array().map(Vec::len),
        Some(1),
        "only the MedicationRequest: {drafts}"
    );
    assert!(drafts.to_string().contains("A10BA02"), "{drafts}");
    server.stop_leaking_nothing(&replies);
}

#[test]
fn serve_silent_answers_no_cards_but_logs_the_decision() {
    let mut server = Server::start(&["--no-auth", "--silent"], |_| {});
    let call = post(
        &server.url("/cds-services/metformin-egfr"),
        None,
        &metformin_call().to_string(),
    );
    assert_eq!(call.status, 200, "{}", call.text);
    assert_eq!(call.json(), json!({"cards": []}));
    let log = server.decision_log();
    let decision = log
        .iter()
        .find(|l| l["kind"] == "decision")
        .expect("a decision line");
    assert_eq!(
        decision["output"]["cards"][0]["summary"], METFORMIN_SUMMARY,
        "{decision}"
    );
    server.stop();
}

#[test]
fn serve_refuses_no_auth_off_loopback() {
    let output = Command::new(env!("CARGO_BIN_EXE_livelab"))
        .args(["serve", "--no-auth", "--addr", "0.0.0.0:0"])
        .env("LIVELAB_CACHE_DIR", cache_dir())
        .current_dir(tempfile::tempdir().expect("tempdir").path())
        .output()
        .expect("livelab");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
}

// ------------------------------------------------------------------------------------------
// Client JWTs.

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(name)).expect("fixture")
}

fn es384(name: &str) -> EncodingKey {
    EncodingKey::from_ec_pem(&pem(name)).expect("an EC key")
}

/// Writes the issuer allowlist (the fixture ES384 key under `KID`) into `dir`.
fn write_issuers(dir: &Path) {
    let jwk = Jwk::from_encoding_key(&es384("es384-private.pem"), Algorithm::ES384).expect("jwk");
    let mut jwk = serde_json::to_value(jwk).expect("jwk json");
    jwk["kid"] = json!(KID);
    std::fs::write(
        dir.join("ehr.jwks.json"),
        json!({"keys": [jwk]}).to_string(),
    )
    .expect("write jwks");
    std::fs::write(
        dir.join("issuers.toml"),
        format!("[[issuer]]\niss = \"{ISS}\"\njwks_path = \"ehr.jwks.json\"\n"),
    )
    .expect("write issuers");
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unique_jti() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("jti-{}-{}", now(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A token with this header and these claims, signed ES384 with `key`.
fn signed(header: Value, claims: Value, key: &EncodingKey) -> String {
    let message = format!("{}.{}", b64(&header), b64(&claims));
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), key, Algorithm::ES384).expect("signing");
    format!("{message}.{signature}")
}

fn header() -> Value {
    json!({"alg": "ES384", "typ": "JWT", "kid": KID})
}

fn claims(aud: &str) -> Value {
    let now = now();
    json!({"iss": ISS, "aud": aud, "exp": now + 60, "iat": now, "jti": unique_jti()})
}

#[test]
fn serve_checks_client_jwts() {
    let mut server = Server::start(&["--issuers", "issuers.toml"], write_issuers);
    let key = es384("es384-private.pem");
    let discovery_url = server.url("/cds-services");
    let service_url = server.url("/cds-services/metformin-egfr");

    // Valid: discovery and a call, with no auth-disabled header.
    let ok = get(
        &discovery_url,
        Some(&signed(header(), claims(&discovery_url), &key)),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.auth_header, None);
    let token = signed(header(), claims(&service_url), &key);
    let call = post(&service_url, Some(&token), &metformin_call().to_string());
    assert_eq!(call.status, 200, "{}", call.text);
    assert_eq!(call.json()["cards"][0]["summary"], METFORMIN_SUMMARY);

    // Replayed jti.
    let replay = post(&service_url, Some(&token), &metformin_call().to_string());
    assert_eq!(replay.status, 401, "{}", replay.text);
    assert_eq!(replay.error_code(), "replayed-jti");

    let mut expired = claims(&discovery_url);
    expired["exp"] = json!(now() - 3600);
    expired["iat"] = json!(now() - 3660);
    let mut unknown_iss = claims(&discovery_url);
    unknown_iss["iss"] = json!("https://evil.example.org");
    let none_token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": KID})),
        b64(&claims(&discovery_url))
    );
    let hs256_token = {
        let message = format!(
            "{}.{}",
            b64(&json!({"alg": "HS256", "typ": "JWT", "kid": KID})),
            b64(&claims(&discovery_url))
        );
        let secret = EncodingKey::from_secret(&pem("es384-public.pem")).expect("hmac key");
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &secret, Algorithm::HS256)
            .expect("hmac");
        format!("{message}.{signature}")
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("expired", Some(signed(header(), expired, &key))),
        (
            "wrong aud",
            Some(signed(header(), claims(&service_url), &key)),
        ),
        ("unknown iss", Some(signed(header(), unknown_iss, &key))),
        ("alg none", Some(none_token)),
        ("HS256", Some(hs256_token)),
        (
            "bad signature",
            Some(signed(
                header(),
                claims(&discovery_url),
                &es384("es384-other-private.pem"),
            )),
        ),
    ];
    for (name, token) in cases {
        let refused = get(&discovery_url, token.as_deref());
        assert_eq!(refused.status, 401, "{name}: {}", refused.text);
        assert_eq!(refused.json()["resourceType"], "OperationOutcome", "{name}");
    }
    // /metrics is authenticated like every route, and counts the refusals.
    let metrics_url = server.url("/metrics");
    assert_eq!(get(&metrics_url, None).status, 401);
    let metrics = get(
        &metrics_url,
        Some(&signed(header(), claims(&metrics_url), &key)),
    );
    assert_eq!(metrics.status, 200, "{}", metrics.text);
    assert!(
        metrics
            .text
            .contains("livelab_serve_errors_total{route=\"auth\",service=\"unknown\",code=\"replayed-jti\"} 1\n"),
        "{}",
        metrics.text
    );
    // A call refused for its token is not evaluated.
    let log = server.decision_log();
    assert_eq!(
        log.iter().filter(|l| l["kind"] == "decision").count(),
        1,
        "only the one authenticated call was evaluated"
    );
    let (_, stderr) = server.stop();
    assert!(stderr.contains("refused token"), "{stderr}");
}

// ------------------------------------------------------------------------------------------
// Feedback and metrics.

fn feedback_body(items: Value) -> String {
    json!({"feedback": items}).to_string()
}

#[test]
fn serve_feedback_is_stored_with_its_decision_and_counted_in_metrics() {
    let mut server = Server::start(&["--no-auth"], |_| {});
    let call = post(
        &server.url("/cds-services/metformin-egfr"),
        None,
        &metformin_call().to_string(),
    );
    assert_eq!(call.status, 200, "{}", call.text);
    let card = call.json()["cards"][0].clone();
    let card_uuid = card["uuid"].as_str().expect("a card uuid").to_owned();
    let suggestion = card["suggestions"][0]["uuid"]
        .as_str()
        .expect("a suggestion uuid")
        .to_owned();
    let feedback_url = server.url("/cds-services/metformin-egfr/feedback");

    // Accepted with a suggestion, then overridden with a reason and a comment naming the
    // patient (counted, never stored).
    let accepted = post(
        &feedback_url,
        None,
        &feedback_body(json!([{
            "card": card_uuid, "outcome": "accepted",
            "acceptedSuggestions": [{"id": suggestion}],
            "outcomeTimestamp": "2026-01-05T10:00:00Z"
        }])),
    );
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let overridden = post(
        &feedback_url,
        None,
        &feedback_body(json!([{
            "card": card_uuid, "outcome": "overridden",
            "overrideReason": {
                "reason": {"system": "http://example.org/reasons", "code": "patient-refused", "display": "Patient refused"},
                "userComment": format!("{GIVEN} {FAMILY} prefers to wait")
            },
            "outcomeTimestamp": "2026-01-05T11:00:00+01:00"
        }])),
    );
    assert_eq!(overridden.status, 200, "{}", overridden.text);

    // Refused: an unknown card, a card of another service, a suggestion not on the card, an
    // unknown service, a malformed body. Nothing of these is stored.
    let unknown = post(
        &feedback_url,
        None,
        &feedback_body(
            json!([{"card": "00000000-0000-4000-8000-000000000000", "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00Z"}]),
        ),
    );
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(unknown.json()["resourceType"], "OperationOutcome");
    assert_eq!(unknown.error_code(), "unknown-card");
    let other_service = post(
        &server.url("/cds-services/af-anticoagulation/feedback"),
        None,
        &feedback_body(
            json!([{"card": card_uuid, "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00Z"}]),
        ),
    );
    assert_eq!(other_service.status, 404, "{}", other_service.text);
    assert_eq!(other_service.error_code(), "unknown-card");
    let foreign_suggestion = post(
        &feedback_url,
        None,
        &feedback_body(
            json!([{"card": card_uuid, "outcome": "accepted", "acceptedSuggestions": [{"id": "not-on-the-card"}], "outcomeTimestamp": "2026-01-05T10:00:00Z"}]),
        ),
    );
    assert_eq!(
        foreign_suggestion.status, 400,
        "{}",
        foreign_suggestion.text
    );
    assert_eq!(foreign_suggestion.error_code(), "invalid-feedback");
    let no_service = post(
        &server.url("/cds-services/no-such-plugin/feedback"),
        None,
        &feedback_body(
            json!([{"card": card_uuid, "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00Z"}]),
        ),
    );
    assert_eq!(no_service.status, 404, "{}", no_service.text);
    assert_eq!(no_service.error_code(), "unknown-service");
    let malformed = post(&feedback_url, None, "{\"feedback\":");
    assert_eq!(malformed.status, 400, "{}", malformed.text);

    // Two lines, each naming the decision by pseudonym, plugin and output hash.
    let decisions = server.decision_log();
    let decision = decisions
        .iter()
        .find(|l| l["kind"] == "decision")
        .expect("a decision line");
    let feedback = server.feedback_log();
    assert_eq!(feedback.len(), 2, "{feedback:?}");
    for line in &feedback {
        assert_eq!(line["schema"], "livelab.feedback/1");
        assert_eq!(line["service"], "metformin-egfr");
        assert_eq!(line["decision"]["record"], decision["record"]);
        assert_eq!(line["decision"]["output_sha256"], decision["output_sha256"]);
        assert_eq!(line["decision"]["plugin"], "metformin-egfr");
        assert_eq!(line["card_index"], 0);
    }
    assert_eq!(feedback[0]["outcome"], "accepted");
    assert_eq!(feedback[0]["accepted_suggestions"], json!([0]));
    assert_eq!(feedback[1]["outcome"], "overridden");
    assert_eq!(feedback[1]["override_reason"]["code"], "patient-refused");
    assert_eq!(feedback[1]["override_comment"], true);
    assert_eq!(feedback[1]["outcome_timestamp"], "2026-01-05T10:00:00Z");

    // Metrics: requests by service and status, the latency histogram, feedback counts.
    let text = server.metrics_containing(&[
        "livelab_serve_requests_total{route=\"service\",service=\"metformin-egfr\",status=\"200\"} 1\n",
        "livelab_serve_requests_total{route=\"feedback\",service=\"metformin-egfr\",status=\"200\"} 2\n",
        "livelab_serve_errors_total{route=\"feedback\",service=\"metformin-egfr\",code=\"unknown-card\"} 1\n",
        "livelab_serve_errors_total{route=\"feedback\",service=\"unknown\",code=\"unknown-service\"} 1\n",
        "livelab_serve_request_duration_seconds_count{service=\"metformin-egfr\"} 1\n",
        "livelab_serve_request_duration_seconds_bucket{le=\"+Inf\",service=\"metformin-egfr\"} 1\n",
        "livelab_serve_request_duration_seconds_count{service=\"phq9\"} 0\n",
        "livelab_serve_feedback_total{service=\"metformin-egfr\",outcome=\"accepted\"} 1\n",
        "livelab_serve_feedback_total{service=\"metformin-egfr\",outcome=\"overridden\"} 1\n",
        "# TYPE livelab_serve_feedback counter\n",
    ]);
    assert!(!text.contains("no-such-plugin"), "{text}");

    server.stop_leaking_nothing(std::slice::from_ref(&text));
}

// ------------------------------------------------------------------------------------------
// Bounds and shutdown, with a plugin that spins until its deadline.

/// Writes `trial.toml` serving the `spin` test guest with a plugin deadline of `deadline_ms`
/// and fuel enough that the deadline stops it.
fn spin_trial(deadline_ms: u64) -> impl FnOnce(&Path) {
    spin_trial_with(deadline_ms, 100_000_000_000)
}

/// [`spin_trial`] with a fuel budget.
fn spin_trial_with(deadline_ms: u64, fuel: u64) -> impl FnOnce(&Path) {
    move |dir: &Path| {
        std::fs::write(
            dir.join("trial.toml"),
            format!(
                "name = \"spin\"\nregion = \"test\"\nrecords = {records:?}\nallow_unsigned = true\n\n\
                 [limits]\ndeadline_ms = {deadline_ms}\nfuel = {fuel}\n\n[[plugin]]\npath = {plugin:?}\n",
                records = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-records"),
                plugin = test_guests::SPIN,
            ),
        )
        .expect("write trial.toml");
    }
}

fn spin_call() -> String {
    let mut call = metformin_call();
    call["prefetch"] = json!({"patient": call["prefetch"]["patient"].clone()});
    call.to_string()
}

#[test]
fn serve_bounds_answer_503_with_retry_after_and_stay_healthy() {
    let mut server = Server::start(
        &[
            "trial.toml",
            "--no-auth",
            "--jobs",
            "1",
            "--queue",
            "1",
            "--request-deadline-ms",
            "800",
        ],
        spin_trial(500),
    );
    let url = server.url("/cds-services/spin");
    let body = spin_call();
    let calls: Vec<JoinHandle<Reply>> = (0..8)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || post(&url, None, &body))
        })
        .collect();
    let replies: Vec<Reply> = calls
        .into_iter()
        .map(|c| c.join().expect("a reply"))
        .collect();
    let codes: Vec<(u16, String)> = replies
        .iter()
        .map(|r| (r.status, r.error_code().as_str().unwrap_or("").to_owned()))
        .collect();
    for reply in &replies {
        assert!(matches!(reply.status, 500 | 503), "{codes:?}");
        assert_eq!(reply.json()["resourceType"], "OperationOutcome");
        if reply.status == 503 {
            assert_eq!(reply.retry_after.as_deref(), Some("1"), "{codes:?}");
        }
    }
    let count = |code: &str| codes.iter().filter(|(_, c)| c == code).count();
    // One slot and one place in the queue: most calls are turned away at once.
    assert!(count("overloaded") >= 1, "{codes:?}");
    // The queued call waits for the spinning one (500 ms) and passes the 800 ms deadline. (The
    // 300 ms between the plugin's deadline and the request's leave room for a loaded machine:
    // the first call must fail by its plugin's deadline, not the request's.)
    assert!(count("request-deadline") >= 1, "{codes:?}");
    // The plugin's own deadline stops it: its failure, not the request's.
    assert!(count("plugin-failed") >= 1, "{codes:?}");

    // Still healthy, and evaluating again once the slot is free.
    assert_eq!(get(&server.url("/healthz"), None).status, 200);
    std::thread::sleep(Duration::from_millis(800));
    let after = post(&url, None, &body);
    assert_eq!(after.status, 500, "{}", after.text);
    assert_eq!(after.error_code(), "plugin-failed");
    server.metrics_containing(&[
        "livelab_serve_plugin_failures_total{service=\"spin\",cause=\"deadline-exceeded\"}",
        "livelab_serve_errors_total{route=\"service\",service=\"spin\",code=\"overloaded\"}",
        "livelab_serve_requests_total{route=\"service\",service=\"spin\",status=\"503\"}",
    ]);
    // Every evaluation that ran is logged, one answered at the deadline too (a call whose
    // deadline passed while it waited for the slot never ran); those turned away never ran.
    server.stop();
    let decisions = server
        .decision_log()
        .into_iter()
        .filter(|l| l["kind"] == "decision")
        .count();
    let failed = count("plugin-failed") + 1;
    assert!(
        (failed..=failed + count("request-deadline")).contains(&decisions),
        "{decisions} decisions for {codes:?}"
    );
}

#[test]
fn serve_a_plugin_that_outruns_its_slice_is_evaluated_again_with_its_whole_deadline() {
    // 10⁹ fuel of spinning is about half a second: far longer than the slice a call gets on
    // the request's thread (even when a loaded machine delays the epoch ticks that end it),
    // shorter than the plugin's deadline. The answer must be the plugin's own outcome (its
    // fuel spent), logged once, not a deadline cut at the slice.
    let mut server = Server::start(
        &["trial.toml", "--no-auth", "--request-deadline-ms", "8000"],
        spin_trial_with(7000, 1_000_000_000),
    );
    let reply = post(&server.url("/cds-services/spin"), None, &spin_call());
    assert_eq!(reply.status, 500, "{}", reply.text);
    assert_eq!(reply.error_code(), "plugin-failed");
    server.metrics_containing(&[
        "livelab_serve_evaluations_moved_total{service=\"spin\"} 1\n",
        "livelab_serve_plugin_failures_total{service=\"spin\",cause=\"fuel-exhausted\"} 1\n",
    ]);
    server.stop();
    let decisions: Vec<Value> = server
        .decision_log()
        .into_iter()
        .filter(|l| l["kind"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(
        decisions[0]["stopped_by"], "fuel-exhausted",
        "{}",
        decisions[0]
    );
}

#[test]
fn serve_health_is_answered_while_every_slot_runs_a_spinning_plugin() {
    // Two calls spin for three seconds, one per evaluation slot (and as many runtime threads
    // as a 2-core machine has): a runtime thread is held for a slice at most, so the health
    // check is answered long before either plugin stops.
    let mut server = Server::start(
        &[
            "trial.toml",
            "--no-auth",
            "--jobs",
            "2",
            "--request-deadline-ms",
            "4000",
        ],
        spin_trial(3000),
    );
    let url = server.url("/cds-services/spin");
    let calls: Vec<JoinHandle<Reply>> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || post(&url, None, &spin_call()))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let health = get(&server.url("/healthz"), None);
    let waited = asked.elapsed();
    assert_eq!(health.status, 200, "{}", health.text);
    assert!(
        waited < Duration::from_millis(1500),
        "/healthz took {waited:?} while two plugins spun (they stop at 3 s)"
    );
    for call in calls {
        let reply = call.join().expect("a reply");
        assert_eq!(reply.error_code(), "plugin-failed", "{}", reply.text);
    }
    server.stop();
}

#[test]
fn serve_sigterm_drains_the_call_in_flight_and_exits_zero() {
    let mut server = Server::start(&["trial.toml", "--no-auth"], spin_trial(300));
    let url = server.url("/cds-services/spin");
    let body = spin_call();
    let in_flight = std::thread::spawn(move || post(&url, None, &body));
    // Let the call reach the plugin, then ask the server to stop.
    std::thread::sleep(Duration::from_millis(100));
    let (_, stderr) = server.stop();
    let reply = in_flight.join().expect("a reply");
    assert_eq!(
        reply.status, 500,
        "the call in flight is answered: {}",
        reply.text
    );
    assert_eq!(reply.error_code(), "plugin-failed");
    assert!(
        server.status.is_some_and(|s| s.success()),
        "exit status {:?}:\n{stderr}",
        server.status
    );
    assert!(stderr.contains("stopped"), "{stderr}");
    let log = server.decision_log();
    let decision = log
        .iter()
        .find(|l| l["kind"] == "decision")
        .expect("the decision of the call in flight");
    assert_eq!(decision["stopped_by"], "deadline-exceeded");
}

// ------------------------------------------------------------------------------------------
// The trial continues live: a session's decision log judged against the region's labels.

/// The region's pseudonym key: the trial file's `pseudonym_key`, so that the labels (keyed
/// by pseudonym, as the anonymised exports are) name the patients the session saw.
const REGION_KEY: &str = "a region's pseudonym key, 32 bytes or more";

/// `(EHR patient id, eGFR, label)`: a true alert, a true silence, a false alert, and a
/// patient only one of the two plugins is called for.
const LIVE_PATIENTS: [(&str, u32, u8); 4] = [
    ("ehr-patient-a", 25, 1),
    ("ehr-patient-b", 80, 0),
    ("ehr-patient-c", 25, 0),
    ("ehr-patient-d", 25, 1),
];

fn live_trial(dir: &Path) {
    std::fs::write(dir.join("pseudonym.key"), REGION_KEY).expect("key");
    std::fs::write(
        dir.join("trial.toml"),
        format!(
            r#"
name = "Metformin, live"
region = "Testregio"
records = "exports"
labels = "labels.csv"
pseudonym_key = "pseudonym.key"
allow_unsigned = true
{METFORMIN_PAIR}"#
        ),
    )
    .expect("trial.toml");
    let key = livelab_host::anonymise::PseudonymKey::from_file(&dir.join("pseudonym.key"))
        .expect("the key reads");
    let mut labels = String::from("record,topic,expected\n");
    for (id, _, label) in LIVE_PATIENTS {
        labels += &format!("{},metformin-egfr,{label}\n", key.patient_pseudonym(id));
    }
    std::fs::write(dir.join("labels.csv"), labels).expect("labels.csv");
}

#[test]
fn a_serve_session_is_judged_against_labels_like_a_batch_trial() {
    let mut server = Server::start(&["trial.toml", "--no-auth"], live_trial);
    let mut replies = Vec::new();
    let mut cards = Vec::new();
    for (id, egfr, _) in LIVE_PATIENTS {
        let services: &[&str] = if id.ends_with('d') {
            &["metformin-egfr"]
        } else {
            &["metformin-egfr", "metformin-egfr-ema"]
        };
        for service in services {
            let call = post(
                &server.url(&format!("/cds-services/{service}")),
                None,
                &patient_view_call(id, egfr).to_string(),
            );
            assert_eq!(call.status, 200, "{id} at {service}: {}", call.text);
            if *service == "metformin-egfr" {
                cards.push(call.json()["cards"].clone());
            }
            replies.push(call.text);
        }
    }
    // Patient a opened again (the earlier decision is superseded), and an order signed.
    let again = post(
        &server.url("/cds-services/metformin-egfr"),
        None,
        &patient_view_call("ehr-patient-a", 25).to_string(),
    );
    assert_eq!(again.status, 200, "{}", again.text);
    let order = post(
        &server.url("/cds-services/metformin-egfr-order-sign"),
        None,
        &order_call("order-sign").to_string(),
    );
    assert_eq!(order.status, 200, "{}", order.text);
    replies.extend([again.text.clone(), order.text]);

    // Feedback: a's card accepted (its first suggestion), c's overridden.
    let feedback_url = server.url("/cds-services/metformin-egfr/feedback");
    let a_card = &again.json()["cards"][0];
    let items = [
        json!({"card": a_card["uuid"], "outcome": "accepted",
            "acceptedSuggestions": [{"id": a_card["suggestions"][0]["uuid"]}],
            "outcomeTimestamp": "2026-01-05T10:00:00Z"}),
        json!({"card": cards[2][0]["uuid"], "outcome": "overridden",
            "outcomeTimestamp": "2026-01-05T10:00:00Z"}),
    ];
    for item in items {
        let reply = post(&feedback_url, None, &feedback_body(json!([item])));
        assert_eq!(reply.status, 200, "{item}: {}", reply.text);
    }
    server.stop_leaking_nothing(&replies);
    assert!(
        !server.written().contains("ehr-patient-"),
        "an EHR patient id in the session's files"
    );

    // Judged as a trial, in the session's directory.
    let dir = server.dir.path();
    let registry = format!("sqlite://{}/registry.sqlite", dir.display());
    let judged = livelab_in(
        dir,
        &[
            "trial",
            "trial.toml",
            "--decisions",
            "livelab-serve-out/decisions.jsonl",
            "--out",
            "live",
            "--registry",
            &registry,
        ],
    );
    let stdout = String::from_utf8_lossy(&judged.stdout);
    let stderr = String::from_utf8_lossy(&judged.stderr);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("live/summary.json")).unwrap_or_default())
            .unwrap_or_else(|e| {
                panic!("no live/summary.json ({e}):\nstdout:\n{stdout}\nstderr:\n{stderr}")
            });

    // Patient d: a record error naming the plugin that was never called; a, b, c judged.
    let run = &summary["run"];
    assert_eq!(
        run["records"],
        json!({"read": 4, "evaluated": 3, "errors": 1}),
        "{run}"
    );
    let errors = run["record_errors"].to_string();
    assert!(errors.contains("metformin-egfr-ema"), "{errors}");
    let effectiveness = &summary["effectiveness"];
    for (i, plugin) in ["metformin-egfr", "metformin-egfr-ema"].iter().enumerate() {
        let judged = &effectiveness["plugins"][i];
        assert_eq!(judged["plugin"], *plugin, "{judged}");
        assert_eq!(
            judged["confusion"],
            json!({"tp": 1, "fp": 1, "tn": 1, "fn": 0}),
            "{plugin}: a and c alerted, b did not; c's label is 0"
        );
    }
    let compared = &effectiveness["comparisons"][0];
    assert_eq!(compared["patients"], 3, "{compared}");
    assert_eq!(compared["label_positive"]["both"], 1, "{compared}");

    // The session beside it: decisions, superseded, orders, cards and feedback per plugin.
    let live = &summary["live"];
    assert_eq!(
        live["decisions"], 9,
        "7 patient-view, a again, one order: {live}"
    );
    assert_eq!(live["superseded"], 1, "{live}");
    assert_eq!(live["order_decisions"], 1, "{live}");
    let baseline = &live["plugins"][0];
    assert_eq!(baseline["plugin"], "metformin-egfr", "{live}");
    assert_eq!(baseline["feedback"]["accepted"], 1, "{baseline}");
    assert_eq!(baseline["feedback"]["overridden"], 1, "{baseline}");
    assert_eq!(live["plugins"][1]["feedback"]["accepted"], 0, "{live}");
    assert!(stdout.contains("live session 20"), "{stdout}");
    let report = std::fs::read_to_string(dir.join("live/report.html")).expect("report.html");
    assert!(
        report.contains("id=\"feedback\""),
        "the report's feedback table"
    );
    for text in [&*stdout, &*stderr, &report, &summary.to_string()] {
        assert_no_identifiers("the live trial's output", text);
        for (id, _, _) in LIVE_PATIENTS {
            assert!(
                !text.contains(id),
                "{id} in the live trial's output:\n{text}"
            );
        }
    }

    // Registered like a batch trial, with its live part.
    let runs = livelab_in(dir, &["runs", "--json", "--registry", &registry]);
    let runs: Value = serde_json::from_slice(&runs.stdout).expect("runs --json");
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
}
