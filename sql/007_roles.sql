-- 007_roles: least privilege. Each daemon connects as its own role
-- (database_roles = 1 makes oro-intake connect as oro_intake, and so on),
-- granted only what its job needs; none may change or delete an audit
-- row, and none may touch the strategy's tables except to read them. The
-- owner of the schema (the role that migrates) is the administrators' role:
-- the strategy owner's commands (rules, principal, keys rotate, purge, hold,
-- stats, explain) connect with it. Roles are cluster-wide: created once,
-- granted per database. How a role logs in (peer, password, certificate)
-- is pg_hba.conf's business: deploy/README.md.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['oro_intake', 'oro_router', 'oro_notify'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', r);
        END IF;
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r);
        EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', r);
        -- every daemon: read the strategy and principals, write its status, append to the audit trail
        EXECUTE format('GRANT SELECT ON ruleset, ruleset_active, rule, department, principal TO %I', r);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON daemon_status TO %I', r);
        EXECUTE format('GRANT SELECT, INSERT ON audit TO %I', r);
    END LOOP;
END
$$;

-- oro-intake: file reports (number, report, sealed content, timeline) and answer receipts.
GRANT SELECT, INSERT, UPDATE ON case_counter TO oro_intake;
GRANT SELECT, INSERT ON report, report_content, timeline TO oro_intake;
GRANT SELECT ON delivery TO oro_intake;
GRANT USAGE ON SEQUENCE report_id_seq, timeline_id_seq TO oro_intake;

-- oro-router: claim unrouted reports, record decisions and deliveries.
GRANT SELECT ON report, report_content TO oro_router;
GRANT UPDATE (state, routed_at) ON report TO oro_router;
GRANT SELECT, INSERT ON decision, delivery, timeline TO oro_router;
GRANT USAGE ON SEQUENCE delivery_id_seq, timeline_id_seq TO oro_router;

-- oro-notify: deliver, remind, escalate, re-route and record acknowledgements.
GRANT SELECT ON report, report_content, decision TO oro_notify;
GRANT SELECT, INSERT, UPDATE ON delivery TO oro_notify;
GRANT SELECT, INSERT ON timeline TO oro_notify;
GRANT USAGE ON SEQUENCE delivery_id_seq, timeline_id_seq TO oro_notify;
