-- Callbacks that keep the caller's place in line, and completion markers for transcription.

-- A callback stays a queue entry (its original entered_at is its place); the caller's call has ended, so the
-- entry names the callback, and a retry is not offered before `not_before`.
ALTER TABLE queue_entries ADD COLUMN callback_id bigint REFERENCES callbacks (id) ON DELETE SET NULL;
ALTER TABLE queue_entries ADD COLUMN not_before timestamptz;

ALTER TABLE callbacks ADD COLUMN retry_seconds integer NOT NULL DEFAULT 120 CHECK (retry_seconds > 0);
ALTER TABLE callbacks ADD COLUMN cell text;            -- the cell dialling now (status = 'dialing')
CREATE INDEX callbacks_open ON callbacks (status, next_attempt_at) WHERE status IN ('waiting', 'dialing');

-- A call placed by the service: a callback attempt that reached the caller is a call of its own (recorded,
-- transcribed, with a work order), linked to the call that asked for it.
ALTER TABLE calls ADD COLUMN direction text NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'callback'));
ALTER TABLE calls ADD COLUMN parent_call_id uuid REFERENCES calls (id) ON DELETE SET NULL;

-- Every callback attempt and its result.
CREATE TABLE callback_attempts (
    id              bigserial PRIMARY KEY,
    callback_id     bigint NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
    attempt         smallint NOT NULL CHECK (attempt > 0),
    agent_id        integer REFERENCES agents (id),
    cell            text NOT NULL,
    call_id         uuid REFERENCES calls (id) ON DELETE SET NULL,   -- the callback call, once placed
    started_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    result          text CHECK (result IN ('connected', 'agent_no_answer', 'no_answer', 'busy', 'rejected',
                                           'failed', 'cancelled')),
    status_code     integer,
    UNIQUE (callback_id, attempt),
    CHECK ((result IS NULL) = (ended_at IS NULL))
);

-- Live transcription of both legs finished cleanly (no backlog needed); with batch_done_at this tells the
-- post-call analysis that a call's transcript is complete.
ALTER TABLE transcription_state ADD COLUMN live_done_at timestamptz;

CREATE FUNCTION transcribed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('transcribed', NEW.call_id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER transcription_state_done AFTER INSERT OR UPDATE OF batch_done_at, live_done_at ON transcription_state
    FOR EACH ROW WHEN (NEW.batch_done_at IS NOT NULL OR NEW.live_done_at IS NOT NULL)
    EXECUTE FUNCTION transcribed_notify();
