//! The OpenAPI 3.1 description of every route, built from the table below (a test checks the
//! table against the router's own list, so neither can drift): paths with their parameters,
//! request bodies by content type, the bearer key where one is needed, and responses by
//! status class, with the one error shape every JSON error has.

use serde_json::{Map, Value, json};

/// What a request carries.
#[derive(Clone, Copy)]
enum Body {
    /// Nothing.
    None,
    /// A JSON object.
    Json,
    /// A form (`application/x-www-form-urlencoded`).
    Form,
    /// Text of a media type (HL7 v2, a raw email).
    Text(&'static str),
    /// A FHIR resource.
    Fhir,
}

use Body::{Fhir, Form, Json, None as Empty, Text};

/// Every operation: method, path, summary, request body.
const OPERATIONS: &[(&str, &str, &str, Body)] = &[
    ("get", "/healthz", "Whether the process runs", Empty),
    ("get", "/readyz", "Whether the database answers", Empty),
    ("get", "/metrics", "Prometheus metrics (metrics:read)", Empty),
    ("get", "/openapi.json", "This description", Empty),
    ("post", "/v1/identify", "Set traits on a profile (Segment identify)", Json),
    ("post", "/v1/track", "Record an event (Segment track)", Json),
    ("post", "/v1/batch", "Several calls at once (Segment batch)", Json),
    ("post", "/v1/patients/lookup", "External ids by exact email or phone", Json),
    ("get", "/v1/patients/{external_id}", "A profile, masked or full", Empty),
    ("get", "/v1/dictionary", "The data dictionary", Empty),
    ("post", "/v1/dictionary/fields", "Declare a field", Json),
    ("get", "/v1/audit", "The audit trail, paged", Empty),
    ("get", "/v1/keys", "API keys, without secrets", Empty),
    ("post", "/v1/keys/{id}/revoke", "Revoke an API key", Empty),
    ("post", "/v1/lint", "Lint lock-screen text", Json),
    ("post", "/v1/patients/{external_id}/consents", "Record consent", Json),
    ("get", "/v1/patients/{external_id}/consents", "The consent ledger and current state", Empty),
    ("post", "/v1/authorization-forms", "Publish an authorization form version", Json),
    ("get", "/v1/authorization-forms/{version}", "One authorization form version", Empty),
    ("post", "/v1/patients/{external_id}/authorizations", "Record a HIPAA marketing authorization", Json),
    ("post", "/v1/patients/{external_id}/authorizations/{auth_id}/revoke", "Revoke an authorization", Json),
    ("get", "/v1/patients/{external_id}/eligibility", "What the gate would decide", Empty),
    ("post", "/v1/patients/{external_id}/unsubscribe-links", "A one-click unsubscribe link", Json),
    ("get", "/v1/decisions/summary", "Gate decisions by reason", Empty),
    ("post", "/v1/inbound/sms", "An inbound SMS (provider webhook)", Form),
    ("post", "/v1/inbound/email", "A bounce or complaint report: the raw message (message/rfc822, taken as any text)", Text("text/plain")),
    ("post", "/v1/providers/twilio/status", "An SMS delivery report (provider webhook)", Form),
    ("post", "/v1/vault/codes", "Store a code's meaning", Json),
    ("get", "/v1/vault/codes/{code}", "A code's meaning (audited)", Empty),
    ("post", "/v1/segments", "Create a segment", Json),
    ("get", "/v1/segments/{id}/preview", "A segment's size, suppressed", Empty),
    ("get", "/v1/segments/{id}/members", "A segment's members, paged", Empty),
    ("get", "/v1/templates", "Templates", Empty),
    ("post", "/v1/templates", "Create a template", Json),
    ("get", "/v1/templates/{id}", "One template with its versions", Empty),
    ("post", "/v1/templates/{id}/versions", "A new draft version", Json),
    ("post", "/v1/templates/{id}/versions/{version}/{step}", "Preview, submit, approve or reject a version", Json),
    ("get", "/v1/templates/{id}/report", "A template's report", Empty),
    ("get", "/v1/campaigns", "Campaigns", Empty),
    ("post", "/v1/campaigns", "Create a campaign", Json),
    ("get", "/v1/campaigns/{id}", "One campaign", Empty),
    ("put", "/v1/campaigns/{id}", "Edit a draft campaign", Json),
    ("delete", "/v1/campaigns/{id}", "Delete a draft campaign", Empty),
    ("get", "/v1/campaigns/{id}/checklist", "The pre-launch checklist", Empty),
    ("post", "/v1/campaigns/{id}/preflight", "The gate over every member, nothing sent", Json),
    ("get", "/v1/campaigns/{id}/progress", "Progress counters", Empty),
    ("get", "/v1/campaigns/{id}/progress/stream", "Progress as server-sent events", Empty),
    ("get", "/v1/campaigns/{id}/report", "A campaign's report", Empty),
    ("post", "/v1/campaigns/{id}/test", "A test send to staff", Json),
    ("post", "/v1/campaigns/{id}/{step}", "Approve, launch, pause, resume, cancel or resend", Json),
    ("get", "/v1/journeys", "Journeys", Empty),
    ("post", "/v1/journeys", "Create a journey", Json),
    ("post", "/v1/journeys/timeline", "One appointment's timeline", Json),
    ("get", "/v1/journeys/{id}", "One journey with its versions", Empty),
    ("post", "/v1/journeys/{id}/versions", "A new draft version", Json),
    ("post", "/v1/journeys/{id}/versions/{version}/submit", "Submit a version", Json),
    ("post", "/v1/journeys/{id}/versions/{version}/approve", "Approve a version", Json),
    ("post", "/v1/journeys/{id}/review", "Record the quarterly review", Json),
    ("post", "/v1/journeys/{id}/pause", "Pause a journey", Json),
    ("post", "/v1/journeys/{id}/resume", "Resume a journey", Json),
    ("post", "/v1/journeys/{id}/archive", "Archive a journey", Json),
    ("get", "/v1/journeys/{id}/runs", "Run counts, suppressed", Empty),
    ("post", "/v1/journeys/{id}/simulate", "A dry run for one patient", Json),
    ("post", "/v1/messages", "Queue a transactional message", Json),
    ("get", "/v1/messages/{id}", "A message's status", Empty),
    ("post", "/v1/messages/{id}/requeue", "Send an uncertain or dead message again", Empty),
    ("get", "/v1/dispatch", "The outbox by status, and the kill switch", Empty),
    ("post", "/v1/dispatch/pause", "Pause all sending", Json),
    ("post", "/v1/dispatch/resume", "Resume sending", Empty),
    ("post", "/v1/patients/{external_id}/secure-messages", "Store a secure message and nudge its patient", Json),
    ("get", "/v1/secure-messages/{id}", "A secure message's status", Empty),
    ("get", "/v1/webhooks", "Webhook subscriptions", Empty),
    ("post", "/v1/webhooks", "Subscribe to events", Json),
    ("delete", "/v1/webhooks/{id}", "Turn a subscription off", Empty),
    ("get", "/v1/webhooks/{id}/deliveries", "A subscription's deliveries", Empty),
    ("post", "/fhir", "A batch or transaction Bundle", Fhir),
    ("post", "/fhir/Patient", "A FHIR Patient", Fhir),
    ("post", "/fhir/Consent", "A FHIR Consent ending an authorization", Fhir),
    ("post", "/fhir/Appointment", "A FHIR Appointment", Fhir),
    ("put", "/fhir/Appointment/{id}", "An updated FHIR Appointment", Fhir),
    ("post", "/hl7/v2", "An HL7 v2 message (x-application/hl7-v2+er7, taken as any text), answered with its ACK", Text("text/plain")),
    ("get", "/dev/mailbox", "The development mailbox (demo only)", Empty),
    ("get", "/dev/mailbox.json", "The development mailbox as JSON (demo only)", Empty),
    ("post", "/dev/clock", "Move the development clock (demo only)", Json),
    ("get", "/c/{token}", "A tracked link", Empty),
    ("get", "/u/{token}", "What an unsubscribe link would do", Empty),
    ("post", "/u/{token}", "Unsubscribe at once (RFC 8058)", Form),
    ("get", "/portal", "The portal: messages, or sign-in", Empty),
    ("get", "/portal/portal.css", "The portal's stylesheet", Empty),
    ("post", "/portal/sign-in", "Sign in", Form),
    ("post", "/portal/sign-out", "Sign out", Form),
    ("get", "/portal/t/{token}", "A secure message's link", Empty),
    ("post", "/portal/t/{token}", "Use the link: a one-time code is sent", Form),
    ("get", "/portal/verify", "The one-time code form", Empty),
    ("post", "/portal/verify", "Check the one-time code", Form),
    ("post", "/portal/verify/resend", "Send a new code", Form),
    ("get", "/portal/password", "The password form", Empty),
    ("post", "/portal/password", "Set or change the password", Form),
    ("get", "/portal/messages/{id}", "One secure message", Empty),
    ("get", "/portal/preferences", "The preference center", Empty),
    ("post", "/portal/preferences", "Save preferences", Form),
    ("post", "/portal/authorizations/{id}/revoke", "Revoke an authorization", Form),
    ("post", "/oauth/token", "An access token for an API client (OAuth 2.0 client credentials)", Form),
    ("get", "/portal/a/{token}", "What an appointment link does", Empty),
    ("post", "/portal/a/{token}", "Confirm or ask to reschedule", Form),
];

/// Query parameters by path.
fn query_parameters(path: &str) -> &'static [(&'static str, &'static str)] {
    match path {
        "/v1/patients/{external_id}" => &[("view", "string")],
        "/v1/audit" => &[("after", "integer"), ("limit", "integer"), ("until", "integer")],
        "/v1/patients/{external_id}/authorizations/{auth_id}/revoke" => &[("source", "string")],
        "/v1/patients/{external_id}/eligibility" => &[("channel", "string"), ("purpose", "string"), ("topic", "string"), ("uses_phi", "string"), ("template_id", "string"), ("at", "string")],
        "/v1/decisions/summary" => &[("since", "string")],
        "/v1/segments/{id}/members" => &[("cursor", "string"), ("limit", "integer")],
        "/portal/password" => &[("next", "string")],
        _ => &[],
    }
}

fn error_schema() -> Value {
    json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}, "errors": {"type": "array"}}}}})
}

/// The media type a path answers with, and its schema.
fn answer_of(path: &str) -> (&'static str, Value) {
    let text = json!({"type": "string"});
    if path.starts_with("/portal") && path != "/portal/portal.css" || path == "/dev/mailbox" || path.starts_with("/u/") || path.starts_with("/c/") {
        ("text/html", text)
    } else if path == "/portal/portal.css" {
        ("text/css", text)
    } else if path == "/metrics" {
        ("text/plain", text)
    } else if path.starts_with("/hl7") {
        ("x-application/hl7-v2+er7", text)
    } else if path.starts_with("/fhir") {
        ("application/fhir+json", json!({"type": "object", "required": ["resourceType"]}))
    } else if path.ends_with("/progress/stream") {
        ("text/event-stream", text)
    } else if path == "/v1/inbound/sms" {
        ("application/xml", text)
    } else {
        ("application/json", json!({"type": "object"}))
    }
}

fn operation(method: &str, path: &str, summary: &str, body: Body) -> Value {
    let mut parameters: Vec<Value> = path
        .split('/')
        .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}))
        .collect();
    parameters.extend(query_parameters(path).iter().filter(|_| method == "get" || path.ends_with("/revoke")).map(|(name, kind)| json!({"name": name, "in": "query", "required": false, "schema": {"type": kind}})));
    let (media, schema) = answer_of(path);
    let mut failure = json!({"application/json": {"schema": error_schema()}});
    if media != "application/json" {
        failure[media] = json!({"schema": if media == "application/fhir+json" { json!({"type": "object", "required": ["resourceType"]}) } else { json!({"type": "string"}) }});
    }
    let mut responses = json!({
        "2XX": {"description": "done", "content": {media: {"schema": schema}}},
        "4XX": {"description": "refused: the code says why, the field where", "content": failure},
        "503": {"description": "storage unavailable", "content": {"application/json": {"schema": error_schema()}}},
    });
    if path == "/oauth/token" {
        // RFC 6749 section 5.2: {"error": "invalid_client"}.
        let oauth = json!({"application/json": {"schema": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}});
        responses["4XX"] = json!({"description": "refused as RFC 6749 section 5.2 says", "content": oauth});
    }
    if media == "text/html" {
        responses["3XX"] = json!({"description": "on to the next page"});
    }
    let mut op = json!({"summary": summary, "operationId": format!("{method} {path}"), "parameters": parameters, "responses": responses});
    let keyed = ["/v1/", "/fhir", "/hl7", "/metrics", "/dev/clock"].iter().any(|p| path.starts_with(p)) && !path.starts_with("/v1/inbound/sms") && !path.starts_with("/v1/providers/");
    if keyed {
        op["security"] = json!([{"bearer": []}]);
    }
    let content = match body {
        Empty => None,
        Json => Some(("application/json", json!({"type": "object"}))),
        Fhir => Some(("application/fhir+json", json!({"type": "object"}))),
        Form => Some(("application/x-www-form-urlencoded", json!({"type": "object", "additionalProperties": {"type": "string"}}))),
        Text(media) => Some((media, json!({"type": "string"}))),
    };
    if let Some((media, schema)) = content {
        op["requestBody"] = json!({"required": true, "content": {media: {"schema": schema}}});
    }
    op
}

/// The whole description.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (method, path, summary, body) in OPERATIONS {
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        entry[*method] = operation(method, path, summary, *body);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Sotto", "version": env!("CARGO_PKG_VERSION"), "description": "Patient engagement with HIPAA as a property of the engine. Errors are {\"error\": {\"code\", \"message\", \"field\"?, \"errors\"?}}."},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API key (sotto_…), or an API client's access token (sat_…) from /oauth/token; a client may instead sign each request: Authorization: Sotto-HMAC-SHA256 client_id=…, timestamp=…, signature=hex(HMAC-SHA256(secret, METHOD\\npath?query\\ntimestamp\\nhex(SHA-256(body))))"},
            "client_credentials": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}}},
        }},
        "paths": paths,
    })
}

/// `GET /openapi.json`.
pub(crate) async fn serve() -> axum::Json<Value> {
    axum::Json(document())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::OPERATIONS;

    /// Every `(method, path)` the router serves, read from its source.
    fn routed() -> BTreeSet<(String, String)> {
        let source = include_str!("lib.rs");
        let mut out = BTreeSet::new();
        for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
            let path = line[8..].split('"').next().unwrap_or_default().to_owned();
            for method in ["get", "post", "put", "delete"] {
                let call = format!("{method}(");
                if line.contains(&format!(", {call}")) || line.contains(&format!(".{call}")) || line.contains(&format!("routing::{call}")) {
                    out.insert((method.to_owned(), path.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn the_description_lists_every_route_the_router_serves_and_no_other() {
        let described: BTreeSet<(String, String)> = OPERATIONS.iter().map(|(m, p, _, _)| ((*m).to_owned(), (*p).to_owned())).collect();
        let routed = routed();
        assert!(routed.len() > 90, "{} routes read", routed.len());
        let missing: Vec<_> = routed.difference(&described).collect();
        let extra: Vec<_> = described.difference(&routed).collect();
        assert!(missing.is_empty() && extra.is_empty(), "not described: {missing:?}; described but not routed: {extra:?}");
    }
}
