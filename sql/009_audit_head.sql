-- 009_audit_head: take the audit chain's lock and read its last entry in
-- one call (issue 6, docs/performance.md).
--
-- Every audit-writing transaction of every daemon holds the chain's lock
-- (pg_advisory_xact_lock(727001)) from the moment it takes it until its
-- COMMIT, and the others wait for it. Taking the lock and reading the head
-- were two statements, two round trips inside that hold. In a VOLATILE
-- function each statement takes a fresh snapshot, so the SELECT after the
-- lock sees the entry that the previous holder committed, as the second
-- statement did. SECURITY INVOKER (the default): the caller's rights on
-- audit apply; functions are executable by every role.
CREATE FUNCTION audit_head(OUT id bigint, OUT mac bytea) RETURNS SETOF record
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(727001);
    RETURN QUERY SELECT a.id, a.mac FROM audit a ORDER BY a.id DESC LIMIT 1;
END
$$;
