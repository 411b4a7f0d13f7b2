-- Indexes the live metrics and today's KPIs need (bench/metrics.py found both reads growing with the data):
-- a call's callback calls, found per call by db/kpi.py (without it the day's KPIs took the square of its calls),
-- and the callers in line now per queue, read every few seconds by db/metrics.py's snapshot.
CREATE INDEX calls_parent ON calls (parent_call_id) WHERE parent_call_id IS NOT NULL;
CREATE INDEX queue_entries_in_line ON queue_entries (queue_id, entered_at) WHERE state IN ('waiting', 'offered');
