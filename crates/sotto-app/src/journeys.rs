//! Journeys as staff manage them: versions checked against the dictionary and the approved
//! templates (problems named by their path into the definition), approval by someone other
//! than the author recording a hash of the exact definition and template versions, a review
//! date (quarterly) past which runs pause, pause and resume, run counts suppressed like every
//! count, and one appointment's timeline (audited).

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use sotto_core::dictionary::{DataClass, FieldKind, ValueType};
use sotto_core::disclosure::disclose_table;
use sotto_core::error::FieldError;
use sotto_core::journey::{Journey, Trigger, parse_journey};
use sotto_core::scope::Scope;
use sotto_store::{JourneyApproval, JourneyRow, StepMove, Store};

use crate::campaigns::when;
use crate::{App, AppError, RequestCtx, micros};

/// How long an approval holds before the journey needs a review.
pub const REVIEW_EVERY: SignedDuration = SignedDuration::from_hours(24 * 91);

/// The first path in `body` where `needle` appears as a string value (under the key `key`,
/// when one is given).
fn path_of(body: &Value, needle: &str, key: Option<&str>) -> Option<String> {
    match body {
        Value::String(s) if s == needle && key.is_none() => Some(String::new()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| path_of(v, needle, key).map(|p| if p.is_empty() { format!("[{i}]") } else { format!("[{i}].{p}") })),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if v.as_str() == Some(needle) && key.is_none_or(|key| key == k) {
                return Some(k.clone());
            }
            path_of(v, needle, key).map(|p| if p.starts_with('[') { format!("{k}{p}") } else { format!("{k}.{p}") })
        }),
        _ => None,
    }
}

/// Where an approval moves the active runs of earlier versions (see `approve_journey`).
fn step_moves(request: &Value, journey: &Journey, previous: &[(i64, Journey)]) -> Result<Vec<StepMove>, AppError> {
    let invalid = |code: &'static str, field: String, message: &str| AppError::Invalid(vec![FieldError::new(code, field, message)]);
    match request {
        Value::Null => return Ok(Vec::new()),
        Value::Object(o) => {
            if let Some(e) = sotto_core::error::refuse_unknown(o, &["move_runs"], "", "an approval") {
                return Err(AppError::Invalid(vec![e]));
            }
        }
        _ => return Err(invalid("invalid_body", String::new(), "an approval's body is an object, or empty")),
    }
    // Where runs at each step go: the step of the same id unless the approver says otherwise.
    let mut mapping: BTreeMap<String, String> = match request.get("move_runs") {
        None | Some(Value::Null | Value::Bool(false)) => return Ok(Vec::new()),
        Some(Value::Bool(true) | Value::Object(_)) => previous.iter().flat_map(|(_, p)| p.steps.iter()).filter(|s| journey.step(&s.id).is_some()).map(|s| (s.id.clone(), s.id.clone())).collect(),
        Some(_) => return Err(invalid("invalid_move_runs", "move_runs".into(), "move_runs is true, or an object of old step id to new step id")),
    };
    if let Some(Value::Object(explicit)) = request.get("move_runs") {
        for (n, (from, to)) in explicit.iter().enumerate() {
            let at = format!("move_runs.#{}", n + 1);
            let to = to.as_str().filter(|t| journey.step(t).is_some()).ok_or_else(|| invalid("unknown_step", at.clone(), "runs move to a step of the version approved"))?;
            if !previous.iter().any(|(_, p)| p.step(from).is_some()) {
                return Err(invalid("unknown_step", at, "runs move from a step of an earlier version"));
            }
            mapping.insert(from.clone(), to.to_owned());
        }
    }
    // Each earlier version apart: whether a run enters its new step afresh depends on the
    // kind of step it leaves there.
    let kind = |j: &Journey, step: &str| j.step(step).map(|s| std::mem::discriminant(&s.kind));
    let mut moves = Vec::new();
    for (version, old) in previous {
        for (from, to) in &mapping {
            if old.step(from).is_some() {
                moves.push(StepMove { version: *version, from: from.clone(), to: to.clone(), reenter: kind(old, from) != kind(journey, to) });
            }
        }
    }
    Ok(moves)
}

/// A stored version, read back.
pub(crate) fn stored_journey(row: &JourneyRow) -> Result<Journey, AppError> {
    let body: Value = serde_json::from_str(&row.definition).map_err(|_| AppError::Internal("a stored journey is not JSON"))?;
    parse_journey(&body).map(|(_, j)| j).map_err(|_| AppError::Internal("a stored journey no longer parses"))
}

/// How a version shows: its governance and the data it uses, derived from the definition
/// and the variables its templates read (`template_fields`), never typed by hand.
fn journey_view(row: &JourneyRow, journey: &Journey, template_fields: &BTreeSet<String>, now: Timestamp) -> Value {
    let fields: BTreeSet<String> = journey.fields().into_iter().chain(template_fields.iter().cloned()).collect();
    let overdue = row.state == "approved" && row.review_due.is_some_and(|due| due <= micros(now));
    let definition: Value = serde_json::from_str(&row.definition).unwrap_or(Value::Null);
    json!({
        "id": row.id, "version": row.version, "name": row.name, "state": row.state, "paused": row.paused,
        "owner": row.created_by, "approver": row.approved_by, "approved_at": when(row.approved_at), "approved_hash": row.approved_hash,
        "review_due": when(row.review_due), "review_overdue": overdue,
        "runs_paused_because": if row.paused { json!("paused_by_operator") } else if overdue { json!("review_overdue") } else { Value::Null },
        "purpose": journey.purpose.as_str(), "purposes": journey.purposes().iter().map(|p| p.as_str()).collect::<Vec<_>>(), "authorization_basis": journey.authorization_basis, "fields_used": fields, "events_used": journey.events(), "templates_used": journey.templates(),
        "definition": definition,
    })
}

impl<S: Store> App<S> {
    /// A version as the API shows it, with the patient data its templates read.
    async fn view(&self, row: &JourneyRow, journey: &Journey, now: Timestamp) -> Result<Value, AppError> {
        let ids: Vec<String> = journey.templates().into_iter().collect();
        let mut fields = BTreeSet::new();
        for version in self.approved_versions(&ids).await?.values().flatten() {
            let analysis: Value = serde_json::from_str(&version.analysis).unwrap_or_default();
            for variable in analysis["variables"].as_array().into_iter().flatten().filter_map(|v| v["variable"].as_str()) {
                match variable.split_once('.') {
                    Some(("patient", name)) => drop(fields.insert(format!("trait.{name}"))),
                    Some(("event", name)) => drop(fields.insert(format!("property.{name}"))),
                    _ => {}
                }
            }
        }
        Ok(journey_view(row, journey, &fields, now))
    }

    /// Reads and checks a definition: events and fields declared and not sensitive, every
    /// template approved for its channel.
    async fn checked_journey(&self, body: &Value) -> Result<(String, Journey), AppError> {
        let (name, journey) = parse_journey(body).map_err(AppError::Invalid)?;
        let dictionary = self.dictionary.get(&self.store).await?;
        let mut errors = Vec::new();
        for event in journey.events() {
            if dictionary.get(FieldKind::Event, &event).is_none() {
                errors.push(FieldError::new("unknown_event", path_of(body, &event, None).unwrap_or_default(), "this event is not declared in the data dictionary"));
            }
        }
        for field in journey.fields() {
            let (kind, name) = match field.split_once('.') {
                Some(("trait", n)) => (FieldKind::Trait, n),
                Some((_, n)) => (FieldKind::Property, n),
                None => continue,
            };
            match dictionary.get(kind, name) {
                None => errors.push(FieldError::new("unknown_field", path_of(body, name, None).unwrap_or_default(), "this field is not declared in the data dictionary")),
                Some(spec) if spec.class == DataClass::SensitivePhi => {
                    errors.push(FieldError::new("sensitive_field", path_of(body, name, None).unwrap_or_default(), "sensitive PHI never enters a journey"))
                }
                Some(_) => {}
            }
        }
        match &journey.trigger {
            Trigger::Segment(segment) if self.store.segment(segment).await?.is_none() => errors.push(FieldError::new("unknown_segment", "trigger.segment", "no segment has this id")),
            Trigger::Date { property, .. } => {
                let dated = dictionary.get(FieldKind::Trait, property).and_then(|spec| spec.value_type).is_some_and(|t| matches!(t, ValueType::Date | ValueType::Timestamp));
                if !dated {
                    errors.push(FieldError::new("not_a_date", "trigger.date", "a date trigger names a declared trait whose values are dates"));
                }
            }
            _ => {}
        }
        let ids: Vec<String> = journey.templates().into_iter().collect();
        let approved = self.approved_versions(&ids).await?;
        for (channel, id) in journey.channel_templates() {
            let at = path_of(body, &id, Some(channel.as_str())).or_else(|| path_of(body, &id, None)).unwrap_or_default();
            match (self.store.template(&id).await?, approved.get(&id).and_then(Option::as_ref)) {
                (None, _) => errors.push(FieldError::new("unknown_template", at, "no template has this id")),
                (Some(t), _) if t.channel != channel.as_str() => errors.push(FieldError::new("channel_mismatch", at, format!("this template is for {}, not {channel}", t.channel))),
                (Some(_), None) => errors.push(FieldError::new("template_not_approved", at, "this template has no approved version: submit one for review first")),
                (Some(_), Some(v)) if journey.purposes().iter().any(|p| p.is_marketing()) && v.content.channel == sotto_core::contact::Channel::Email && !crate::campaign_checklist::unsubscribes(&v.content) => {
                    errors.push(FieldError::new("purpose_not_allowed", at, "marketing email must carry the unsubscribe link ({{ links.unsubscribe }}); this template does not"))
                }
                _ => {}
            }
        }
        if errors.is_empty() { Ok((name, journey)) } else { Err(AppError::Invalid(errors)) }
    }

    async fn journey_rows(&self, id: &str) -> Result<Vec<JourneyRow>, AppError> {
        let rows = self.store.journey_versions(id).await?;
        if rows.is_empty() {
            return Err(AppError::NotFound("journey"));
        }
        Ok(rows)
    }

    /// Creates a journey (version 1, a draft), or a new draft version of one.
    pub async fn write_journey(&self, ctx: &RequestCtx, id: Option<&str>, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::JourneysWrite, "journeys").await?;
        let (name, journey) = self.checked_journey(body).await?;
        let (id, version) = match id {
            Some(id) => (id.to_owned(), self.journey_rows(id).await?.last().map_or(1, |r| r.version + 1)),
            None => (format!("jrn_{}", sotto_crypto::random_id(8)), 1),
        };
        let row = JourneyRow {
            id,
            version,
            name,
            definition: body.to_string(),
            state: "draft".into(),
            created_by: ctx.principal.actor.clone(),
            created_at: micros(ctx.now),
            approved_by: None,
            approved_at: None,
            approved_hash: None,
            review_due: None,
            paused: false,
        };
        if !self.store.create_journey_version(&row, &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "journey_exists", message: "another journey has this name, or this version was written meanwhile".into() });
        }
        self.view(&row, &journey, ctx.now).await
    }

    /// Every journey's latest version.
    pub async fn list_journeys(&self, ctx: &RequestCtx) -> Result<Value, AppError> {
        self.require(ctx, Scope::JourneysRead, "journeys").await?;
        let mut latest: BTreeMap<String, JourneyRow> = BTreeMap::new();
        for row in self.store.journeys().await? {
            latest.insert(row.id.clone(), row);
        }
        let mut items = Vec::with_capacity(latest.len());
        for row in latest.values() {
            items.push(self.view(row, &stored_journey(row)?, ctx.now).await?);
        }
        Ok(json!({ "journeys": items }))
    }

    /// One journey: every version.
    pub async fn get_journey(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::JourneysRead, &crate::path_object("journey", "jrn_", id)).await?;
        self.versions_view(id, ctx.now).await
    }

    /// Every version of a journey as the API shows it, for a caller already allowed to act on it.
    async fn versions_view(&self, id: &str, now: Timestamp) -> Result<Value, AppError> {
        let rows = self.journey_rows(id).await?;
        let mut versions = Vec::with_capacity(rows.len());
        for row in &rows {
            versions.push(self.view(row, &stored_journey(row)?, now).await?);
        }
        Ok(json!({ "id": id, "versions": versions }))
    }

    /// Approves a draft version: a compliance principal other than its author, recording the
    /// hash of the definition and the template versions it sends; runs start on it from now.
    ///
    /// `{"move_runs": true}` moves the active runs of earlier versions onto this one, each to
    /// the step of the same id; `{"move_runs": {"old_step": "new_step", …}}` names where runs
    /// at those steps go (the others keep their step's id). Runs at a step the new version
    /// lacks stay on their version. Without `move_runs`, runs finish on the version they began.
    pub async fn approve_journey(&self, ctx: &RequestCtx, id: &str, version: i64, request: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::Compliance, &crate::path_object("journey", "jrn_", id)).await?;
        let rows = self.journey_rows(id).await?;
        let row = rows.iter().find(|r| r.version == version).ok_or(AppError::NotFound("journey version"))?;
        if row.created_by == ctx.principal.actor {
            return Err(AppError::Conflict { code: "self_approval", message: "a journey is approved by someone other than its author".into() });
        }
        let body: Value = serde_json::from_str(&row.definition).map_err(|_| AppError::Internal("a stored journey is not JSON"))?;
        let (_, journey) = self.checked_journey(&body).await?;
        let previous = rows.iter().filter(|r| r.version != version && r.state != "draft").map(|r| Ok((r.version, stored_journey(r)?))).collect::<Result<Vec<_>, AppError>>()?;
        let move_runs = step_moves(request, &journey, &previous)?;
        let ids: Vec<String> = journey.templates().into_iter().collect();
        let approved = self.approved_versions(&ids).await?;
        let pinned: Vec<String> = approved.iter().map(|(id, v)| format!("{id}@{}", v.as_ref().map_or(0, |v| v.version))).collect();
        let digest = sotto_crypto::hash_api_key(&format!("{}\n{}", row.definition, pinned.join(" ")));
        let hash: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let due = micros(ctx.now + REVIEW_EVERY);
        let approval = JourneyApproval { approver: ctx.principal.actor.clone(), hash, review_due: due, at: micros(ctx.now), move_runs };
        if !self.store.approve_journey(id, version, &approval, &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "journey_not_submitted", message: "only a submitted version is approved: submit it first".into() });
        }
        self.versions_view(id, ctx.now).await
    }

    /// Submits a draft version for approval, checked again against what exists now.
    pub async fn submit_journey(&self, ctx: &RequestCtx, id: &str, version: i64) -> Result<Value, AppError> {
        self.require(ctx, Scope::JourneysWrite, &crate::path_object("journey", "jrn_", id)).await?;
        let rows = self.journey_rows(id).await?;
        let row = rows.iter().find(|r| r.version == version).ok_or(AppError::NotFound("journey version"))?;
        let body: Value = serde_json::from_str(&row.definition).map_err(|_| AppError::Internal("a stored journey is not JSON"))?;
        self.checked_journey(&body).await?;
        if !self.store.submit_journey(id, version, &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "journey_not_draft", message: format!("only a draft is submitted; this version is {}", row.state) });
        }
        self.versions_view(id, ctx.now).await
    }

    /// Archives a journey: no run starts on it any more; runs under way finish.
    pub async fn archive_journey(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::JourneysWrite, &crate::path_object("journey", "jrn_", id)).await?;
        self.journey_rows(id).await?;
        self.store.archive_journey(id, &ctx.audit()).await?;
        self.versions_view(id, ctx.now).await
    }

    /// Records a review of the approved version: runs paused by an overdue review go on.
    pub async fn review_journey(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::Compliance, &crate::path_object("journey", "jrn_", id)).await?;
        let rows = self.journey_rows(id).await?;
        let approved = rows.iter().find(|r| r.state == "approved").ok_or(AppError::Conflict { code: "journey_not_approved", message: "only an approved journey is reviewed".into() })?;
        self.store.review_journey(id, approved.version, micros(ctx.now + REVIEW_EVERY), &ctx.audit()).await?;
        self.versions_view(id, ctx.now).await
    }

    /// Pauses or resumes every run of a journey.
    pub async fn control_journey(&self, ctx: &RequestCtx, id: &str, pause: bool) -> Result<Value, AppError> {
        self.require(ctx, Scope::JourneysWrite, &crate::path_object("journey", "jrn_", id)).await?;
        self.journey_rows(id).await?;
        self.store.pause_journey(id, pause, &ctx.audit()).await?;
        self.versions_view(id, ctx.now).await
    }

    /// Runs counted by where they wait and how they ended, every count of 1 to 10 suppressed.
    pub async fn journey_runs(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::JourneysRead, &crate::path_object("journey", "jrn_", id)).await?;
        self.journey_rows(id).await?;
        let counts = self.store.journey_run_counts(id).await?;
        let mut waiting: BTreeMap<String, u64> = BTreeMap::new();
        let mut exited: BTreeMap<String, u64> = BTreeMap::new();
        for c in &counts {
            let (map, key) = if c.state == "active" { (&mut waiting, c.step.clone()) } else { (&mut exited, c.exit_reason.clone().unwrap_or_default()) };
            *map.entry(key).or_default() += c.count.max(0) as u64;
        }
        // Active runs by step and ended runs by reason are two rows of one table, so neither
        // the totals nor the other cells give a hidden count away.
        let width = waiting.len() + exited.len();
        let mut rows = vec![vec![0u64; width]; 2];
        for (i, n) in waiting.values().chain(exited.values()).enumerate() {
            rows[usize::from(i >= waiting.len())][i] = *n;
        }
        let shown = disclose_table(&rows, width);
        let cells = |row: usize, keys: &mut dyn Iterator<Item = &String>, skip: usize| keys.enumerate().map(|(k, name)| (name.clone(), json!(shown[row][skip + k]))).collect::<serde_json::Map<_, _>>();
        Ok(json!({
            "id": id, "entered": shown[2][width], "active": shown[0][width], "exited": shown[1][width],
            "converted": exited.keys().position(|r| r == "goal").map_or(json!(0), |k| json!(shown[1][waiting.len() + k])),
            "waiting_by_step": cells(0, &mut waiting.keys(), 0), "exited_by_reason": cells(1, &mut exited.keys(), waiting.len()),
        }))
    }

    /// One appointment's timeline: every run for its key (`{"run_key": …}` in the body, never
    /// the URL), where each stands, and the state of each message it queued. Audited.
    pub async fn journey_timeline(&self, ctx: &RequestCtx, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::JourneysRead, "journey:timeline").await?;
        if let Some(e) = body.as_object().and_then(|o| sotto_core::error::refuse_unknown(o, &["run_key"], "", "a timeline request")) {
            return Err(AppError::Invalid(vec![e]));
        }
        let Some(key) = body.get("run_key").and_then(Value::as_str).filter(|k| !k.is_empty() && k.len() <= 200) else {
            return Err(AppError::Invalid(vec![FieldError::new("invalid_run_key", "run_key", "run_key is the key's value, such as an appointment id")]));
        };
        let runs = self.store.runs_for_key(key).await?;
        if runs.is_empty() {
            return Err(AppError::NotFound("journey run"));
        }
        let objects: Vec<String> = runs.iter().map(|r| format!("journey:{}/run:{}", r.journey_id, r.id)).collect();
        let events = objects.into_iter().map(|o| ctx.audit().event(sotto_core::audit::action::JOURNEY_TIMELINE, o, "success")).collect();
        self.store.append_audit(events).await?;
        let mut items = Vec::with_capacity(runs.len());
        for run in &runs {
            let happened: Value = serde_json::from_str::<Value>(&run.context).ok().and_then(|c| c.get("happened").cloned()).unwrap_or(json!([]));
            let mut messages = Vec::new();
            for id in run.messages.split_whitespace() {
                if let Some(m) = self.store.outbox_message(id).await? {
                    messages.push(json!({"id": m.id, "sent_by": m.journey_ref, "channel": m.channel, "template_id": m.template_id, "state": m.state, "reasons": m.reasons.split_whitespace().collect::<Vec<_>>(), "queued_at": when(Some(m.created_at))}));
                }
            }
            items.push(json!({
                "journey_id": run.journey_id, "version": run.version, "run_id": run.id, "state": run.state, "step": run.step, "waiting": run.waiting,
                "wake_at": when(run.wake_at), "exit_reason": run.exit_reason, "started_at": when(Some(run.started_at)), "happened": happened, "messages": messages,
            }));
        }
        Ok(json!({ "runs": items }))
    }
}
