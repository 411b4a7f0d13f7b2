-- Tags found on live speech (the 人身安全风险 flag raised while the caller talks) are kept apart from the
-- post-call tagger's, so a later analysis of the whole transcript never removes what was heard live.
ALTER TABLE tags DROP CONSTRAINT tags_source_check;
ALTER TABLE tags ADD CONSTRAINT tags_source_check CHECK (source IN ('tagger', 'live', 'agent', 'flow', 'qa'));
