-- ACD state shared by every cell and dispatcher: waiting callers and the dispatcher's fencing term.

CREATE TABLE queue_entries (
    id              bigserial PRIMARY KEY,
    call_id         uuid NOT NULL UNIQUE REFERENCES calls (id) ON DELETE CASCADE,
    queue_id        integer NOT NULL REFERENCES queues (id),
    cell            text NOT NULL,
    priority        integer NOT NULL DEFAULT 0,
    skills          text[] NOT NULL DEFAULT '{}',
    entered_at      timestamptz NOT NULL DEFAULT now(),
    state           text NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'offered', 'connected', 'left')),
    agent_id        integer REFERENCES agents (id),
    offer_term      bigint,                     -- fencing token of the dispatcher that made the offer
    offered_at      timestamptz,
    CHECK (state <> 'offered' OR (agent_id IS NOT NULL AND offered_at IS NOT NULL))
);
CREATE INDEX queue_entries_waiting ON queue_entries (queue_id, priority DESC, entered_at) WHERE state = 'waiting';
-- One agent is never offered two callers at once.
CREATE UNIQUE INDEX queue_entries_one_offer_per_agent ON queue_entries (agent_id) WHERE state = 'offered';

CREATE TABLE acd_leader (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    term        bigint NOT NULL DEFAULT 0,
    holder      text,
    since       timestamptz
);
INSERT INTO acd_leader (id) VALUES (true);

-- Wake the dispatcher when a caller joins or an agent's state changes.
CREATE FUNCTION acd_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('acd', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER queue_entries_notify AFTER INSERT OR UPDATE OF state ON queue_entries
    FOR EACH STATEMENT EXECUTE FUNCTION acd_notify();
CREATE TRIGGER agents_notify AFTER UPDATE OF state ON agents
    FOR EACH STATEMENT EXECUTE FUNCTION acd_notify();
