-- Message templates and their versions (SQLite). A version's content never changes; its
-- review moves draft -> submitted -> approved or rejected, and those two are final.
CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE template_versions (
    template_id TEXT NOT NULL REFERENCES templates (id),
    version INTEGER NOT NULL,
    content TEXT NOT NULL,
    analysis TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'approved', 'rejected')),
    author TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    submitted_at INTEGER,
    reviewer TEXT,
    reviewed_at INTEGER,
    review_comment TEXT,
    PRIMARY KEY (template_id, version),
    CHECK (reviewer IS NULL OR reviewer <> author)
);
CREATE TRIGGER template_versions_content_is_immutable
BEFORE UPDATE OF template_id, version, content, analysis, author, created_at ON template_versions
BEGIN SELECT RAISE(ABORT, 'template version content is immutable'); END;
CREATE TRIGGER template_versions_reviews_are_final
BEFORE UPDATE ON template_versions WHEN OLD.status IN ('approved', 'rejected')
BEGIN SELECT RAISE(ABORT, 'a reviewed template version is final'); END;
CREATE TRIGGER template_versions_are_kept
BEFORE DELETE ON template_versions
BEGIN SELECT RAISE(ABORT, 'template versions are kept'); END;
