-- Registry: tenants, profiles, groups, devices, SIMs, API tokens.
-- List-valued device fields are kept twice: as JSON in the device row (one read returns the whole
-- device) and as rows in side tables indexed for search (by tag/group, by address).

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE profiles (
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, name)
) WITHOUT ROWID;

CREATE TABLE fleet_groups (
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, name)
) WITHOUT ROWID;

CREATE TABLE devices (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    profile     TEXT,
    state       TEXT NOT NULL,
    mac         TEXT,
    firmware    TEXT,
    tags        TEXT NOT NULL,
    groups_     TEXT NOT NULL,
    ips         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX devices_by_profile ON devices (tenant_id, profile, id);
CREATE INDEX devices_by_state ON devices (tenant_id, state, id);

CREATE TABLE device_labels (
    tenant_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, value, device_id)
) WITHOUT ROWID;

-- Addresses as 16-byte big-endian (IPv4 mapped into ::ffff:0:0/96) so that IPv4 and IPv6
-- compare bytewise in one index.
CREATE TABLE device_ips (
    tenant_id   TEXT NOT NULL,
    net_start   BLOB NOT NULL,
    net_end     BLOB NOT NULL,
    device_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, net_start, net_end, device_id)
) WITHOUT ROWID;

-- A rowid table with a unique ICCID index (not WITHOUT ROWID keyed by ICCID): ICCIDs arrive in
-- random order, and inserting small index entries at random places is much cheaper than moving
-- whole rows (measured: about 35% faster bulk import of a million SIMs).
CREATE TABLE sims (
    iccid         TEXT NOT NULL UNIQUE,
    tenant_id     TEXT NOT NULL,
    imsi          TEXT NOT NULL UNIQUE,
    msisdn        TEXT,
    imei_policy   TEXT NOT NULL,
    allowed_imeis TEXT NOT NULL,
    learned_imei  TEXT,
    device_id     TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX sims_by_device ON sims (tenant_id, device_id);

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    tenant_id   TEXT,
    hash        BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
