-- The queues the shipped Yunnan 12348 flow (ivr_flows/yunnan_12348.yaml) sends callers to. Operators change
-- their settings and members through the console or SQL; this only makes a fresh install route calls.

INSERT INTO queues (name, display_name, strategy, service_level_seconds, wrapup_seconds, ring_timeout_seconds,
                    max_wait_seconds)
VALUES
    ('operator',          '人工服务',         'longest_idle',    15, 30, 20, 300),
    ('legal_consult',     '法律咨询',         'skills_weighted', 15, 60, 20, 600),
    ('legal_aid',         '法律援助',         'skills_weighted', 15, 60, 20, 600),
    ('mediation',         '人民调解',         'longest_idle',    15, 60, 20, 600),
    ('guidance',          '公证鉴定仲裁指引', 'longest_idle',    15, 30, 20, 300),
    ('complaints',        '投诉与建议',       'longest_idle',    15, 60, 20, 300),
    ('minority_language', '少数民族语言服务', 'skills_weighted', 15, 60, 30, 600),
    ('duty_lawyer',       '值班律师',         'longest_idle',    15, 60, 30, 600)
ON CONFLICT (name) DO NOTHING;
