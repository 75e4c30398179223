//! Templates and their review: a composer writes versions and submits one; a holder of the
//! `compliance` scope who is not its author approves or rejects it with a comment; only an
//! approved version renders for sending, and every rendering is linted again.

use serde_json::{Map, Value, json};

use sotto_core::FieldError;
use sotto_core::audit::{Outcome, action};
use sotto_core::contact::{Channel, Language};
use sotto_core::dictionary::Surface;
use sotto_core::ids::ExternalId;
use sotto_core::scope::Scope;
use sotto_core::template::{Rendered, RenderError, TemplateContent, VersionStatus, analyze, check_name, parse_content, render};
use sotto_store::{PatientRecord, Review, Store, TemplateRow, TemplateVersionRow};

use crate::merge::{Identifiers, open_identifiers};
use crate::{App, AppError, RequestCtx, micros, time_text};

fn version_view(v: &TemplateVersionRow) -> Value {
    json!({
        "version": v.version,
        "status": v.status,
        "content": serde_json::from_str::<Value>(&v.content).unwrap_or(Value::Null),
        "analysis": serde_json::from_str::<Value>(&v.analysis).unwrap_or(Value::Null),
        "author": v.author,
        "created_at": time_text(v.created_at),
        "submitted_at": v.submitted_at.map(time_text),
        "reviewer": v.reviewer,
        "reviewed_at": v.reviewed_at.map(time_text),
        "review_comment": v.review_comment,
    })
}

fn template_view(t: &TemplateRow, versions: &[TemplateVersionRow]) -> Value {
    let approved = versions.iter().rev().find(|v| v.status == VersionStatus::Approved.as_str()).map(|v| v.version);
    json!({
        "id": t.id,
        "name": t.name,
        "channel": t.channel,
        "created_at": time_text(t.created_at),
        "created_by": t.created_by,
        "approved_version": approved,
        "versions": versions.iter().map(version_view).collect::<Vec<_>>(),
    })
}

/// Why a rendering was refused, without the rendered text.
fn render_refusal(e: RenderError) -> AppError {
    match e {
        RenderError::Failed { surface, reason } => AppError::invalid(FieldError::new("render_failed", surface_field(surface), format!("the surface failed to render: {reason}"))),
        RenderError::Blocked { surface, findings } => {
            let what: Vec<String> = findings.iter().map(|f| format!("{} at bytes {}..{}", f.category, f.span.0, f.span.1)).collect();
            AppError::invalid(FieldError::new(
                "rendered_text_blocked",
                surface_field(surface),
                format!("the rendered text reveals health information ({}); a value carried it in, so the message is not sent", what.join(", ")),
            ))
        }
    }
}

fn surface_field(surface: Surface) -> String {
    format!("surfaces.{}", surface.as_str())
}

impl<S: Store> App<S> {
    async fn checked_content(&self, body: &Value) -> Result<(TemplateContent, String), AppError> {
        let content = parse_content(body).map_err(AppError::invalid)?;
        let dictionary = self.dictionary.get(&self.store).await?;
        let analysis = analyze(&content, &dictionary).map_err(AppError::Invalid)?;
        // The variables each surface uses and the linter's warnings, for reviewers to see.
        let analysis = serde_json::to_string(&analysis).map_err(|_| AppError::Internal("template analysis did not serialize"))?;
        Ok((content, analysis))
    }

    fn new_version(&self, ctx: &RequestCtx, template_id: &str, version: i64, content: &TemplateContent, variables: String) -> Result<TemplateVersionRow, AppError> {
        Ok(TemplateVersionRow {
            template_id: template_id.to_owned(),
            version,
            content: serde_json::to_string(content).map_err(|_| AppError::Internal("template content did not serialize"))?,
            analysis: variables,
            status: VersionStatus::Draft.as_str().to_owned(),
            author: ctx.principal.actor.clone(),
            created_at: micros(ctx.now),
            submitted_at: None,
            reviewer: None,
            reviewed_at: None,
            review_comment: None,
        })
    }

    async fn template_and_versions(&self, id: &str) -> Result<(TemplateRow, Vec<TemplateVersionRow>), AppError> {
        let template = self.store.template(id).await?.filter(|t| !crate::secure_messages::is_builtin_template(&t.id)).ok_or(AppError::NotFound("template"))?;
        let versions = self.store.template_versions(id).await?;
        Ok((template, versions))
    }

    /// Creates a template with its first draft: `{"name", "channel", "surfaces": {…}}`.
    pub async fn create_template(&self, ctx: &RequestCtx, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::TemplatesWrite, "templates").await?;
        crate::only_fields(body, &["name", "channel", "surfaces", "language", "variants"], "", "a template")?;
        let name = check_name(body.get("name").and_then(Value::as_str).unwrap_or_default()).map_err(AppError::invalid)?.to_owned();
        let (content, variables) = self.checked_content(body).await?;
        let id = format!("tpl_{}", sotto_crypto::random_id(8));
        let template = TemplateRow { id: id.clone(), name, channel: content.channel.as_str().to_owned(), created_at: micros(ctx.now), created_by: ctx.principal.actor.clone() };
        let first = self.new_version(ctx, &id, 1, &content, variables)?;
        if !self.store.create_template(&template, &first, &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "template_exists", message: "a template with this name exists; edit it to make a new version".into() });
        }
        Ok(template_view(&template, &[first]))
    }

    /// Edits a template: the new surfaces become a new draft version; earlier versions stay.
    pub async fn edit_template(&self, ctx: &RequestCtx, id: &str, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::TemplatesWrite, &crate::path_object("template", "tpl_", id)).await?;
        crate::only_fields(body, &["channel", "surfaces", "language", "variants"], "", "a template version")?;
        let (template, mut versions) = self.template_and_versions(id).await?;
        let mut body = body.clone();
        if let Some(obj) = body.as_object_mut() {
            match obj.get("channel").and_then(Value::as_str) {
                Some(c) if c != template.channel => {
                    return Err(AppError::invalid(FieldError::new("channel_fixed", "channel", "a template's channel cannot change; create a new template instead")));
                }
                _ => obj.insert("channel".into(), Value::String(template.channel.clone())),
            };
        }
        let (content, variables) = self.checked_content(&body).await?;
        let next = versions.last().map_or(1, |v| v.version + 1);
        let version = self.new_version(ctx, id, next, &content, variables)?;
        if !self.store.add_template_version(&version, &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "version_conflict", message: "another edit made this version first; reload and edit again".into() });
        }
        versions.push(version);
        Ok(template_view(&template, &versions))
    }

    /// One template with every version.
    pub async fn template(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::TemplatesRead, &crate::path_object("template", "tpl_", id)).await?;
        let (template, versions) = self.template_and_versions(id).await?;
        Ok(template_view(&template, &versions))
    }

    /// Every template with its versions.
    pub async fn templates(&self, ctx: &RequestCtx) -> Result<Value, AppError> {
        self.require(ctx, Scope::TemplatesRead, "templates").await?;
        let mut out = Vec::new();
        // Sotto's own messages (the portal's one-time codes) are not the deployment's templates.
        for template in self.store.templates().await?.into_iter().filter(|t| !crate::secure_messages::is_builtin_template(&t.id)) {
            let versions = self.store.template_versions(&template.id).await?;
            out.push(template_view(&template, &versions));
        }
        Ok(json!({ "templates": out }))
    }

    /// Moves a version through review: `submit` (templates:write), `approve` or `reject`
    /// (compliance, never by the version's author; a rejection needs a comment).
    pub async fn review_template(&self, ctx: &RequestCtx, id: &str, version: i64, step: &str, body: &Value) -> Result<Value, AppError> {
        let object = format!("{}/v{version}", crate::path_object("template", "tpl_", id));
        let (scope, from, to) = match step {
            "submit" => (Scope::TemplatesWrite, VersionStatus::Draft, VersionStatus::Submitted),
            "approve" => (Scope::Compliance, VersionStatus::Submitted, VersionStatus::Approved),
            "reject" => (Scope::Compliance, VersionStatus::Submitted, VersionStatus::Rejected),
            _ => return Err(AppError::NotFound("review step")),
        };
        self.require(ctx, scope, &object).await?;
        crate::only_fields(body, &["comment"], "", "a review")?;
        let comment = body.get("comment").and_then(Value::as_str).map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned);
        if comment.as_ref().is_some_and(|c| c.len() > 2_000) {
            return Err(AppError::invalid(FieldError::new("value_too_long", "comment", "comment must be at most 2,000 bytes")));
        }
        if to == VersionStatus::Rejected && comment.is_none() {
            return Err(AppError::invalid(FieldError::new("missing_field", "comment", "a rejection needs a comment saying what to change")));
        }
        let (template, mut versions) = self.template_and_versions(id).await?;
        let current = versions.iter().position(|v| v.version == version).ok_or(AppError::NotFound("template version"))?;
        let row = &versions[current];
        if scope == Scope::Compliance && row.author == ctx.principal.actor {
            let event = ctx.audit().event(action::ACCESS_DENIED, object, "denied:self_review");
            self.store.append_audit(vec![event]).await?;
            return Err(AppError::Conflict { code: "self_review", message: "the author of a version cannot approve or reject it; ask another reviewer".into() });
        }
        if row.status != from.as_str() {
            return Err(AppError::Conflict { code: "wrong_status", message: format!("version {version} is {}; {step} needs a {} version", row.status, from.as_str()) });
        }
        if to == VersionStatus::Approved {
            // The dictionary may have changed since the version was written.
            let content: Value = serde_json::from_str(&row.content).map_err(|_| AppError::Internal("stored template content is not JSON"))?;
            self.checked_content(&content).await?;
        }
        let review = Review {
            from: from.as_str(),
            to: to.as_str(),
            reviewer: (scope == Scope::Compliance).then(|| ctx.principal.actor.clone()),
            comment: comment.clone(),
        };
        if !self.store.review_template_version(id, version, &review, &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "wrong_status", message: "the version's status changed meanwhile; reload it".into() });
        }
        let v = &mut versions[current];
        v.status = to.as_str().to_owned();
        if to == VersionStatus::Submitted {
            v.submitted_at = Some(micros(ctx.now));
        } else {
            v.reviewer = review.reviewer;
            v.reviewed_at = Some(micros(ctx.now));
            v.review_comment = comment;
        }
        Ok(template_view(&template, &versions))
    }

    /// Renders a version against a sample (`{"sample": {"patient": {…}, "event": {…}}}`) or a
    /// real profile (`{"patient_id", "event"?}`, which needs `patients:read_phi` and is audited)
    /// and lints the result; any status may be previewed.
    pub async fn preview_template(&self, ctx: &RequestCtx, id: &str, version: i64, body: &Value) -> Result<Value, AppError> {
        let object = format!("{}/v{version}", crate::path_object("template", "tpl_", id));
        self.require(ctx, Scope::TemplatesRead, &object).await?;
        let (template, versions) = self.template_and_versions(id).await?;
        let row = versions.iter().find(|v| v.version == version).ok_or(AppError::NotFound("template version"))?;
        let content = stored_content(row)?;
        crate::only_fields(body, &["event", "patient_id", "sample", "language"], "", "a preview")?;
        let mut language = match body.get("language") {
            None | Some(Value::Null) => None,
            Some(v) => Some(Language::parse("language", v.as_str().unwrap_or_default()).map_err(AppError::invalid)?.as_str().to_owned()),
        };
        crate::only_fields(body.get("sample").unwrap_or(&Value::Null), &["patient", "event"], "sample", "a sample")?;
        let event = object_field(body, "event")?;
        let patient = match body.get("patient_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.as_str()),
            Some(_) => return Err(AppError::invalid(FieldError::new("wrong_type", "patient_id", "patient_id must be a string"))),
        };
        let context = match patient {
            Some(patient) => {
                self.require(ctx, Scope::PatientsReadPhi, &object).await?;
                let (context, theirs) = self.profile_context(patient, event, &template, row).await?;
                language = language.or(theirs);
                self.store.append_audit(vec![ctx.audit().event(action::TEMPLATE_RENDER, format!("{object}/preview/patient:{}", self.keyring.patient_ref(patient)), Outcome::Success.as_str())]).await?;
                context
            }
            None => self.render_context(object_field(body, "sample")?),
        };
        let content = content.in_language(language.as_deref());
        let rendered = render(&content, &context).map_err(render_refusal)?;
        Ok(json!({"version": version, "status": row.status, "language": content.language, "surfaces": rendered.surfaces, "warnings": rendered.warnings}))
    }

    /// Renders the latest approved version for one patient and the event that triggered the
    /// message; refuses unless a version is approved, and refuses a rendering that reveals
    /// health information. Audited either way.
    pub async fn render_for_send(&self, ctx: &RequestCtx, id: &str, patient: &str, event: Value) -> Result<Rendered, AppError> {
        let (template, versions) = self.template_and_versions(id).await?;
        let Some(row) = versions.iter().rev().find(|v| v.status == VersionStatus::Approved.as_str()) else {
            return Err(AppError::Conflict { code: "template_not_approved", message: "only an approved version can be used to send; submit a version for review".into() });
        };
        let content = stored_content(row)?;
        let (context, language) = self.profile_context(patient, event, &template, row).await?;
        let result = render(&content.in_language(language.as_deref()), &context);
        let outcome = if result.is_ok() { Outcome::Success.as_str() } else { "rejected:lint" };
        self.store.append_audit(vec![ctx.audit().event(action::TEMPLATE_RENDER, format!("template:{id}/v{}/patient:{}", row.version, self.keyring.patient_ref(patient)), outcome)]).await?;
        result.map_err(render_refusal)
    }

    /// A render context from a stored profile, holding only the traits the version uses.
    /// Answers the patient's language with it.
    async fn profile_context(&self, patient: &str, event: Value, template: &TemplateRow, row: &TemplateVersionRow) -> Result<(Value, Option<String>), AppError> {
        let id = ExternalId::parse("patient_id", patient).map_err(AppError::invalid)?;
        let record = self.store.patient(id.as_str()).await?.ok_or(AppError::NotFound("patient"))?;
        let ids = open_identifiers(&self.keyring, &record).map_err(|_| AppError::Crypto)?.map(|(_, ids)| ids).unwrap_or_default();
        let channel = Channel::parse("channel", &template.channel).map_err(AppError::invalid)?;
        Ok((self.send_context(&record, &ids, event, channel, &row.analysis, None)?, record.language.clone()))
    }

    /// The render context for one patient from their opened profile: only the traits the
    /// version uses (`analysis` is the version's stored analysis), the event, the practice's
    /// details, and a one-click unsubscribe link for the channel (and topic).
    pub(crate) fn send_context(&self, record: &PatientRecord, ids: &Identifiers, event: Value, channel: Channel, analysis: &str, topic: Option<String>) -> Result<Value, AppError> {
        let traits: Map<String, Value> = serde_json::from_str(&record.traits).unwrap_or_default();
        let analysis: Value = serde_json::from_str(analysis).unwrap_or_default();
        let used: Vec<String> = analysis["variables"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.get("variable").and_then(Value::as_str)?.strip_prefix("patient.")?.split('.').next().map(str::to_owned))
            .collect();
        let mut fields = Map::new();
        for name in used {
            let value = match name.as_str() {
                "timezone" => record.timezone.clone().map(Value::String),
                "language" => record.language.clone().map(Value::String),
                "preferred_channel" => record.preferred_channel.clone().map(Value::String),
                "email" => ids.email.clone().map(Value::String),
                "phone" => ids.phone.clone().map(Value::String),
                other => ids.other.get(other).or_else(|| traits.get(other)).cloned(),
            };
            fields.insert(name, value.unwrap_or(Value::Null));
        }
        let appointment = event.get("appointment_id").and_then(Value::as_str).map(str::to_owned);
        let mut context = self.render_context(json!({"patient": fields, "event": event}));
        context["links"]["unsubscribe"] = Value::String(self.unsubscribe_url(&record.external_id, channel, topic)?);
        if let Some(appointment) = appointment {
            let (confirm, reschedule) = self.appointment_links(&record.external_id, &appointment, self.now())?;
            (context["links"]["confirm"], context["links"]["reschedule"]) = (Value::String(confirm), Value::String(reschedule));
        }
        Ok(context)
    }

    /// The links Sotto makes, as templates see them (`links.*`).
    pub(crate) fn render_links(&self) -> Value {
        self.render_context(json!({}))["links"].clone()
    }

    /// The variables a template sees: `patient` and `event` as given, the practice's details
    /// and the links Sotto makes.
    pub(crate) fn render_context(&self, mut data: Value) -> Value {
        let base = self.settings.public_url.trim_end_matches('/');
        let clinic = &self.settings.clinic;
        if let Some(obj) = data.as_object_mut() {
            obj.retain(|k, _| k == "patient" || k == "event");
            obj.insert("clinic".into(), json!({"name": clinic.name, "phone": clinic.phone, "address": clinic.address, "website": clinic.website}));
            let portal = format!("{base}/portal");
            obj.insert(
                "links".into(),
                json!({"portal": portal.clone(), "unsubscribe": format!("{base}/u/example"), "confirm": portal.clone(), "reschedule": portal}),
            );
        }
        data
    }
}

/// An optional object field of a request body (`{}` when absent).
fn object_field(body: &Value, name: &str) -> Result<Value, AppError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(AppError::invalid(FieldError::new("wrong_type", name, format!("{name} must be a JSON object")))),
    }
}

fn stored_content(row: &TemplateVersionRow) -> Result<TemplateContent, AppError> {
    serde_json::from_str(&row.content).map_err(|_| AppError::Internal("stored template content is not JSON"))
}
