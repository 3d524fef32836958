-- RADIUS accounting: every acknowledged record, the live sessions (restored on start), hourly
-- usage and the last sighting per IMSI, and IMSIs that are not registered SIMs.
-- Structured values (session snapshot, location) are JSON in `detail`/`location`; the columns
-- beside them are what queries filter on.

CREATE TABLE accounting_records (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    nas         TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    imsi        TEXT,
    event_time  BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
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
    updated_at  BIGINT NOT NULL,
    detail      TEXT NOT NULL,
    PRIMARY KEY (nas, session_id)
);
CREATE INDEX radius_sessions_by_imsi ON radius_sessions (imsi);
CREATE INDEX radius_sessions_by_tenant ON radius_sessions (tenant_id, device_id);

CREATE TABLE usage_hourly (
    imsi        TEXT NOT NULL,
    hour        BIGINT NOT NULL,
    bytes_up    BIGINT NOT NULL,
    bytes_down  BIGINT NOT NULL,
    PRIMARY KEY (imsi, hour)
);

CREATE TABLE sim_sightings (
    imsi        TEXT PRIMARY KEY,
    imeisv      TEXT,
    location    TEXT,
    seen_at     BIGINT NOT NULL
);

CREATE TABLE unknown_imsis (
    imsi        TEXT PRIMARY KEY,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    count       BIGINT NOT NULL,
    last_nas    TEXT,
    last_imeisv TEXT
);
