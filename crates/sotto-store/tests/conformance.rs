//! The storage conformance suite: every test runs against SQLite, and against PostgreSQL
//! when `SOTTO_TEST_DATABASE_URL` is set, and must pass the same way on both.

use sqlx::Executor;

use sotto_core::dictionary::{DataClass, FieldKind, FieldSpec, ValueType};
use sotto_store::testing::{TestStore, backends, fresh_store};
use sotto_store::{
    ApiKeyRecord, AuditContext, AuditStore, DictionaryStore, EventRecord, HealthStore, IndexKind, IngestStore, IngestWrite,
    IngestJob, KeyStore, PatientRecord, PatientStore, ProfileMerger, Review, StoreError, TemplateRow, TemplateStore, TemplateVersionRow, WriteOutcome,
    verify_audit_chain,
};

#[path = "conformance/audit.rs"]
mod audit;
#[path = "conformance/send_rates.rs"]
mod send_rates;

/// For these tests the "changes" are a whole record; merging keeps the creation time.
pub(crate) struct Replace;

impl ProfileMerger<PatientRecord> for Replace {
    fn merge(&self, _: &str, existing: Option<&PatientRecord>, changes: &PatientRecord, now: i64) -> Result<PatientRecord, String> {
        let mut out = changes.clone();
        out.created_at = existing.map_or(now, |e| e.created_at);
        out.updated_at = now;
        Ok(out)
    }
}

pub(crate) fn ctx(at: i64) -> AuditContext {
    AuditContext { actor: "key:test".into(), request_id: "req-1".into(), source_ip: Some("127.0.0.1".into()), at_micros: at }
}

fn record(id: &str, email_index: &[u8]) -> PatientRecord {
    PatientRecord {
        external_id: id.into(),
        key_version: Some(1),
        wrapped_key: Some(vec![1, 2, 3]),
        identifiers: Some(vec![4, 5, 6]),
        email_index: Some(email_index.to_vec()),
        phone_index: None,
        timezone: Some("America/Chicago".into()),
        language: Some("en".into()),
        preferred_channel: Some("sms".into()),
        traits: r#"{"status":"active"}"#.into(),
        created_at: 0,
        updated_at: 0,
    }
}

fn identify(message_id: &str, rec: PatientRecord) -> IngestWrite<PatientRecord> {
    IngestWrite::Identify { message_id: message_id.into(), external_id: rec.external_id.clone(), changes: rec }
}

pub(crate) fn track(message_id: &str, patient: &str, at: i64) -> IngestWrite<PatientRecord> {
    IngestWrite::Track(EventRecord {
        message_id: message_id.into(),
        external_id: patient.into(),
        name: "appointment_booked".into(),
        properties: r#"{"appointment_id":"a1"}"#.into(),
        occurred_at: at,
        received_at: at,
    })
}

/// Runs `test` once per backend; the store (and its temporary files) outlive the test body.
pub(crate) async fn each_backend(test: impl AsyncFn(&TestStore)) {
    for backend in backends() {
        let store = fresh_store(backend).await;
        test(&store).await;
    }
}

#[tokio::test]
async fn a_repeated_message_id_is_reported_as_duplicate_and_changes_nothing() {
    each_backend(async |t| {
        let s = &t.store;
        let first = s.ingest(&[track("m1", "p1", 10)], &Replace, &ctx(10), vec![]).await.expect("ingest");
        let again = s.ingest(&[track("m1", "p1", 20), track("m2", "p1", 20)], &Replace, &ctx(20), vec![]).await.expect("ingest");
        assert_eq!(first, vec![WriteOutcome::Accepted]);
        assert_eq!(again, vec![WriteOutcome::Duplicate, WriteOutcome::Accepted]);
        let events = s.events_of("p1", 10).await.expect("events");
        assert_eq!(events.iter().map(|e| e.message_id.as_str()).collect::<Vec<_>>(), ["m1", "m2"]);
        assert_eq!(s.counts().await.expect("counts"), (1, 2));
    })
    .await;
}

#[tokio::test]
async fn identify_merges_into_the_existing_profile_and_keeps_its_creation_time() {
    each_backend(async |t| {
        let s = &t.store;
        s.ingest(&[identify("i1", record("p1", b"idx-a"))], &Replace, &ctx(100), vec![]).await.expect("first");
        let mut changed = record("p1", b"idx-b");
        changed.timezone = Some("America/New_York".into());
        s.ingest(&[identify("i2", changed)], &Replace, &ctx(200), vec![]).await.expect("second");
        let got = s.patient("p1").await.expect("read").expect("present");
        assert_eq!((got.created_at, got.updated_at), (100, 200));
        assert_eq!(got.timezone.as_deref(), Some("America/New_York"));
        assert_eq!(got.wrapped_key, Some(vec![1, 2, 3]));
        assert_eq!(s.patients_by_index(IndexKind::Email, b"idx-b").await.expect("lookup"), ["p1"]);
        assert!(s.patients_by_index(IndexKind::Email, b"idx-a").await.expect("lookup").is_empty());
        assert_eq!(s.patient("nobody").await.expect("read"), None);
    })
    .await;
}

#[tokio::test]
async fn a_failed_merge_leaves_nothing_written() {
    struct Fail;
    impl ProfileMerger<PatientRecord> for Fail {
        fn merge(&self, _: &str, _: Option<&PatientRecord>, _: &PatientRecord, _: i64) -> Result<PatientRecord, String> {
            Err("cannot decrypt".into())
        }
    }
    each_backend(async |t| {
        let s = &t.store;
        let result = s.ingest(&[track("t1", "p1", 1), identify("i1", record("p1", b"x"))], &Fail, &ctx(1), vec![]).await;
        assert!(matches!(result, Err(StoreError::Aborted(_))));
        assert_eq!(s.counts().await.expect("counts"), (0, 0));
        assert_eq!(s.audit_head().await.expect("head").0, 0);
        let retry = s.ingest(&[track("t1", "p1", 1)], &Replace, &ctx(2), vec![]).await.expect("retry");
        assert_eq!(retry, vec![WriteOutcome::Accepted]);
    })
    .await;
}

#[tokio::test]
async fn a_group_commit_rolls_back_only_the_job_that_fails() {
    struct FailFor(&'static str);
    impl ProfileMerger<PatientRecord> for FailFor {
        fn merge(&self, id: &str, existing: Option<&PatientRecord>, changes: &PatientRecord, now: i64) -> Result<PatientRecord, String> {
            if id == self.0 { Err("cannot decrypt".into()) } else { Replace.merge(id, existing, changes, now) }
        }
    }
    each_backend(async |t| {
        let s = &t.store;
        let job = |writes: Vec<IngestWrite<PatientRecord>>, at: i64| IngestJob { writes, ctx: ctx(at), extra_audit: vec![] };
        let jobs = [
            job(vec![track("g1", "p1", 1), identify("g2", record("p1", b"a"))], 1),
            job(vec![track("g3", "bad", 2), identify("g4", record("bad", b"b"))], 2),
            job(vec![track("g5", "p2", 3), track("g1", "p1", 3)], 3),
        ];
        let results = s.ingest_group(&jobs, &FailFor("bad")).await.expect("group");
        assert_eq!(results[0].as_ref().expect("first job"), &vec![WriteOutcome::Accepted; 2]);
        assert!(matches!(results[1], Err(StoreError::Aborted(_))));
        assert_eq!(results[2].as_ref().expect("third job"), &vec![WriteOutcome::Accepted, WriteOutcome::Duplicate]);
        assert_eq!(s.counts().await.expect("counts"), (2, 2));
        assert_eq!(s.patient("bad").await.expect("read"), None);
        assert_eq!(verify_audit_chain(s, &t.master.chain_key(), &[], |_| {}).await.expect("read"), Ok(4));
        // The failed job's message ids were rolled back too, so a retry is applied.
        let retry = s.ingest(&[track("g3", "bad", 4)], &Replace, &ctx(4), vec![]).await.expect("retry");
        assert_eq!(retry, vec![WriteOutcome::Accepted]);
    })
    .await;
}

#[tokio::test]
async fn declaring_a_field_twice_keeps_the_first_declaration() {
    each_backend(async |t| {
        let s = &t.store;
        let spec = FieldSpec {
            kind: FieldKind::Trait,
            name: "plan".into(),
            class: DataClass::NonPhi,
            value_type: Some(ValueType::String),
            code_prefix: None,
            surfaces: vec![],
            description: "first".into(),
        };
        assert!(s.declare_field(&spec, &ctx(1)).await.expect("declare"));
        let second = FieldSpec { description: "second".into(), ..spec.clone() };
        assert!(!s.declare_field(&second, &ctx(2)).await.expect("declare again"));
        assert_eq!(s.declared_fields().await.expect("list"), vec![spec]);
    })
    .await;
}

#[tokio::test]
async fn api_keys_are_found_by_hash_only() {
    each_backend(async |t| {
        let s = &t.store;
        let key = ApiKeyRecord {
            id: "k1".into(),
            name: "ehr".into(),
            scopes: "events:write".into(),
            secret_hash: vec![9; 32],
            created_at: 5,
            expires_at: None,
            revoked_at: None,
        };
        s.create_api_key(&key, &ctx(5)).await.expect("create");
        assert_eq!(s.api_key_by_hash(&[9; 32]).await.expect("find"), Some(key));
        assert_eq!(s.api_key_by_hash(&[8; 32]).await.expect("find"), None);
    })
    .await;
}

#[tokio::test]
async fn a_closed_database_reports_unavailable_rather_than_empty() {
    each_backend(async |t| {
        t.store.close().await;
        assert!(t.store.ping().await.expect_err("closed").is_unavailable());
        assert!(t.store.patient("p1").await.expect_err("closed").is_unavailable());
    })
    .await;
}

fn template_version(version: i64, author: &str) -> TemplateVersionRow {
    TemplateVersionRow {
        template_id: "tpl_1".into(),
        version,
        content: r#"{"channel":"sms","surfaces":{"sms_body":"Hello"}}"#.into(),
        analysis: "[]".into(),
        status: "draft".into(),
        author: author.into(),
        created_at: version,
        submitted_at: None,
        reviewer: None,
        reviewed_at: None,
        review_comment: None,
    }
}

fn review(from: &'static str, to: &'static str, reviewer: Option<&str>) -> Review {
    Review { from, to, reviewer: reviewer.map(str::to_owned), comment: Some("looks fine".into()) }
}

#[tokio::test]
async fn template_versions_move_through_review_once_and_never_by_their_author() {
    each_backend(async |t| {
        let s = &t.store;
        let template = TemplateRow { id: "tpl_1".into(), name: "Reminder".into(), channel: "sms".into(), created_at: 1, created_by: "key:author".into() };
        assert!(s.create_template(&template, &template_version(1, "key:author"), &ctx(1)).await.expect("create"));
        let taken = TemplateRow { id: "tpl_2".into(), ..template.clone() };
        assert!(!s.create_template(&taken, &template_version(1, "key:author"), &ctx(2)).await.expect("same name"));
        assert!(s.add_template_version(&template_version(2, "key:author"), &ctx(3)).await.expect("v2"));
        assert!(!s.add_template_version(&template_version(2, "key:other"), &ctx(4)).await.expect("v2 again"));
        assert!(!s.review_template_version("tpl_1", 2, &review("submitted", "approved", Some("key:reviewer")), &ctx(5)).await.expect("not submitted"));
        assert!(s.review_template_version("tpl_1", 2, &review("draft", "submitted", None), &ctx(6)).await.expect("submit"));
        assert!(!s.review_template_version("tpl_1", 2, &review("submitted", "approved", Some("key:author")), &ctx(7)).await.expect("self"));
        assert!(s.review_template_version("tpl_1", 2, &review("submitted", "approved", Some("key:reviewer")), &ctx(8)).await.expect("approve"));
        let versions = s.template_versions("tpl_1").await.expect("versions");
        assert_eq!(versions.iter().map(|v| v.status.as_str()).collect::<Vec<_>>(), ["draft", "approved"]);
        assert_eq!((versions[1].submitted_at, versions[1].reviewer.as_deref(), versions[1].reviewed_at), (Some(6), Some("key:reviewer"), Some(8)));
        // Beside the migrations' own rows for Sotto's built-in code messages (`sotto_…`).
        assert_eq!(s.templates().await.expect("list").iter().filter(|t| !t.id.starts_with("sotto_")).count(), 1);
        assert!(verify_audit_chain(s, &t.master.chain_key(), &[], |_| ()).await.expect("read").is_ok(), "the chain verifies");
    })
    .await;
}

#[tokio::test]
async fn a_template_versions_content_and_a_final_review_cannot_be_changed_in_sql() {
    each_backend(async |t| {
        let s = &t.store;
        let template = TemplateRow { id: "tpl_1".into(), name: "Reminder".into(), channel: "sms".into(), created_at: 1, created_by: "key:author".into() };
        assert!(s.create_template(&template, &template_version(1, "key:author"), &ctx(1)).await.expect("create"));
        assert!(s.pool().execute("UPDATE template_versions SET content = 'changed'").await.is_err(), "content is immutable");
        assert!(s.pool().execute("DELETE FROM template_versions").await.is_err(), "versions are kept");
        assert!(s.pool().execute("UPDATE template_versions SET reviewer = author, status = 'approved'").await.is_err(), "no self-approval");
        assert!(s.review_template_version("tpl_1", 1, &review("draft", "submitted", None), &ctx(2)).await.expect("submit"));
        assert!(s.review_template_version("tpl_1", 1, &review("submitted", "rejected", Some("key:reviewer")), &ctx(3)).await.expect("reject"));
        assert!(s.pool().execute("UPDATE template_versions SET status = 'approved'").await.is_err(), "a rejection is final");
    })
    .await;
}
