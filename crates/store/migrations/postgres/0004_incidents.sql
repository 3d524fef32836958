-- Incidents, their timelines, and the containment operations the server runs (mass actions,
-- approvals, playbook runs). Each record is one JSON `body`, owned by the code that writes it;
-- the columns beside it are what lists filter and sort on.

-- `timeline_seq` is the last timeline number handed out: an append bumps it and numbers its
-- entries in the same transaction, so concurrent appends never collide or leave gaps.
CREATE TABLE incidents (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT,
    scope_kind   TEXT NOT NULL,
    subject      TEXT NOT NULL,
    status       TEXT NOT NULL,
    severity     TEXT NOT NULL,
    opened_at    BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    timeline_seq BIGINT NOT NULL DEFAULT 0,
    body         JSONB NOT NULL
);
CREATE INDEX incidents_by_tenant_status ON incidents (tenant_id, status, updated_at, id);
CREATE INDEX incidents_by_tenant ON incidents (tenant_id, updated_at, id);
CREATE INDEX incidents_by_subject ON incidents (tenant_id, subject);
-- Active incidents of all tenants, newest first: what the grouper restores on start.
CREATE INDEX incidents_by_status ON incidents (status, updated_at, id);

CREATE TABLE incident_timeline (
    incident_id TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    body        JSONB NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

CREATE TABLE containment_ops (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    tenant_id  TEXT,
    status     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    body       JSONB NOT NULL
);
CREATE INDEX containment_ops_by_tenant ON containment_ops (kind, tenant_id, updated_at, id);
CREATE INDEX containment_ops_by_status ON containment_ops (kind, status, updated_at, id);
