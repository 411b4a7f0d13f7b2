-- Targets (目标值) per prefecture and period, imported by `hotline targets import` (hotline/kpi/targets.py checks
-- the file; db/targets.py stores it). A target is for one of the 16 prefectures or the whole province, for a month,
-- a quarter or a year, and one measure of hotline.kpi.targets.MEASURES (the list below is that vocabulary; an
-- integration test compares the two). The older `kpi_targets` table of 0001 (months only, no province) is unused.
CREATE TABLE targets (
    prefecture      text NOT NULL CHECK (prefecture = 'province' OR prefecture ~ '^53[0-9]{4}$'),
    prefecture_code char(6) GENERATED ALWAYS AS (CASE WHEN prefecture = 'province' THEN NULL ELSE prefecture END)
                    STORED REFERENCES prefectures (code),
    period          text NOT NULL,
    period_kind     text NOT NULL CHECK (period_kind IN ('month', 'quarter', 'year')),
    starts          date NOT NULL,
    ends            date NOT NULL,
    measure         text NOT NULL CHECK (measure IN (
                        'answer_rate', 'service_level', 'asa', 'abandon_rate', 'satisfaction', 'rating_rate',
                        'first_choice', 'awareness', 'response_rate', 'legal_aid_rate', 'mediation_success_rate',
                        'consultations', 'matters', 'legal_aid', 'mediation', 'notary', 'appraisal', 'arbitration')),
    unit            text NOT NULL CHECK (unit IN ('ratio', 'count', 'seconds')),
    target          numeric NOT NULL CHECK (target >= 0),
    source          text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prefecture, period, measure),
    CHECK (unit <> 'ratio' OR target <= 1),
    CHECK (unit <> 'count' OR target = trunc(target)),
    CHECK (CASE period_kind
               WHEN 'month' THEN period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'
                                 AND starts = to_date(period, 'YYYY-MM') AND ends = starts + interval '1 month'
               WHEN 'quarter' THEN period ~ '^[0-9]{4}Q[1-4]$'
                                 AND starts = make_date(left(period, 4)::int, 3 * right(period, 1)::int - 2, 1)
                                 AND ends = starts + interval '3 months'
               ELSE period ~ '^[0-9]{4}$' AND starts = make_date(period::int, 1, 1) AND ends = starts + interval '1 year'
           END)
);
CREATE INDEX targets_period ON targets (starts, ends);
