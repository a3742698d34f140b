-- 001_core: the core pipeline's record.
--
-- PostgreSQL is Oro's only source of truth: a report exists once its
-- transaction commits, and every daemon finds undone work here (reports in
-- state 'received', deliveries not 'acknowledged'), never in a message.
-- State columns are CHECK constraints mirroring the enums in
-- services/common/ (vocab.h and the daemons' state comments).

-- Departments come from the active ruleset document (oro rules import).
CREATE TABLE department (
    code                      text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    name                      text NOT NULL,
    escalates_to              text REFERENCES department (code) DEFERRABLE INITIALLY DEFERRED,
    disclosure_basis_required boolean NOT NULL DEFAULT false,
    updated_at                timestamptz NOT NULL DEFAULT now()
);

-- Who may talk to Oro. public_key is the principal's CURVE key (Z85), used
-- once transport security is on; until then principals are named by clients.
CREATE TABLE principal (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('staff', 'department', 'service', 'admin')),
    department  text REFERENCES department (code),
    public_key  text UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((kind = 'department') = (department IS NOT NULL))
);

-- Every published ruleset, kept forever so that any decision can be
-- reproduced from the version it names. document is the JSON exactly as
-- published.
CREATE TABLE ruleset (
    version       integer PRIMARY KEY CHECK (version > 0),
    name          text NOT NULL,
    document      text NOT NULL,
    sha256        text NOT NULL,
    note          text,
    published_by  text NOT NULL,
    published_at  timestamptz NOT NULL DEFAULT now()
);

-- The rules of each version, one row each, position 1-based as in the
-- document (decision.matched_rules refers to these positions).
CREATE TABLE rule (
    ruleset_version integer NOT NULL REFERENCES ruleset (version),
    position        integer NOT NULL CHECK (position > 0),
    name            text NOT NULL,
    document        jsonb NOT NULL,
    PRIMARY KEY (ruleset_version, position),
    UNIQUE (ruleset_version, name)
);

-- The one active version (a single row), switched atomically.
CREATE TABLE ruleset_active (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version       integer NOT NULL REFERENCES ruleset (version),
    activated_by  text NOT NULL,
    activated_at  timestamptz NOT NULL DEFAULT now()
);

-- Case numbers are sequential per year: ORO-2026-000123.
CREATE TABLE case_counter (
    year        integer PRIMARY KEY,
    last_number integer NOT NULL CHECK (last_number > 0)
);

-- A filed concern: its routing attributes, in clear so that rules and
-- statistics work without unsealing. Sensitive content is in
-- report_content.
CREATE TABLE report (
    id                 bigserial PRIMARY KEY,
    case_number        text NOT NULL UNIQUE,
    reporter           text NOT NULL,
    client_key         text NOT NULL,
    receipt_hash       bytea NOT NULL UNIQUE,   -- SHA-256 of the receipt
    category           text NOT NULL CHECK (category IN ('violent_rhetoric', 'extremist_symbols',
                           'propaganda', 'extremist_contacts', 'recruitment', 'travel_conflict_zone',
                           'financing', 'weapons', 'threat_of_violence', 'planned_attack',
                           'threat_against_staff', 'association_activity', 'returnee', 'other')),
    urgency            text NOT NULL CHECK (urgency IN ('acute', 'urgent', 'concern')),
    subject_kind       text NOT NULL CHECK (subject_kind IN ('child', 'adult', 'group', 'association',
                           'employee', 'material', 'unknown')),
    age_band           text NOT NULL CHECK (age_band IN ('0-11', '12-17', '18-20', '21+', 'unknown')),
    setting            text NOT NULL CHECK (setting IN ('school', 'leisure', 'social_services',
                           'sports_facility', 'online', 'public_space', 'workplace', 'other')),
    district           text NOT NULL,
    association_grant  text NOT NULL CHECK (association_grant IN ('yes', 'no', 'unknown')),
    relatives_informed text NOT NULL CHECK (relatives_informed IN ('yes', 'no', 'unknown')),
    observed_at        timestamptz,
    reporter_unit      text,
    guidance           jsonb NOT NULL DEFAULT '[]',  -- as answered to the reporter
    -- received: committed, not yet routed; routed: decision and deliveries exist
    state              text NOT NULL DEFAULT 'received' CHECK (state IN ('received', 'routed')),
    filed_at           timestamptz NOT NULL DEFAULT now(),
    routed_at          timestamptz,
    UNIQUE (reporter, client_key),
    CHECK ((state = 'routed') = (routed_at IS NOT NULL))
);
CREATE INDEX report_unrouted ON report (id) WHERE state = 'received';

-- The sensitive part of a report, apart so that it can be sealed and
-- purged on its own and so that notice paths never read it.
CREATE TABLE report_content (
    report_id               bigint PRIMARY KEY REFERENCES report (id),
    description             text NOT NULL,
    subject_age             integer CHECK (subject_age BETWEEN 0 AND 120),
    subject_name            text,
    subject_personal_number text,
    subject_unit            text,
    reporter_phone          text,
    receipt                 text NOT NULL  -- answered again on resubmission of the same client_key
);

-- The router's decision: which version, which rules.
CREATE TABLE decision (
    report_id       bigint PRIMARY KEY REFERENCES report (id),
    ruleset_version integer NOT NULL REFERENCES ruleset (version),
    matched_rules   integer[] NOT NULL,
    fallback        boolean NOT NULL,
    decided_by      text NOT NULL,
    decided_at      timestamptz NOT NULL DEFAULT now()
);

-- One department's copy of a case. The id is the delivery id on the wire:
-- redelivery carries the same id.
CREATE TABLE delivery (
    id               bigserial PRIMARY KEY,
    report_id        bigint NOT NULL REFERENCES report (id),
    department       text NOT NULL REFERENCES department (code),
    view             text NOT NULL CHECK (view IN ('full', 'notice')),
    priority         text NOT NULL CHECK (priority IN ('P0', 'P1', 'P2', 'P3')),
    ack_within       integer NOT NULL CHECK (ack_within > 0),  -- seconds
    deadline         timestamptz NOT NULL,
    disclosure_basis text CHECK (disclosure_basis IS NULL OR view = 'full'),
    -- rule: from the decision; fallback: the coordinator fallback
    origin           text NOT NULL DEFAULT 'rule' CHECK (origin IN ('rule', 'fallback')),
    -- pending: created, not yet sent; sent: pushed to at least one client;
    -- acknowledged: a department member confirmed it (final)
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'acknowledged')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    first_sent_at    timestamptz,
    last_sent_at     timestamptz,
    send_count       integer NOT NULL DEFAULT 0,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    CHECK ((state = 'acknowledged') = (acknowledged_at IS NOT NULL AND acknowledged_by IS NOT NULL)),
    CHECK ((state = 'pending') = (first_sent_at IS NULL) OR state = 'acknowledged')
);
CREATE UNIQUE INDEX delivery_once ON delivery (report_id, department);
CREATE INDEX delivery_open ON delivery (department, id) WHERE state <> 'acknowledged';
CREATE INDEX delivery_unsent ON delivery (id) WHERE state = 'pending';

-- What happened to a case, in order.
CREATE TABLE timeline (
    id          bigserial PRIMARY KEY,
    report_id   bigint NOT NULL REFERENCES report (id),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    event       text NOT NULL CHECK (event IN ('filed', 'routed', 'delivered', 'acknowledged')),
    delivery_id bigint REFERENCES delivery (id),
    department  text REFERENCES department (code),
    actor       text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_report ON timeline (report_id, id);
