-- Message templates and their versions (PostgreSQL). A version's content never changes; its
-- review moves draft -> submitted -> approved or rejected, and those two are final.
CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE template_versions (
    template_id TEXT NOT NULL REFERENCES templates (id),
    version BIGINT NOT NULL,
    content TEXT NOT NULL,
    analysis TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'approved', 'rejected')),
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    submitted_at BIGINT,
    reviewer TEXT,
    reviewed_at BIGINT,
    review_comment TEXT,
    PRIMARY KEY (template_id, version),
    CHECK (reviewer IS NULL OR reviewer <> author)
);
CREATE FUNCTION sotto_guard_template_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'template versions are kept';
    END IF;
    IF OLD.status IN ('approved', 'rejected') THEN
        RAISE EXCEPTION 'a reviewed template version is final';
    END IF;
    IF NEW.template_id <> OLD.template_id OR NEW.version <> OLD.version OR NEW.content <> OLD.content
        OR NEW.analysis <> OLD.analysis OR NEW.author <> OLD.author OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'template version content is immutable';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER template_versions_are_guarded BEFORE UPDATE OR DELETE ON template_versions
    FOR EACH ROW EXECUTE FUNCTION sotto_guard_template_version();
