//! Rows of campaigns and how their messages stand.

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRow {
    /// `cmp_` and hex digits.
    pub id: String,
    /// Its name (checked for health terms).
    pub name: String,
    /// What to send to whom and when, as JSON (segment, templates by channel, channels in
    /// order of preference, purpose, topic, authorization basis, schedule, throttle).
    pub spec: String,
    /// `draft`, `approved`, `launched`, `paused` or `cancelled`.
    pub state: String,
    /// The template versions pinned at launch, as JSON (`{template id: version}`).
    pub pinned: String,
    /// Who wrote it.
    pub created_by: String,
    /// When it was created.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
    /// Who approved it (never its author).
    pub approved_by: Option<String>,
    /// When.
    pub approved_at: Option<i64>,
    /// When it was launched.
    pub launched_at: Option<i64>,
    /// How many messages launch queued.
    pub audience: Option<i64>,
    /// Who approved it a second time, for an audience past the configured size (never its
    /// author, never the first approver).
    pub second_approved_by: Option<String>,
    /// When.
    pub second_approved_at: Option<i64>,
}

/// How many of a campaign's messages stand in one state, with one decision and reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageCount {
    /// The outbox state.
    pub state: String,
    /// `allow`, `defer` or `deny`, once decided.
    pub decision: Option<String>,
    /// Space-separated reason codes.
    pub reasons: String,
    /// How many.
    pub count: i64,
}

/// Which messages a report counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportScope<'a> {
    /// One campaign's.
    Campaign(&'a str),
    /// Every message of one template.
    Template(&'a str),
}

/// One line of a report: a template version's messages in one state with one set of reasons,
/// and how many of them were clicked and unsubscribed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// The template.
    pub template_id: String,
    /// The version sent (none for messages never allowed).
    pub template_version: Option<i64>,
    /// The outbox state.
    pub state: String,
    /// Space-separated reason codes.
    pub reasons: String,
    /// How many messages.
    pub count: i64,
    /// How many of them had a tracked link clicked.
    pub clicked: i64,
    /// How many of them were unsubscribed from through their own link.
    pub unsubscribed: i64,
}

/// A move of a launched campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignControl {
    /// Hold its messages not yet sent.
    Pause,
    /// Release them.
    Resume,
    /// End it: its messages not yet sent are cancelled.
    Cancel,
    /// Send again the messages that failed or went to dead letter (and only those).
    Resend,
}
