-- 006_retention: gallring. The sealed content of a case is destroyed once
-- it is no longer needed (a configured time after every full delivery was
-- acknowledged or sent on); routing metadata and the timeline go after a
-- longer period; a legal hold stops both. Every purge and hold is audited.
ALTER TABLE report
    ADD COLUMN content_purged_at timestamptz,
    ADD COLUMN hold_reason text,
    ADD COLUMN hold_by text,
    ADD COLUMN hold_at timestamptz,
    ADD CONSTRAINT report_hold_check CHECK ((hold_reason IS NULL) = (hold_at IS NULL AND hold_by IS NULL));

ALTER TABLE timeline DROP CONSTRAINT timeline_event_check;
ALTER TABLE timeline ADD CONSTRAINT timeline_event_check
    CHECK (event IN ('filed', 'routed', 'delivered', 'acknowledged', 'rerouted', 'escalated', 'operator_alert',
                     'content_purged', 'hold', 'hold_released'));
