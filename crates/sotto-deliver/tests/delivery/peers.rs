//! The Python peers: where the test virtual environment is, the aiosmtpd sink as a child
//! process, and the dkimpy verifier.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test environment's Python (`SOTTO_TEST_PYTHON`, or `target/test-venv` made by
/// `scripts/test`). Without it the test is skipped locally and fails in CI.
pub fn python() -> Option<PathBuf> {
    let path = std::env::var_os("SOTTO_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/python"));
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var("CI").is_err(), "CI must provide the test virtual environment with aiosmtpd and dkimpy (scripts/test makes it)");
    eprintln!("skipped: no test virtual environment at {}; run scripts/test to make it", path.display());
    None
}

fn peer(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers").join(name)
}

/// An aiosmtpd server on a loopback port, stopped when dropped.
pub struct Sink {
    child: Child,
    pub port: u16,
    pub ca_pem: Vec<u8>,
    dir: tempfile::TempDir,
}

impl Sink {
    /// Starts a sink; with `tls` it offers STARTTLS (with a fresh certificate for 127.0.0.1)
    /// and refuses mail before it.
    pub fn start(python: &Path, tls: bool) -> Sink {
        let dir = tempfile::tempdir().expect("dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
        let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
        std::fs::write(dir.path().join("cert.pem"), &cert_pem).expect("cert");
        std::fs::write(dir.path().join("key.pem"), &key_pem).expect("key");
        std::fs::create_dir(dir.path().join("out")).expect("out");
        let mut command = Command::new(python);
        command.arg(peer("smtp_sink.py")).arg("--port").arg(port.to_string()).arg("--out").arg(dir.path().join("out"));
        if tls {
            command.arg("--cert").arg(dir.path().join("cert.pem")).arg("--key").arg(dir.path().join("key.pem")).arg("--require-tls");
        }
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start the SMTP sink");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut ready).expect("ready line");
        assert_eq!(ready.trim(), "ready", "the SMTP sink did not start");
        Sink { child, port, ca_pem: cert_pem.into_bytes(), dir }
    }

    /// The message files kept so far, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("out")).expect("out").filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect();
        files.sort();
        files
    }

    /// Waits (up to ten seconds) until `n` messages are kept, and answers them.
    pub fn messages(&self, n: usize) -> Vec<PathBuf> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.files().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.files()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// dkimpy's verdict per file: "<file> pass|fail <algorithm> <signed headers>".
pub fn dkim_verify(python: &Path, selector: &str, domain: &str, record: &str, files: &[PathBuf]) -> Vec<String> {
    let output = Command::new(python).arg(peer("dkim_verify.py")).arg(selector).arg(domain).arg(record).args(files).output().expect("run dkimpy");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(|l| format!("{l} ")).collect()
}
