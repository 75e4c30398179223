//! The `sotto` binary end to end: the demo, configuration errors, keys, and `audit verify`'s
//! exit codes after rows are tampered with in SQL.

use std::path::Path;
use std::process::{Command, Output};

use sqlx::Executor;

use sotto_store::testing::{backends, fresh_store};

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

#[test]
fn the_demo_creates_its_database_master_key_and_api_key_and_can_run_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let out = demo(dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("40 patients"), "{}", text(&out));
    assert!(text(&out).contains("8 library templates added"), "{}", text(&out));
    let key = std::fs::read_to_string(dir.path().join("demo-api-key")).expect("key file");
    assert!(key.starts_with("sotto_"));
    assert!(dir.path().join("master.key").exists() && dir.path().join("sotto.db").exists());
    let again = demo(dir.path());
    assert!(again.status.success() && text(&again).contains("40 patients"), "{}", text(&again));
    assert!(text(&again).contains("0 library templates added"), "the library loads once: {}", text(&again));
    let db = format!("sqlite://{}", dir.path().join("sotto.db").display());
    let verify = sotto(&["audit", "verify", "--database", &db], &[]);
    assert!(verify.status.success(), "{}", text(&verify));
}

#[tokio::test]
async fn audit_verify_exits_1_naming_the_first_tampered_entry() {
    for backend in backends() {
        let t = fresh_store(backend).await;
        let url = t.url.expose().to_owned();
        let key = sotto(&["keys", "create", "--database", &url, "--scope", "events:write"], &[]);
        assert!(key.status.success(), "{}", text(&key));
        sotto(&["keys", "create", "--database", &url, "--scope", "audit:read"], &[]);
        let ok = sotto(&["audit", "verify", "--database", &url], &[]);
        assert!(ok.status.success() && text(&ok).contains("2 entries checked"), "{}", text(&ok));
        t.store.pool().execute("UPDATE audit_log SET object = 'api_key:forged' WHERE seq = 1").await.expect("tamper");
        let bad = sotto(&["audit", "verify", "--database", &url], &[]);
        assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
        assert!(text(&bad).contains("entry 1"), "{}", text(&bad));
    }
}

#[test]
fn invalid_configuration_stops_with_a_message_that_says_how_to_fix_it() {
    let dir = tempfile::tempdir().expect("dir");
    let weak = dir.path().join("weak.key");
    std::fs::write(&weak, "00".repeat(32)).expect("write");
    let config = dir.path().join("sotto.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\ncolour = \"blue\"\n").expect("write");
    let db = format!("sqlite://{}", dir.path().join("x.db").display());
    let cases: Vec<Case> = vec![
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
