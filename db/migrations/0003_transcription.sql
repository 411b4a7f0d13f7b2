-- Transcription bookkeeping per call: whether live transcription was refused or failed (so the recording goes
-- to the post-call backlog) and when the backlog transcribed the recording.
CREATE TABLE transcription_state (
    call_id         uuid PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    live_failed     text,                        -- why a live stream was refused or failed; NULL when none did
    live_failed_at  timestamptz,
    batch_done_at   timestamptz,
    batch_error     text,
    CHECK ((live_failed IS NULL) = (live_failed_at IS NULL))
);
