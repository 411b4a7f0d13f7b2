-- The durable write path (hotline/cell/journal.py): a write that could not reach PostgreSQL is kept in the
-- process's journal and replayed later, with its own id; replaying it twice must change nothing. Call rows are
-- keyed by their id already (given by the cell), recordings by their path, survey answers by (call, question);
-- events get the write's id here. NULL for events written directly (unique ignores NULLs).
ALTER TABLE call_events ADD COLUMN write_id uuid;
CREATE UNIQUE INDEX call_events_write_id ON call_events (write_id);

-- A recording registered from what was on disk when its cell died (the supervisor finds the `.part` files).
ALTER TABLE recordings ADD COLUMN partial boolean NOT NULL DEFAULT false;

-- Where a call's recording is being written, set when it starts: the supervisor finds a dead cell's partial
-- recording by it.
ALTER TABLE calls ADD COLUMN recording_path text;

-- Calls to the service that no cell took (every cell full or down): the front writes one row each (Kamailio,
-- sqlops), with the caller masked by the front, so that offered = calls + refused_calls.
CREATE TABLE refused_calls (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    sip_call_id     text NOT NULL,
    caller_masked   text NOT NULL,
    reason          text NOT NULL CHECK (reason IN ('no_cell', 'cells_full'))
);
CREATE INDEX refused_calls_at ON refused_calls (at);

CREATE FUNCTION sip_refused_call(sip_call_id text, caller_masked text, reason text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO refused_calls (sip_call_id, caller_masked, reason) VALUES (left(sip_call_id, 200), left(caller_masked, 32), reason)
$$;
