-- RADIUS accounting: every acknowledged record, the live sessions (restored on start), hourly
-- usage and the last sighting per IMSI, and IMSIs that are not registered SIMs.
-- Structured values (session snapshot, location) are JSON in `detail`/`location`; the columns
-- beside them are what queries filter on.

CREATE TABLE accounting_records (
    id          INTEGER PRIMARY KEY,
    nas         TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    imsi        TEXT,
    event_time  INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX accounting_records_by_session ON accounting_records (session_id, nas);

CREATE TABLE radius_sessions (
    nas         TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    tenant_id   TEXT,
    device_id   TEXT,
    imsi        TEXT,
    ipv4        TEXT,
    ipv6_net    TEXT,
    updated_at  INTEGER NOT NULL,
    detail      TEXT NOT NULL,
    PRIMARY KEY (nas, session_id)
) WITHOUT ROWID;
CREATE INDEX radius_sessions_by_imsi ON radius_sessions (imsi);
CREATE INDEX radius_sessions_by_tenant ON radius_sessions (tenant_id, device_id);

CREATE TABLE usage_hourly (
    imsi        TEXT NOT NULL,
    hour        INTEGER NOT NULL,
    bytes_up    INTEGER NOT NULL,
    bytes_down  INTEGER NOT NULL,
    PRIMARY KEY (imsi, hour)
) WITHOUT ROWID;

CREATE TABLE sim_sightings (
    imsi        TEXT PRIMARY KEY,
    imeisv      TEXT,
    location    TEXT,
    seen_at     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE unknown_imsis (
    imsi        TEXT PRIMARY KEY,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    last_nas    TEXT,
    last_imeisv TEXT
) WITHOUT ROWID;
