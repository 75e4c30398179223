//! The patient portal and the staff console in headless Chromium against `sotto demo`:
//! `tests/peers/portal_browser.py` and `console_browser.py` (Selenium with Debian's Chromium and
//! ChromeDriver, axe-core from the npm registry) walk each flow and each refusal, and fail on
//! any serious or critical accessibility finding.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the walk needs, or why it cannot run here (CI installs it all and must run it).
fn tools() -> Result<(PathBuf, PathBuf, PathBuf, PathBuf), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("SOTTO_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join("target/test-venv/bin/python"));
    let axe = std::env::var_os("SOTTO_TEST_AXE").map(PathBuf::from).unwrap_or_else(|| root.join("target/test-node/node_modules/axe-core/axe.min.js"));
    let chromium = PathBuf::from("/usr/bin/chromium");
    let driver = PathBuf::from("/usr/bin/chromedriver");
    for (path, what) in [(&python, "the test Python (scripts/test makes it)"), (&axe, "axe-core (scripts/test installs it)"), (&chromium, "Debian's chromium"), (&driver, "Debian's chromium-driver")] {
        if !path.exists() {
            return Err(format!("{what} is missing at {}", path.display()));
        }
    }
    Ok((python, axe, chromium, driver))
}

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn answers(address: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

/// Starts `sotto demo` on a free port, runs a walk script from `tests/peers` against it with
/// the demo's key (and `extra` files of its data directory as variables), and answers the
/// report the script prints last. `None` where the tools are missing outside CI.
fn walk(script: &str, extra: &[(&str, &str)]) -> Option<serde_json::Value> {
    let (python, axe, chromium, driver) = match tools() {
        Ok(found) => found,
        Err(missing) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: {missing}");
            return None;
        }
        Err(missing) => panic!("CI must run the browser tests: {missing}"),
    };
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path().join("demo");
    let address = format!("127.0.0.1:{}", free_port());
    let log = tmp.path().join("demo.log");
    let child = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args(["demo", "--data-dir", dir.to_str().expect("utf8"), "--patients", "40", "--listen", &address])
        .env_remove("SOTTO_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start the demo");
    let _demo = Demo(child);
    let started = Instant::now();
    while !answers(&address) {
        assert!(started.elapsed() < Duration::from_secs(120), "the demo did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(200));
    }
    let key = std::fs::read_to_string(dir.join("demo-api-key")).expect("the demo's key");
    let mut command = Command::new(python);
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers").join(script))
        .env("SOTTO_BASE", format!("http://{address}"))
        .env("SOTTO_KEY", key.trim())
        .env("AXE_JS", axe)
        .env("CHROMIUM", chromium)
        .env("CHROMEDRIVER", driver);
    for (variable, file) in extra {
        command.env(variable, dir.join(file));
    }
    let out = command.output().expect("run the browser walk");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser walk failed:\n{stderr}\n{stdout}");
    Some(serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("the walk's report"))
}

#[test]
fn the_portal_works_end_to_end_in_headless_chromium_with_no_serious_accessibility_violation() {
    let Some(report) = walk("portal_browser.py", &[]) else { return };
    let pages = report["accessibility"].as_array().expect("pages");
    assert!(pages.len() >= 12, "axe ran on every page: {report}");
    println!("{report}");
}

#[test]
fn the_console_signs_in_with_totp_and_each_role_reaches_only_its_pages_in_headless_chromium() {
    let Some(report) = walk("console_browser.py", &[("CONSOLE_USERS", "console-users.txt")]) else { return };
    let matrix = &report["summary"]["matrix"];
    assert_eq!(matrix["cells"], 6 * 14, "every page against every role: {report}");
    assert_eq!(matrix["unexpected_allows"], 0, "{report}");
    let pages = report["accessibility"].as_array().expect("pages");
    assert!(pages.len() >= 20, "axe ran on every console page: {report}");
    println!("{report}");
}
