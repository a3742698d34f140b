-- 003_reliability: escalation chains, reminders and daemon status.

-- Escalation: a delivery not acknowledged by its deadline escalates to its
-- department's escalation target, which gets a delivery of the same view
-- (origin 'escalation', parent_id the late one, same chain_id). An
-- acknowledgement of any delivery of a chain stops the chain.
ALTER TABLE delivery
    ADD COLUMN chain_id bigint,
    ADD COLUMN escalated_at timestamptz,      -- when this delivery escalated (or alerted the operator)
    ADD COLUMN reminder_count integer NOT NULL DEFAULT 0,
    ADD COLUMN next_reminder_at timestamptz;  -- when to send it again, if still open
UPDATE delivery SET chain_id = id;
ALTER TABLE delivery ALTER COLUMN chain_id SET NOT NULL;

-- A delivery starts its own chain unless it continues one.
CREATE FUNCTION delivery_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.chain_id := coalesce(NEW.chain_id, NEW.id);
    RETURN NEW;
END
$$;
CREATE TRIGGER delivery_chain BEFORE INSERT ON delivery FOR EACH ROW EXECUTE FUNCTION delivery_chain();

ALTER TABLE delivery DROP CONSTRAINT delivery_origin_check, DROP CONSTRAINT delivery_parent_check;
ALTER TABLE delivery
    ADD CONSTRAINT delivery_origin_check CHECK (origin IN ('rule', 'fallback', 'reroute', 'escalation')),
    ADD CONSTRAINT delivery_parent_check CHECK ((origin IN ('reroute', 'escalation')) = (parent_id IS NOT NULL));
CREATE INDEX delivery_due ON delivery (deadline) WHERE state IN ('pending', 'sent') AND escalated_at IS NULL;
CREATE INDEX delivery_chain ON delivery (chain_id);
CREATE INDEX delivery_reminder ON delivery (next_reminder_at) WHERE state IN ('pending', 'sent');

ALTER TABLE timeline DROP CONSTRAINT timeline_event_check;
ALTER TABLE timeline ADD CONSTRAINT timeline_event_check
    CHECK (event IN ('filed', 'routed', 'delivered', 'acknowledged', 'rerouted', 'escalated', 'operator_alert'));

-- What each running daemon instance last said about itself (oro health).
CREATE TABLE daemon_status (
    daemon        text NOT NULL CHECK (daemon IN ('oro-intake', 'oro-router', 'oro-notify')),
    instance      text NOT NULL,
    pid           integer NOT NULL,
    host          text NOT NULL,
    started_at    timestamptz NOT NULL,
    heartbeat_at  timestamptz NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (daemon, instance)
);
