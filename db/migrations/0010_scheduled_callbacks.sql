-- Callbacks an agent or a supervisor asks for from the console: the caller is called back at a chosen time
-- (an agent in wrap-up: "call me tomorrow at 9"), or at once (a supervisor, for a caller who abandoned today).
-- The callback waits in its queue like any other; the dispatcher does not offer it before `not_before`.
ALTER TABLE callbacks ADD COLUMN reason text CHECK (reason IS NULL OR length(reason) BETWEEN 1 AND 200);
ALTER TABLE callbacks ADD COLUMN requested_by integer REFERENCES agents (id) ON DELETE SET NULL;
ALTER TABLE callbacks ADD COLUMN scheduled_for timestamptz;
CREATE INDEX callbacks_call ON callbacks (call_id);
