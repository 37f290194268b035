//! Headless Chromium, for the tests of what a browser shows: `report.html` and the dashboard.
//! Chromium is required: without it a test fails rather than passing unchecked.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::temp_dir;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Loads `url` and returns the DOM Chromium built.
pub fn dom(url: &str) -> String {
    let dom = chromium(url, &["--dump-dom".into()]);
    assert!(dom.contains("</html>"), "chromium printed no DOM for {url}");
    dom
}

/// Loads `url` and writes a 1280-pixel-wide screenshot of it to `png`.
pub fn screenshot(url: &str, png: &Path) {
    chromium(
        url,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2000".into(),
        ],
    );
    assert!(
        png.is_file(),
        "chromium wrote no screenshot of {url} to {}",
        png.display()
    );
}

/// Runs headless Chromium on `url` with `args`; returns what it printed on stdout.
fn chromium(url: &str, args: &[String]) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: this test renders a page in headless Chromium. \
         Install it with `apt-get install chromium` (Debian/Ubuntu), then rerun."
    );
    let profile = temp_dir();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting chromium");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("headless Chromium did not finish {url} within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().unwrap().expect("chromium's output is UTF-8");
    let errors = errors.join().unwrap();
    assert!(
        status.success(),
        "chromium failed on {url} ({status}):\n{errors}"
    );
    out
}
