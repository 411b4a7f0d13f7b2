-- What `hotline simulate` creates is marked so that no real report, KPI or export counts it, and
-- `hotline simulate --purge` can remove it: its calls (the cell sees the simulator's signed SIP Call-ID; a
-- callback of a simulated call is simulated too) and its agents. Work orders, events, queue entries, surveys,
-- transcripts and tags belong to a call and go with it.
ALTER TABLE calls ADD COLUMN simulated boolean NOT NULL DEFAULT false;
ALTER TABLE agents ADD COLUMN simulated boolean NOT NULL DEFAULT false;
CREATE INDEX calls_simulated ON calls (started_at) WHERE simulated;
