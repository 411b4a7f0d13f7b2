-- Post-call analysis: automatic quality-check scores, the tagger's suggestions on work orders and what agents
-- made of them, and which calls have been analysed (see hotline/analysis/README.md).

-- One quality-check result per call answered by an agent. agent_id, queue_id and call_at are copied from the
-- call so per-agent and per-queue reports over a period read one table through an index.
CREATE TABLE qa_results (
    call_id         uuid PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    agent_id        integer REFERENCES agents (id) ON DELETE SET NULL,
    queue_id        integer REFERENCES queues (id) ON DELETE SET NULL,
    call_at         timestamptz NOT NULL,                  -- calls.started_at
    score           smallint NOT NULL CHECK (score BETWEEN 0 AND 100),
    items           jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array'),  -- [{name, label, passed, points, lost, detail}]
    rules_version   integer NOT NULL,
    rules_checksum  text NOT NULL CHECK (rules_checksum ~ '^[0-9a-f]{16}$'),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX qa_results_agent ON qa_results (agent_id, call_at);
CREATE INDEX qa_results_queue ON qa_results (queue_id, call_at);
CREATE INDEX qa_results_call_at ON qa_results (call_at);

-- A value the tagger (or another source) put on a work order, and the agent's decision about it. Only values
-- filled into empty fields are suggestions; what an agent or the flow set is never overwritten.
CREATE TABLE ticket_suggestions (
    id              bigserial PRIMARY KEY,
    ticket_id       bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    field           text NOT NULL CHECK (field IN ('legal_area', 'service', 'flag')),
    value           text NOT NULL CHECK (value <> ''),
    source          text NOT NULL CHECK (source IN ('tagger')),
    score           real,
    rule            text,                                  -- the rules that matched, for explaining it
    status          text NOT NULL DEFAULT 'suggested'
                    CHECK (status IN ('suggested', 'confirmed', 'corrected', 'rejected')),
    final_value     text,                                  -- what the agent chose (confirmed: value; corrected: another)
    decided_by      integer REFERENCES agents (id) ON DELETE SET NULL,
    decided_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ticket_id, field, value, source),
    CHECK ((status = 'suggested') = (decided_at IS NULL)),
    CHECK (status NOT IN ('confirmed', 'corrected') OR final_value IS NOT NULL),
    CHECK (status <> 'corrected' OR final_value <> value),
    CHECK (field <> 'flag' OR status <> 'corrected')
);
-- A work order has at most one open suggestion for its legal area and one for its service.
CREATE UNIQUE INDEX ticket_suggestions_open_field ON ticket_suggestions (ticket_id, field)
    WHERE status = 'suggested' AND field <> 'flag';
CREATE INDEX ticket_suggestions_decided ON ticket_suggestions (decided_at) WHERE decided_at IS NOT NULL;

-- Which calls the post-call analysis has done, based on which transcription, and why one failed.
CREATE TABLE analysis_state (
    call_id         uuid PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    transcribed_at  timestamptz,          -- the transcription_state completion time the analysis read
    done_at         timestamptz NOT NULL DEFAULT now(),
    error           text                  -- NULL when the analysis succeeded; 'no transcript', ...
);
