//! Rows of message templates and their versions.

/// A template: a name and a channel; what it says lives in its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRow {
    /// Its id (`tpl_…`).
    pub id: String,
    /// Its name (checked for health terms).
    pub name: String,
    /// `email`, `sms` or `push`.
    pub channel: String,
    /// When it was created.
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
}

/// One version of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateVersionRow {
    /// The template.
    pub template_id: String,
    /// 1, 2, …
    pub version: i64,
    /// The surfaces as JSON (`TemplateContent`).
    pub content: String,
    /// The analysis as JSON: the variables each surface uses and the lint warnings.
    pub analysis: String,
    /// `draft`, `submitted`, `approved` or `rejected`.
    pub status: String,
    /// Who wrote it.
    pub author: String,
    /// When it was written.
    pub created_at: i64,
    /// When it was submitted for review.
    pub submitted_at: Option<i64>,
    /// Who approved or rejected it (never the author).
    pub reviewer: Option<String>,
    /// When it was reviewed.
    pub reviewed_at: Option<i64>,
    /// The reviewer's comment.
    pub review_comment: Option<String>,
}

/// A move in a version's review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The status it must be in now.
    pub from: &'static str,
    /// The status it moves to.
    pub to: &'static str,
    /// The reviewer, for approvals and rejections.
    pub reviewer: Option<String>,
    /// The reviewer's comment.
    pub comment: Option<String>,
}
