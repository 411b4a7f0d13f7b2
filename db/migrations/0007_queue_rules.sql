-- Per-queue ACD rules, read by the dispatcher in its per-pass query, and the waiting policies the cells apply
-- (README "ACD: strategies and priorities", hotline/acd/waiting.py).

-- Penalty relaxation: a JSON array of {"after_seconds": S, "max_penalty": P}, S and P whole numbers, S in
-- 0..86400 strictly increasing, P in 0..100 (the range of queue_members.penalty) never decreasing. Once a caller
-- has waited S seconds, members with a penalty up to P may take the call; before the first step, penalty 0 only.
CREATE FUNCTION queue_penalty_steps_valid(steps jsonb) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    step jsonb;
    after_s numeric;
    penalty numeric;
    prev_after numeric;
    prev_penalty numeric;
BEGIN
    -- Nested tests: SQL does not promise to evaluate OR operands left to right.
    IF jsonb_typeof(steps) IS DISTINCT FROM 'array' THEN
        RETURN false;
    END IF;
    IF jsonb_array_length(steps) NOT BETWEEN 1 AND 20 THEN
        RETURN false;
    END IF;
    FOR step IN SELECT value FROM jsonb_array_elements(steps) LOOP
        IF jsonb_typeof(step) <> 'object' THEN
            RETURN false;
        END IF;
        IF (SELECT count(*) FROM jsonb_object_keys(step)) <> 2
           OR jsonb_typeof(step -> 'after_seconds') IS DISTINCT FROM 'number'
           OR jsonb_typeof(step -> 'max_penalty') IS DISTINCT FROM 'number' THEN
            RETURN false;
        END IF;
        after_s := (step ->> 'after_seconds')::numeric;
        penalty := (step ->> 'max_penalty')::numeric;
        IF after_s <> trunc(after_s) OR after_s NOT BETWEEN 0 AND 86400
           OR penalty <> trunc(penalty) OR penalty NOT BETWEEN 0 AND 100
           OR after_s <= prev_after OR penalty < prev_penalty THEN
            RETURN false;
        END IF;
        prev_after := after_s;
        prev_penalty := penalty;
    END LOOP;
    RETURN true;
END $$;

-- The defaults are what the dispatcher applied to every queue until now: one priority point a minute, members
-- with a penalty wait 30 s (then any penalty up to 100), required skills never relaxed.
ALTER TABLE queues
    ADD COLUMN priority_aging_per_minute double precision NOT NULL DEFAULT 1
        CONSTRAINT queues_priority_aging_range CHECK (priority_aging_per_minute BETWEEN 0 AND 60),
    ADD COLUMN penalty_steps jsonb NOT NULL
        DEFAULT '[{"after_seconds": 0, "max_penalty": 0}, {"after_seconds": 30, "max_penalty": 100}]'
        CONSTRAINT queues_penalty_steps_valid CHECK (queue_penalty_steps_valid(penalty_steps)),
    ADD COLUMN skills_relax_after_seconds integer  -- NULL: required skills stay required
        CONSTRAINT queues_skills_relax_range CHECK (skills_relax_after_seconds BETWEEN 0 AND 86400);

-- Waiting policies. Until now the cells ignored join_when_empty and leave_when_empty and behaved as
-- 'paused_ok' and true (a caller joins when a member is logged in, paused or not, and leaves when the last
-- one logs out). The stored values were never in force, so every queue keeps that behaviour, which also
-- becomes the default: callers do not wait in a queue nobody staffs.
ALTER TABLE queues ALTER COLUMN join_when_empty SET DEFAULT 'paused_ok';
ALTER TABLE queues ALTER COLUMN leave_when_empty SET DEFAULT true;
UPDATE queues SET join_when_empty = 'paused_ok', leave_when_empty = true;
