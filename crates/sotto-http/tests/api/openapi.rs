//! The OpenAPI description against a running server: schemathesis (from PyPI) sends what the
//! description allows to every operation; no answer may be a server error or break the
//! description.

use std::process::Command;

use crate::support::{python, spawn_app_on};

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_that_breaks_the_description() {
    let Some(python) = python() else { return };
    let t = spawn_app_on(sotto_store::Backend::Sqlite, sotto_http::HttpSettings::default()).await;
    let (base, key) = (t.base.clone(), t.admin_key.clone());
    // Its example cache lives and dies with the test: every run starts from the description.
    let workdir = tempfile::tempdir().expect("dir");
    let cwd = workdir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let bin = python.parent().expect("venv bin").join("schemathesis");
        Command::new(bin)
            .args(["run", &format!("{base}/openapi.json"), "--url", &base])
            .args(["--header", &format!("Authorization: Bearer {key}")])
            .args(["--checks", "not_a_server_error,response_schema_conformance"])
            .args(["--max-examples", "12", "--seed", "7", "--workers", "1", "--request-timeout", "20"])
            .args(["--exclude-path-regex", "^/(dev/|v1/campaigns/\\{id\\}/progress/stream)"])
            .env("SCHEMATHESIS_HOOKS", "")
            .current_dir(&cwd)
            .output()
    })
    .await
    .expect("join")
    .expect("schemathesis");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{report}");
    println!("{}", report.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"));
}
