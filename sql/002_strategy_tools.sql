-- 002_strategy_tools: what the strategy owner's tools need: action areas,
-- the history of activations, a notification when the active ruleset
-- changes, and re-routing of deliveries.

-- The strategy's action areas (åtgärdsområden), per ruleset version, as the
-- document defines them; a rule may name the area it serves.
CREATE TABLE action_area (
    ruleset_version integer NOT NULL REFERENCES ruleset (version),
    number          integer NOT NULL CHECK (number > 0),
    name            text NOT NULL,
    PRIMARY KEY (ruleset_version, number)
);
ALTER TABLE rule ADD COLUMN action_area integer;
ALTER TABLE rule ADD FOREIGN KEY (ruleset_version, action_area) REFERENCES action_area (ruleset_version, number);

-- Every activation (publish or rollback), in order: who switched to which
-- version, when and why.
CREATE TABLE ruleset_activation (
    id            bigserial PRIMARY KEY,
    version       integer NOT NULL REFERENCES ruleset (version),
    activated_by  text NOT NULL,
    activated_at  timestamptz NOT NULL DEFAULT now(),
    kind          text NOT NULL CHECK (kind IN ('publish', 'activate')),
    note          text
);
INSERT INTO ruleset_activation (version, activated_by, activated_at, kind, note)
SELECT version, activated_by, activated_at, 'publish', 'recorded by migration 002' FROM ruleset_active;

-- Daemons LISTEN on oro_ruleset: whatever changes the active version, they
-- hear it at COMMIT and switch without restart.
CREATE FUNCTION ruleset_active_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('oro_ruleset', NEW.version::text);
    RETURN NEW;
END
$$;
CREATE TRIGGER ruleset_active_notify AFTER INSERT OR UPDATE ON ruleset_active
    FOR EACH ROW EXECUTE FUNCTION ruleset_active_notify();

-- Re-routing: a department (or the coordinator) closes its delivery as
-- 'rerouted' and a new delivery (origin 'reroute', parent_id the closed one)
-- goes to another department. A rerouted delivery may have been
-- acknowledged first (read, then sent on).
ALTER TABLE delivery
    DROP CONSTRAINT delivery_state_check,
    DROP CONSTRAINT delivery_origin_check,
    DROP CONSTRAINT delivery_check1,
    DROP CONSTRAINT delivery_check2;
ALTER TABLE delivery
    ADD COLUMN parent_id bigint REFERENCES delivery (id),
    ADD COLUMN rerouted_at timestamptz,
    ADD COLUMN rerouted_by text,
    ADD COLUMN reroute_reason text,
    -- pending: created, not yet sent; sent: pushed to at least one client;
    -- acknowledged: confirmed by a department member; rerouted: sent on to
    -- another department by its holder (final)
    ADD CONSTRAINT delivery_state_check CHECK (state IN ('pending', 'sent', 'acknowledged', 'rerouted')),
    ADD CONSTRAINT delivery_origin_check CHECK (origin IN ('rule', 'fallback', 'reroute')),
    ADD CONSTRAINT delivery_acknowledged_check
        CHECK (state <> 'acknowledged' OR (acknowledged_at IS NOT NULL AND acknowledged_by IS NOT NULL)),
    ADD CONSTRAINT delivery_sent_check CHECK (state <> 'pending' OR first_sent_at IS NULL),
    ADD CONSTRAINT delivery_rerouted_check
        CHECK ((state = 'rerouted') = (rerouted_at IS NOT NULL AND rerouted_by IS NOT NULL AND reroute_reason IS NOT NULL)),
    ADD CONSTRAINT delivery_parent_check CHECK ((origin = 'reroute') = (parent_id IS NOT NULL));
-- The router's guard stays: one rule delivery per case and department. A
-- department holds at most one open copy of a case.
DROP INDEX delivery_once;
CREATE UNIQUE INDEX delivery_once ON delivery (report_id, department) WHERE origin IN ('rule', 'fallback');
CREATE UNIQUE INDEX delivery_open_once ON delivery (report_id, department) WHERE state IN ('pending', 'sent');
DROP INDEX delivery_open;
CREATE INDEX delivery_open ON delivery (department, id) WHERE state IN ('pending', 'sent');

ALTER TABLE timeline DROP CONSTRAINT timeline_event_check;
ALTER TABLE timeline ADD CONSTRAINT timeline_event_check
    CHECK (event IN ('filed', 'routed', 'delivered', 'acknowledged', 'rerouted'));
