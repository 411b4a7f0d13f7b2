-- Blind transfers an agent asks for from the console while connected: the caller goes to another queue or to
-- one agent; the cell that holds the call carries it out (NOTIFY 'acd_transfer' with the call id) and the work
-- order follows the call. One pending transfer per call.
CREATE TABLE transfers (
    id              bigserial PRIMARY KEY,
    call_id         uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    from_agent_id   integer NOT NULL REFERENCES agents (id),
    to_queue_id     integer REFERENCES queues (id),
    to_agent_id     integer REFERENCES agents (id),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    result          text,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    CHECK ((to_queue_id IS NULL) <> (to_agent_id IS NULL)),
    CHECK (to_agent_id IS DISTINCT FROM from_agent_id)
);
CREATE UNIQUE INDEX transfers_one_pending ON transfers (call_id) WHERE status = 'pending';
CREATE INDEX transfers_call ON transfers (call_id, id);
