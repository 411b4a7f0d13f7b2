-- The SIP front's authentication locks in the audit log: Kamailio (hotline/front/kamailio.cfg.tmpl, sqlops) calls
-- this when an account is locked from a source, a source is banned, or a REGISTER with the right password is
-- refused because of a lock. `hotline agent unlock` writes its own row (db/front_locks.py).
CREATE FUNCTION sip_auth_audit(username text, source text, result text, lock_kind text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO audit_log (actor, action, object_type, object_id, detail)
    VALUES ('front', 'login', 'sip_account', left(username, 128),
            jsonb_build_object('source', source, 'result', result)
            || CASE WHEN coalesce(lock_kind, '') <> '' THEN jsonb_build_object('lock', lock_kind) ELSE '{}' END)
$$;
