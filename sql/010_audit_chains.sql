-- 010_audit_chains: one audit chain per writing program (issue 6,
-- docs/performance.md; docs/security.md §3.8).
--
-- With one chain for the whole trail, every audit-writing transaction of
-- oro-intake and oro-notify held the chain's lock from reading its head to
-- its COMMIT, fsync included, and the other daemon's transactions waited.
-- Now each program appends to a chain of its own, named after it
-- ("oro-intake", "oro-notify", and "oro" for the administration commands):
-- ids are consecutive within a chain, and a writer waits only for writers
-- of the same chain (other instances of the same daemon). The MAC of an
-- entry covers its chain's name (services/common/audit.c). The entries
-- written before this migration keep their MACs and form the chain "all".
ALTER TABLE audit ADD COLUMN chain text NOT NULL DEFAULT 'all' CHECK (chain ~ '^[a-z][a-z0-9-]{0,31}$');
ALTER TABLE audit ALTER COLUMN chain DROP DEFAULT;
ALTER TABLE audit DROP CONSTRAINT audit_pkey, ADD PRIMARY KEY (chain, id);

-- The chain's lock (advisory lock 727001 and the hash of its name; two
-- chains whose names hash alike share a lock, which only costs waiting),
-- then its last entry, as in sql/009_audit_head.sql.
DROP FUNCTION audit_head();
CREATE FUNCTION audit_head(chain text, OUT id bigint, OUT mac bytea) RETURNS SETOF record
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(727001, hashtext($1));
    RETURN QUERY SELECT a.id, a.mac FROM audit a WHERE a.chain = $1 ORDER BY a.id DESC LIMIT 1;
END
$$;
