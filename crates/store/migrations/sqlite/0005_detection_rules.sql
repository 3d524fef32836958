-- Detection rules defined through the API (those of the configuration file are not stored),
-- and operators' suppression windows. Each record is one JSON `body`, owned by the code that
-- writes it; the columns beside it are what lists filter and sort on.

CREATE TABLE detection_rules (
    name       TEXT PRIMARY KEY,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    body       TEXT NOT NULL
);

-- `tenant_id` NULL: a window over every tenant (platform operators).
CREATE TABLE suppressions (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    body       TEXT NOT NULL
);
-- The windows still to end (what the detection workers load), per tenant or all.
CREATE INDEX suppressions_by_tenant ON suppressions (tenant_id, ends_at);
CREATE INDEX suppressions_by_end ON suppressions (ends_at);
