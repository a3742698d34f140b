-- 008_write_path: fewer writes per delivery (issue 6, docs/performance.md).
--
-- The case timeline loses its foreign keys. Each timeline row was checked
-- against report, delivery and department: three lookups that lock the
-- referenced row (FOR KEY SHARE) per row inserted, 40 % of the time of
-- recording a sending or an acknowledgement, and every daemon locked the
-- same few department rows. The timeline is a log that only Oro's own
-- statements write, each from the report or delivery row the same
-- statement has just inserted, updated or locked, so the keys held by
-- construction; `oro purge` deletes a case's timeline last, after its
-- deliveries and report, in the same transaction (a sending recorded
-- concurrently has committed before the delivery's deletion could lock its
-- row, and its entry is deleted with the rest).
ALTER TABLE timeline
    DROP CONSTRAINT timeline_report_id_fkey,
    DROP CONSTRAINT timeline_delivery_id_fkey,
    DROP CONSTRAINT timeline_department_fkey;

-- Only "has any delivery of this chain been acknowledged" (escalation)
-- reads chain_id: the index holds just the acknowledged deliveries, so a
-- delivery is added to it once, at its acknowledgement, not at its
-- insertion and again at every update before.
DROP INDEX delivery_chain;
CREATE INDEX delivery_chain ON delivery (chain_id) WHERE state = 'acknowledged';

-- oro-router names each new delivery's chain itself (chain_id = id): the
-- trigger runs only for the inserts that leave chain_id out.
DROP TRIGGER delivery_chain ON delivery;
CREATE TRIGGER delivery_chain BEFORE INSERT ON delivery FOR EACH ROW WHEN (NEW.chain_id IS NULL)
    EXECUTE FUNCTION delivery_chain();
