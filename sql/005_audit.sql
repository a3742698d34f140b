-- 005_audit: the tamper-evident audit trail. Every filing, delivery sent,
-- delivery read, acknowledgement, re-route, escalation, rules publish or
-- activation and key rotation adds an entry in the same transaction as the
-- action. Entries form a chain: each names its predecessor (prev_id) and
-- carries mac = HMAC-SHA256(audit key, predecessor's mac || canonical
-- content), under a key kept in the key file, outside the database, so
-- `oro audit verify` finds the first entry modified, deleted or inserted.
-- Writers serialise on advisory lock 727001 (services/common/audit.c).
CREATE TABLE audit (
    id          bigint PRIMARY KEY CHECK (id > 0),
    prev_id     bigint NOT NULL CHECK (prev_id >= 0 AND prev_id < id),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL CHECK (action IN ('filed', 'delivery_sent', 'delivery_read', 'acknowledged',
                    'rerouted', 'escalated', 'operator_alert', 'rules_published', 'rules_activated',
                    'keys_rotated', 'principal_changed', 'purged', 'hold', 'forbidden')),
    report_id   bigint,
    delivery_id bigint,
    detail      text NOT NULL DEFAULT '{}',  -- JSON, kept as written so that its MAC verifies
    mac         bytea NOT NULL CHECK (length(mac) = 32)
);
CREATE INDEX audit_report ON audit (report_id) WHERE report_id IS NOT NULL;

-- Append-only for everyone: an edit needs a superuser who first disables
-- this trigger, and then `oro audit verify` names the entry.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
