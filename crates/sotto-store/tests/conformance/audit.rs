//! The audit chain against an attacker with SQL access but not the master key: edits,
//! deletions, reorderings, rewrites recomputed without the key, and truncations hidden by
//! moving the head back, each caught by verification with the signed checkpoints.

use sqlx::{Executor, Row};

use sotto_core::audit::{AuditEvent, AuditRecord};
use sotto_crypto::{ChainBreak, Checkpoint, MasterKey};
use sotto_store::testing::TestStore;
use sotto_store::{AuditStore, CheckpointDir, IngestStore, StoreResult, verify_audit_chain};

use crate::{Replace, ctx, each_backend, track};

fn event(seq: i64) -> AuditEvent {
    AuditEvent {
        at_micros: seq,
        actor: "key:ehr".into(),
        action: "patient.identify".into(),
        object: format!("patient:{}", if seq % 3 == 0 { "p-target" } else { "p-other" }),
        outcome: "success".into(),
        request_id: format!("req-{seq}"),
        source_ip: None,
    }
}

/// A store with `n` entries, and a checkpoint of its head signed with the store's master key.
async fn chain_with_checkpoint(t: &TestStore, n: i64, dir: &CheckpointDir) {
    t.store.append_audit((1..=n).map(event).collect()).await.expect("append");
    let (seq, hash) = t.store.audit_head().await.expect("head");
    dir.write(&t.master.checkpoint_signer().sign(Checkpoint { seq, hash, at_micros: 1 })).expect("checkpoint");
}

async fn verify(t: &TestStore, dir: Option<&CheckpointDir>) -> Result<i64, ChainBreak> {
    let checkpoints = dir.map(|d| d.load(&t.master.checkpoint_signer().verifier()).expect("load")).unwrap_or_default();
    verify_audit_chain(&t.store, &t.master.chain_key(), &checkpoints, |_| {}).await.expect("read")
}

async fn sql(t: &TestStore, statement: String) {
    t.store.pool().execute(sqlx::AssertSqlSafe(statement)).await.expect("tamper");
}

async fn all_records(t: &TestStore) -> Vec<AuditRecord> {
    t.store.audit_page(0, i64::MAX).await.expect("page")
}

/// Rewrites the whole chain as an attacker would: keep `keep` of the entries, renumber them,
/// and recompute every hash with a key of the attacker's own (they do not have the master key).
async fn rewrite(t: &TestStore, keep: impl Fn(&AuditRecord) -> bool) {
    let forged_key = MasterKey::generate().chain_key();
    let kept: Vec<AuditEvent> = all_records(t).await.into_iter().filter(|r| keep(r)).map(|r| r.event).collect();
    sql(t, "DELETE FROM audit_log".into()).await;
    let mut prev = vec![0u8; 32];
    for (i, e) in kept.iter().enumerate() {
        let seq = i as i64 + 1;
        let hash = forged_key.link(&prev, &e.canonical_bytes(seq));
        sqlx::query("INSERT INTO audit_log (seq, at, actor, action, object, outcome, request_id, source_ip, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(seq)
            .bind(e.at_micros)
            .bind(e.actor.as_str())
            .bind(e.action.as_str())
            .bind(e.object.as_str())
            .bind(e.outcome.as_str())
            .bind(e.request_id.as_str())
            .bind(e.source_ip.as_deref())
            .bind(prev.clone())
            .bind(hash.clone())
            .execute(t.store.pool())
            .await
            .expect("insert forged row");
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1").bind(kept.len() as i64).bind(prev).execute(t.store.pool()).await.expect("move head");
}

fn checkpoint_dir() -> (tempfile::TempDir, CheckpointDir) {
    let tmp = tempfile::tempdir().expect("dir");
    let dir = CheckpointDir::open(tmp.path().join("audit-checkpoints")).expect("open");
    (tmp, dir)
}

#[tokio::test]
async fn deleting_the_last_hundred_rows_and_moving_the_head_back_is_caught_by_the_checkpoint() {
    each_backend(async |t| {
        let (_tmp, dir) = checkpoint_dir();
        chain_with_checkpoint(t, 150, &dir).await;
        sql(t, "DELETE FROM audit_log WHERE seq > 50".into()).await;
        let row = sqlx::query("SELECT hash FROM audit_log WHERE seq = 50").fetch_one(t.store.pool()).await.expect("row");
        let hash: Vec<u8> = row.try_get("hash").expect("hash");
        sqlx::query("UPDATE audit_head SET seq = 50, hash = $1 WHERE id = 1").bind(hash).execute(t.store.pool()).await.expect("head");
        assert_eq!(verify(t, None).await, Ok(50), "the database alone looks consistent");
        assert_eq!(verify(t, Some(&dir)).await.map_err(|b| b.seq), Err(51));
    })
    .await;
}

#[tokio::test]
async fn truncating_the_chain_and_resetting_the_head_is_caught_by_the_checkpoint() {
    each_backend(async |t| {
        let (_tmp, dir) = checkpoint_dir();
        chain_with_checkpoint(t, 20, &dir).await;
        sql(t, "DELETE FROM audit_log".into()).await;
        sqlx::query("UPDATE audit_head SET seq = 0, hash = $1 WHERE id = 1").bind(vec![0u8; 32]).execute(t.store.pool()).await.expect("head");
        assert_eq!(verify(t, None).await, Ok(0), "an empty chain looks consistent");
        assert_eq!(verify(t, Some(&dir)).await.map_err(|b| b.seq), Err(1));
    })
    .await;
}

#[tokio::test]
async fn editing_a_middle_row_and_recomputing_the_rest_without_the_key_is_caught() {
    each_backend(async |t| {
        let (_tmp, dir) = checkpoint_dir();
        chain_with_checkpoint(t, 30, &dir).await;
        sql(t, "UPDATE audit_log SET actor = 'key:someone-else' WHERE seq = 12".into()).await;
        rewrite(t, |_| true).await;
        assert_eq!(verify(t, None).await.map_err(|b| b.seq), Err(1), "a chain recomputed with another key fails at its first entry");
        assert_eq!(verify(t, Some(&dir)).await.map_err(|b| b.seq), Err(1));
    })
    .await;
}

#[tokio::test]
async fn deleting_every_row_about_one_patient_and_recomputing_is_caught() {
    each_backend(async |t| {
        let (_tmp, dir) = checkpoint_dir();
        chain_with_checkpoint(t, 30, &dir).await;
        rewrite(t, |r| r.event.object != "patient:p-target").await;
        assert!(verify(t, None).await.is_err());
        assert!(verify(t, Some(&dir)).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn editing_deleting_and_reordering_rows_in_sql_break_verification_at_that_row() {
    let cases = [
        ("UPDATE audit_log SET actor = 'key:someone-else' WHERE seq = 3", 3),
        ("DELETE FROM audit_log WHERE seq = 2", 2),
        ("DELETE FROM audit_log WHERE seq = 5", 5),
        ("UPDATE audit_log SET seq = CASE seq WHEN 2 THEN 1002 WHEN 4 THEN 1004 END WHERE seq IN (2, 4)", 2),
    ];
    for (statement, seq) in cases {
        each_backend(async |t| {
            let s = &t.store;
            for i in 0..5 {
                s.ingest(&[track(&format!("m{i}"), "p1", i)], &Replace, &ctx(i), vec![]).await.expect("ingest");
            }
            assert_eq!(verify(t, None).await, Ok(5));
            sql(t, statement.into()).await;
            if statement.contains("1002") {
                sql(t, "UPDATE audit_log SET seq = CASE seq WHEN 1002 THEN 4 WHEN 1004 THEN 2 END WHERE seq IN (1002, 1004)".into()).await;
            }
            assert_eq!(verify(t, None).await.map_err(|b| b.seq), Err(seq), "{statement}");
        })
        .await;
    }
}

/// A store whose chain grows by five entries the moment its head is first read, as a live
/// system's does while `sotto audit verify` runs.
#[derive(Clone)]
struct Live<'a>(&'a TestStore);

impl AuditStore for Live<'_> {
    async fn append_audit(&self, events: Vec<AuditEvent>) -> StoreResult<()> {
        self.0.store.append_audit(events).await
    }

    async fn audit_page(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        self.0.store.audit_page(after_seq, limit).await
    }

    async fn audit_head(&self) -> StoreResult<(i64, Vec<u8>)> {
        let head = self.0.store.audit_head().await?;
        self.0.store.append_audit((100..105).map(event).collect()).await?;
        Ok(head)
    }
}

#[tokio::test]
async fn verifying_a_live_chain_checks_up_to_its_head_at_the_start_and_reports_nothing_missing() {
    each_backend(async |t| {
        t.store.append_audit((1..=7).map(event).collect()).await.expect("append");
        let outcome = verify_audit_chain(&Live(t), &t.master.chain_key(), &[], |_| {}).await.expect("read");
        assert_eq!(outcome, Ok(7));
        assert_eq!(verify(t, None).await, Ok(12), "the entries written meanwhile verify on the next run");
    })
    .await;
}
