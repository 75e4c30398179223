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
    let key = std::fs::read_to_string(dir.path().join("demo-api-key")).expect("key file");
    assert!(key.starts_with("sotto_"));
    assert!(dir.path().join("master.key").exists() && dir.path().join("sotto.db").exists());
    let again = demo(dir.path());
    assert!(again.status.success() && text(&again).contains("40 patients"), "{}", text(&again));
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
    ];
    for (args, envs, expected) in cases {
        let out = sotto(&args, &envs);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(expected), "{args:?} should mention {expected:?}: {}", text(&out));
    }
}
