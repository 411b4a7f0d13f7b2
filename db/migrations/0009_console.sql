-- The web console: server-side sessions, login throttling, pause reasons, and the NOTIFY feed its websockets
-- are fed by.

-- A browser's session. The cookie holds a random token; only its SHA-256 is stored, so a read of this table
-- does not hand out sessions. The CSRF token is the session's (synchroniser token pattern).
CREATE TABLE web_sessions (
    id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),   -- sha256 of the cookie's token
    agent_id    integer NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    csrf        text NOT NULL CHECK (length(csrf) >= 32),
    address     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_sessions_agent ON web_sessions (agent_id);

-- Failed logins, for throttling per account and per address (kept a day, pruned on login).
CREATE TABLE login_failures (
    id          bigserial PRIMARY KEY,
    username    text NOT NULL,
    address     text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_username ON login_failures (username, at);
CREATE INDEX login_failures_address ON login_failures (address, at);

-- The reasons an agent may pause for; an admin edits the list.
CREATE TABLE pause_reasons (
    name        text PRIMARY KEY CHECK (name <> '' AND length(name) <= 20),
    position    smallint NOT NULL DEFAULT 0,
    active      boolean NOT NULL DEFAULT true
);
INSERT INTO pause_reasons (name, position) VALUES
    ('小休', 1), ('午休', 2), ('培训', 3), ('会议', 4), ('案件整理', 5), ('回访', 6);

-- The console's feed: one NOTIFY 'console' per change an open page shows, with what changed as JSON.
CREATE FUNCTION console_notify_agent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console', json_build_object(
        'kind', 'agent', 'agent_id', NEW.id, 'state', NEW.state)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER agents_console AFTER UPDATE OF state, state_reason, active ON agents
    FOR EACH ROW EXECUTE FUNCTION console_notify_agent();

CREATE FUNCTION console_notify_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console', json_build_object(
        'kind', 'entry', 'entry_id', NEW.id, 'queue_id', NEW.queue_id, 'state', NEW.state,
        'agent_id', NEW.agent_id)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER queue_entries_console AFTER INSERT OR UPDATE OF state, agent_id ON queue_entries
    FOR EACH ROW EXECUTE FUNCTION console_notify_entry();

CREATE FUNCTION console_notify_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console', json_build_object(
        'kind', 'call', 'call_id', NEW.id, 'agent_id', NEW.agent_id, 'ended', NEW.ended_at IS NOT NULL)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER calls_console AFTER UPDATE OF answered_at, ended_at, agent_id ON calls
    FOR EACH ROW EXECUTE FUNCTION console_notify_call();

-- Transcript segments as they arrive, for the page of the agent on the call.
CREATE FUNCTION console_notify_transcript() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console', json_build_object(
        'kind', 'transcript', 'call_id', NEW.call_id, 'id', NEW.id)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER transcripts_console AFTER INSERT ON transcripts
    FOR EACH ROW WHEN (NEW.source = 'live') EXECUTE FUNCTION console_notify_transcript();

-- Tags found while the call goes on (live speech, the IVR), for the suggestions beside the work order.
CREATE FUNCTION console_notify_tag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('console', json_build_object(
        'kind', 'tag', 'call_id', NEW.call_id, 'tag_kind', NEW.kind, 'value', NEW.value)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER tags_console AFTER INSERT ON tags
    FOR EACH ROW WHEN (NEW.source IN ('live', 'tagger', 'flow')) EXECUTE FUNCTION console_notify_tag();

-- An agent's recent calls (the agent page).
CREATE INDEX IF NOT EXISTS calls_agent_started ON calls (agent_id, started_at) WHERE agent_id IS NOT NULL;
