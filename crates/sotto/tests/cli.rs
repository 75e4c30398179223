//! The `sotto` binary end to end: the demo (and its patient portal in headless Chromium),
//! configuration errors, keys, and `audit verify`'s exit codes after rows are tampered with in SQL.

use std::path::Path;
use std::process::{Command, Output};

use sqlx::Executor;

use sotto_store::testing::{backends, fresh_store};

#[path = "cli/browser.rs"]
mod browser;

/// Arguments, environment, and a phrase the error must contain.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

fn sotto(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sotto"));
    cmd.args(args).env_remove("SOTTO_DATABASE_URL").env_remove("SOTTO_MASTER_KEY_FILE").env_remove("SOTTO_MASTER_KEY");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run sotto")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn demo(dir: &Path) -> Output {
    sotto(&["demo", "--data-dir", dir.to_str().expect("utf8"), "--patients", "40", "--no-serve"], &[])
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn the_demo_creates_its_database_master_key_and_api_key_and_can_run_twice() {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path().join("demo");
    let out = demo(&dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("40 patients"), "{}", text(&out));
    assert!(text(&out).contains("15 library templates added"), "{}", text(&out));
    let key = std::fs::read_to_string(dir.join("demo-api-key")).expect("key file");
    assert!(key.starts_with("sotto_"));
    assert!(!text(&out).contains(key.trim()), "the all-scope key is never printed: {}", text(&out));
    assert!(dir.join("master.key").exists() && dir.join("sotto.db").exists());
    #[cfg(unix)]
    for (path, expected) in [(dir.clone(), 0o700), (dir.join("sotto.db"), 0o600), (dir.join("sotto.db-wal"), 0o600), (dir.join("demo-api-key"), 0o600), (dir.join("master.key"), 0o600), (dir.join("audit-checkpoints"), 0o700)] {
        if path.exists() {
            assert_eq!(mode(&path), expected, "{}", path.display());
        }
    }
    let again = demo(&dir);
    assert!(again.status.success() && text(&again).contains("40 patients"), "{}", text(&again));
    assert!(text(&again).contains("0 library templates added"), "the library loads once: {}", text(&again));
    assert_eq!(std::fs::read_to_string(dir.join("demo-api-key")).expect("key file"), key, "a second start keeps the valid key");
    let db = format!("sqlite://{}", dir.join("sotto.db").display());
    let master = dir.join("master.key");
    let master = master.to_str().expect("utf8");
    let list = sotto(&["keys", "list", "--database", &db, "--master-key-file", master], &[]);
    assert_eq!(text(&list).matches(" demo ").count(), 1, "one demo key after two starts: {}", text(&list));
    assert!(text(&list).contains("active"), "{}", text(&list));
    let verify = sotto(&["audit", "verify", "--database", &db, "--master-key-file", master], &[]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(!text(&verify).contains("against 0 signed checkpoints"), "the demo writes checkpoints: {}", text(&verify));
}

/// A store on `backend` with its master key in a file, as `sotto` reads it.
async fn store_with_key_file(backend: sotto_store::Backend, dir: &Path) -> (sotto_store::testing::TestStore, String) {
    let t = fresh_store(backend).await;
    let key_file = dir.join("master.key");
    std::fs::write(&key_file, t.master.to_base64().as_str()).expect("key file");
    (t, key_file.to_str().expect("utf8").to_owned())
}

#[tokio::test]
async fn audit_verify_exits_1_naming_the_first_tampered_entry() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("dir");
        let (t, master) = store_with_key_file(backend, tmp.path()).await;
        let url = t.url.expose().to_owned();
        let checkpoints = tmp.path().join("checkpoints");
        let common = ["--database", url.as_str(), "--master-key-file", master.as_str(), "--checkpoints", checkpoints.to_str().expect("utf8")];
        let cmd = |head: &[&'static str]| head.iter().copied().chain(common.iter().copied()).collect::<Vec<&str>>();
        let key = sotto(&[cmd(&["keys", "create"]), vec!["--scope", "events:write"]].concat(), &[]);
        assert!(key.status.success(), "{}", text(&key));
        sotto(&[cmd(&["keys", "create"]), vec!["--scope", "audit:read"]].concat(), &[]);
        let missing = sotto(&cmd(&["audit", "verify"]), &[]);
        assert_eq!(missing.status.code(), Some(1), "a missing checkpoint directory is not a pass: {}", text(&missing));
        let dir = sotto_store::CheckpointDir::open(&checkpoints).expect("dir");
        let empty = sotto(&cmd(&["audit", "verify"]), &[]);
        assert_eq!(empty.status.code(), Some(1), "an emptied checkpoint directory is not a pass: {}", text(&empty));
        let alone = sotto(&[cmd(&["audit", "verify"]), vec!["--no-checkpoints"]].concat(), &[]);
        assert!(alone.status.success(), "{}", text(&alone));
        let writer = sotto_app::CheckpointWriter::new(t.store.clone(), dir, t.master.checkpoint_signer());
        writer.write_now(jiff::Timestamp::now()).await.expect("checkpoint");
        let ok = sotto(&cmd(&["audit", "verify"]), &[]);
        assert!(ok.status.success() && text(&ok).contains("2 entries checked against 1 signed checkpoints"), "{}", text(&ok));
        t.store.pool().execute("UPDATE audit_log SET object = 'api_key:forged' WHERE seq = 1").await.expect("tamper");
        let bad = sotto(&cmd(&["audit", "verify"]), &[]);
        assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
        assert!(text(&bad).contains("entry 1"), "{}", text(&bad));
        let other_key = tmp.path().join("other.key");
        assert!(sotto(&["keys", "generate-master", "--out", other_key.to_str().expect("utf8")], &[]).status.success());
        let wrong = sotto(&["audit", "verify", "--database", &url, "--master-key-file", other_key.to_str().expect("utf8"), "--no-checkpoints"], &[]);
        assert!(text(&wrong).contains("entry 1"), "{}", text(&wrong));
        assert_eq!(wrong.status.code(), Some(1), "a chain checked with another key does not verify: {}", text(&wrong));
    }
}

#[tokio::test]
async fn audit_verify_with_checkpoints_catches_entries_removed_from_the_end() {
    for backend in backends() {
        let tmp = tempfile::tempdir().expect("dir");
        let (t, master) = store_with_key_file(backend, tmp.path()).await;
        let url = t.url.expose().to_owned();
        let checkpoints = tmp.path().join("checkpoints");
        let dir = sotto_store::CheckpointDir::open(&checkpoints).expect("dir");
        for _ in 0..4 {
            let out = sotto(&["keys", "create", "--database", &url, "--master-key-file", &master, "--scope", "events:write"], &[]);
            assert!(out.status.success(), "{}", text(&out));
        }
        let app = sotto_app::CheckpointWriter::new(t.store.clone(), dir, t.master.checkpoint_signer());
        assert_eq!(app.write_now(jiff::Timestamp::now()).await.expect("checkpoint"), Some(4));
        t.store.pool().execute("DELETE FROM audit_log WHERE seq > 2").await.expect("delete");
        t.store.pool().execute("UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE seq = 2) WHERE id = 1").await.expect("head");
        let args = ["audit", "verify", "--database", url.as_str(), "--master-key-file", master.as_str(), "--checkpoints", checkpoints.to_str().expect("utf8")];
        let out = sotto(&args, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("entry 3") && text(&out).contains("signed checkpoint"), "{}", text(&out));
    }
}

#[tokio::test]
async fn keys_are_listed_without_secrets_and_a_revoked_key_stops_working() {
    let tmp = tempfile::tempdir().expect("dir");
    let (t, master) = store_with_key_file(sotto_store::Backend::Sqlite, tmp.path()).await;
    let url = t.url.expose().to_owned();
    let created = sotto(&["keys", "create", "--database", &url, "--master-key-file", &master, "--scope", "events:write", "--name", "ehr"], &[]);
    let secret = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    let negative = sotto(&["keys", "create", "--database", &url, "--master-key-file", &master, "--scope", "events:write", "--expires-in-days=-3"], &[]);
    assert_eq!(negative.status.code(), Some(2), "{}", text(&negative));
    assert!(text(&negative).contains("--expires-in-days"), "{}", text(&negative));
    let list = sotto(&["keys", "list", "--database", &url, "--master-key-file", &master], &[]);
    let listed = text(&list);
    assert!(!listed.contains(&secret) && listed.contains("ehr") && listed.contains("active"), "{listed}");
    let id = listed.lines().find(|l| l.contains("ehr")).and_then(|l| l.split_whitespace().next()).expect("id").to_owned();
    let revoked = sotto(&["keys", "revoke", "--database", &url, "--master-key-file", &master, &id], &[]);
    assert!(revoked.status.success(), "{}", text(&revoked));
    assert!(text(&sotto(&["keys", "list", "--database", &url, "--master-key-file", &master], &[])).contains("revoked"));
    let again = sotto(&["keys", "revoke", "--database", &url, "--master-key-file", &master, &id], &[]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    let app = sotto_app::App::new(t.store.clone(), sotto_crypto::Keyring::new(&t.master), sotto_app::AppSettings::default());
    assert!(app.authenticate(Some(&secret), jiff::Timestamp::now()).await.is_err(), "a revoked key no longer authenticates");
}

#[test]
fn invalid_configuration_stops_with_a_message_that_says_how_to_fix_it() {
    let dir = tempfile::tempdir().expect("dir");
    let weak = dir.path().join("weak.key");
    std::fs::write(&weak, "00".repeat(32)).expect("write");
    let config = dir.path().join("sotto.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\ncolour = \"blue\"\n").expect("write");
    let gate = dir.path().join("gate.toml");
    std::fs::write(&gate, "[gate]\nwindow = \"21:00-08:00\"\n").expect("write");
    let caps = dir.path().join("caps.toml");
    std::fs::write(&caps, "[[gate.caps]]\npurposes = [\"marketing\"]\nwindow_hours = 0\nmax = 1\n").expect("write");
    let baa = dir.path().join("baa.toml");
    std::fs::write(&baa, "[providers.email]\nname = \"smtp\"\nbaa_signed = \"2026-05-01\"\nbaa_expires = \"2026-01-01\"\n").expect("write");
    let db = format!("sqlite://{}", dir.path().join("x.db").display());
    let cases: Vec<Case> = vec![
        (vec!["serve", "--database", &db, "--config", gate.to_str().expect("utf8")], vec![], "gate.window"),
        (vec!["serve", "--database", &db, "--config", caps.to_str().expect("utf8")], vec![], "gate.caps[0].window_hours"),
        (vec!["serve", "--database", &db, "--config", baa.to_str().expect("utf8")], vec![], "providers.email.baa_expires"),
        (vec!["serve", "--database", &db], vec![("SOTTO_GATE_REQUIRE_VERIFIED", "email,pigeon")], "gate.require_verified"),
        (vec!["serve", "--database", &db], vec![("SOTTO_TLS_CERT_FILE", "/nonexistent/cert.pem")], "SOTTO_TLS_KEY_FILE"),
        (vec!["serve", "--database", &db], vec![], "sotto keys generate-master"),
        (vec!["serve", "--database", "mysql://x"], vec![], "sqlite://"),
        (vec!["serve", "--database", &db, "--listen", "nowhere"], vec![], "HOST:PORT"),
        (vec!["serve", "--database", &db, "--production", "--master-key-file", weak.to_str().expect("utf8")], vec![], "does not look random"),
        (vec!["serve", "--config", config.to_str().expect("utf8")], vec![], "colour"),
        (vec!["serve", "--database", &db], vec![("SOTTO_REQUEST_TIMEOUT_SECS", "soon")], "whole number"),
        (vec!["keys", "create", "--database", &db, "--scope", "root"], vec![], "known scopes"),
        (vec!["serve", "--database", &db], vec![("SOTTO_CLINIC_NAME", "Riverside Cancer Center")], "reveals health information"),
    ];
    for (args, envs, expected) in cases {
        let out = sotto(&args, &envs);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(expected), "{args:?} should mention {expected:?}: {}", text(&out));
    }
}

fn lint_with(input: &str, extra: &[&str]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .arg("lint")
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    child.wait_with_output().expect("wait")
}

#[test]
fn lint_writes_one_verdict_per_line_and_exits_by_the_worst_one() {
    let clean = r#"{"id": "a", "channel": "push", "surface": "push_body", "text": "You have a new secure message. Tap to view."}"#;
    let bad = r#"{"id": "b", "channel": "push", "surface": "push_body", "text": "Your lab results are in. Tap to view."}"#;
    let out = lint_with(&format!("{clean}\n"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = lint_with(&format!("{clean}\n\n{bad}\n"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!((lines[0]["id"].as_str(), lines[0]["verdict"].as_str()), (Some("a"), Some("pass")));
    assert_eq!((lines[1]["id"].as_str(), lines[1]["verdict"].as_str()), (Some("b"), Some("block")));
    assert_eq!(lines[1]["findings"][0]["span"], serde_json::json!([5, 16]));
    let out = lint_with(&format!("{clean}\nnot json\n{{\"channel\": \"sms\", \"surface\": \"push_body\", \"text\": \"x\"}}\n"), &[]);
    assert_eq!(out.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(errors.contains("line 2:") && errors.contains("line 3:") && errors.contains("surface"), "{errors}");
    let human = lint_with(&format!("{bad}\n"), &["--format", "human"]);
    let shown = String::from_utf8_lossy(&human.stdout);
    assert!(shown.contains("     ^^^^^^^^^^^ lab_test") && shown.contains("suggestion: You have a new secure message"), "{shown}");
}

/// Counts rows of the demo database with a query answering one integer.
async fn count(pool: &sqlx::AnyPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect("count")
}

#[cfg(unix)]
#[tokio::test]
async fn a_worker_killed_with_sigkill_again_and_again_loses_no_journey_run_and_repeats_no_step() {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = tmp.path().join("demo");
    let out = sotto(&["demo", "--data-dir", dir.to_str().expect("utf8"), "--patients", "3000", "--no-serve"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let db = format!("sqlite://{}", dir.join("sotto.db").display());
    let master = dir.join("master.key");
    let worker = || {
        Command::new(env!("CARGO_BIN_EXE_sotto"))
            .args(["worker", "--database", &db, "--master-key-file", master.to_str().expect("utf8")])
            .env_remove("SOTTO_DATABASE_URL")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn worker")
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db).await.expect("open");
    // The bookings are read into runs and the runs moved by the worker; it dies mid-way, three times.
    for after in [150, 300, 450] {
        let mut child = worker();
        tokio::time::sleep(std::time::Duration::from_millis(after)).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let moved = count(&pool, "SELECT COUNT(*) FROM journey_runs WHERE step <> 'confirmation'").await;
        eprintln!("killed after {after} ms: {moved} runs moved");
    }
    let mut child = worker();
    let pending = "SELECT COUNT(*) FROM events WHERE journeyed = 0";
    let unmoved = "SELECT COUNT(*) FROM journey_runs WHERE step = 'confirmation' AND state = 'active'";
    for _ in 0..300 {
        if count(&pool, pending).await == 0 && count(&pool, unmoved).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let runs = count(&pool, "SELECT COUNT(*) FROM journey_runs").await;
    assert!(runs > 1_000, "every booking has its run: {runs}");
    assert_eq!(count(&pool, pending).await, 0, "no booking is lost");
    assert_eq!(count(&pool, unmoved).await, 0, "no run is left behind");
    let confirmations = count(&pool, "SELECT COUNT(*) FROM outbox WHERE journey_ref LIKE '%/confirmation'").await;
    assert_eq!(confirmations, runs, "one confirmation per run");
    let queued = count(&pool, "SELECT COUNT(*) FROM audit_log WHERE action = 'message.queue' AND outcome LIKE '%:journey:%'").await;
    let journey_messages = count(&pool, "SELECT COUNT(*) FROM outbox WHERE source = 'journey'").await;
    assert_eq!(queued, journey_messages, "each journey message was queued once, never a step again");
    let verify = sotto(&["audit", "verify", "--database", &db, "--master-key-file", master.to_str().expect("utf8")], &[]);
    assert!(verify.status.success(), "{}", text(&verify));
}

#[tokio::test]
async fn a_csv_import_reports_refused_rows_by_line_and_column_and_resumes_after_a_kill() {
    let tmp = tempfile::tempdir().expect("dir");
    let (t, master) = store_with_key_file(sotto_store::Backend::Sqlite, tmp.path()).await;
    let url = t.url.expose().to_owned();
    let csv_path = tmp.path().join("patients.csv");
    let mut csv = String::from("MRN,Email,Verified,Zone,Status\n");
    for n in 0..20_000 {
        let email = if n == 15_000 { "not-an-email".to_owned() } else { format!("p{n}@example.org") };
        let status = if n == 15_001 { "HIV positive" } else { "active" };
        if n == 18_000 {
            // Cut short: refused whole, never stored with its cells in the wrong columns.
            csv.push_str(&format!("mrn-{n:06},{email}\n"));
            continue;
        }
        csv.push_str(&format!("mrn-{n:06},{email},yes,America/Chicago,{status}\n"));
    }
    std::fs::write(&csv_path, csv).expect("csv");
    let mapping = tmp.path().join("mapping.toml");
    std::fs::write(&mapping, "id = \"MRN\"\n[traits]\nemail = \"Email\"\nemail_verified = \"Verified\"\ntimezone = \"Zone\"\nstatus = \"Status\"\n").expect("mapping");
    let args = ["import", "patients", csv_path.to_str().expect("utf8"), "--mapping", mapping.to_str().expect("utf8"), "--database", &url, "--master-key-file", &master];
    // Killed once its first thousand rows are in: the progress file says where it stopped.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sotto")).args(args).env_remove("SOTTO_DATABASE_URL").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("spawn");
    let progress = csv_path.with_extension("import-progress");
    for _ in 0..600 {
        if std::fs::read_to_string(&progress).is_ok_and(|text| text.split_whitespace().count() == 3) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert!(progress.exists(), "the first chunk left its progress");
    let out = sotto(&args, &[]);
    assert_eq!(out.status.code(), Some(1), "refused rows make the exit 1: {}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("resuming after line"), "{shown}");
    assert!(shown.contains("line 15002: column \"Email\": invalid_email") && shown.contains("line 15003: column \"Status\": health_term_in_free_text"), "{shown}");
    assert!(!shown.contains("not-an-email") && !shown.contains("HIV"), "never a value: {shown}");
    assert!(shown.contains("line 18002: column \"(the whole row)\": cells_do_not_match_header"), "{shown}");
    assert!(shown.contains("3 rows refused"), "{shown}");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM patients").fetch_one(t.store.pool()).await.expect("count");
    assert_eq!(count, 19_997, "every good row once, whatever the kill");
    let again = sotto(&args, &[]);
    assert!(text(&again).contains("imported 0 patients (19997 already there)"), "{}", text(&again));
    assert!(!progress.exists(), "a finished import leaves no progress file");
}
