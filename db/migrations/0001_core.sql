-- Core schema of the 12348 hotline. Caller numbers are never stored in plaintext: a keyed HMAC for
-- lookups and joins, an encrypted copy for the agent handling the call, and a masked display form.

CREATE TABLE prefectures (
    code        char(6) PRIMARY KEY CHECK (code ~ '^53[0-9]{4}$'),
    name        text NOT NULL UNIQUE,
    area_code   text NOT NULL UNIQUE CHECK (area_code ~ '^0[0-9]{2,3}$')
);

INSERT INTO prefectures (code, name, area_code) VALUES
    ('530100', '昆明市', '0871'),
    ('530300', '曲靖市', '0874'),
    ('530400', '玉溪市', '0877'),
    ('530500', '保山市', '0875'),
    ('530600', '昭通市', '0870'),
    ('530700', '丽江市', '0888'),
    ('530800', '普洱市', '0879'),
    ('530900', '临沧市', '0883'),
    ('532300', '楚雄彝族自治州', '0878'),
    ('532500', '红河哈尼族彝族自治州', '0873'),
    ('532600', '文山壮族苗族自治州', '0876'),
    ('532800', '西双版纳傣族自治州', '0691'),
    ('532900', '大理白族自治州', '0872'),
    ('533100', '德宏傣族景颇族自治州', '0692'),
    ('533300', '怒江傈僳族自治州', '0886'),
    ('533400', '迪庆藏族自治州', '0887');

CREATE TABLE skills (
    id          serial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('legal_area', 'service', 'language', 'prefecture')),
    name        text NOT NULL CHECK (name <> ''),
    UNIQUE (kind, name)
);

CREATE TABLE agents (
    id              serial PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{1,31}$'),
    display_name    text NOT NULL CHECK (display_name <> ''),
    role            text NOT NULL CHECK (role IN ('lawyer', 'legal_aid', 'mediator', 'notary_adviser',
                                                  'appraisal_adviser', 'operator', 'supervisor', 'admin')),
    password_hash   text,                       -- argon2id, for the web console and API
    sip_realm       text NOT NULL DEFAULT '12348',
    sip_ha1         text CHECK (sip_ha1 ~ '^[0-9a-f]{32}$'),  -- MD5(user:realm:password) for SIP digest
    active          boolean NOT NULL DEFAULT true,
    state           text NOT NULL DEFAULT 'logged_out'
                    CHECK (state IN ('logged_out', 'available', 'reserved', 'on_call', 'wrap_up', 'paused')),
    state_reason    text,
    state_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'paused' OR state_reason IS NOT NULL)
);

-- What Kamailio's auth_db reads: only active agents with SIP credentials.
CREATE VIEW sip_subscribers AS
    SELECT username, sip_realm AS domain, sip_ha1 AS ha1
    FROM agents
    WHERE active AND sip_ha1 IS NOT NULL;

CREATE TABLE agent_skills (
    agent_id    integer NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    skill_id    integer NOT NULL REFERENCES skills (id) ON DELETE CASCADE,
    level       smallint NOT NULL DEFAULT 5 CHECK (level BETWEEN 1 AND 10),
    PRIMARY KEY (agent_id, skill_id)
);

CREATE TABLE queues (
    id                      serial PRIMARY KEY,
    name                    text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9_]{1,40}$'),
    display_name            text NOT NULL,
    strategy                text NOT NULL DEFAULT 'longest_idle'
                            CHECK (strategy IN ('longest_idle', 'round_robin', 'fewest_calls',
                                                'least_talk_time', 'ring_all', 'skills_weighted')),
    service_level_seconds   integer NOT NULL DEFAULT 15 CHECK (service_level_seconds > 0),
    wrapup_seconds          integer NOT NULL DEFAULT 30 CHECK (wrapup_seconds >= 0),
    ring_timeout_seconds    integer NOT NULL DEFAULT 20 CHECK (ring_timeout_seconds > 0),
    max_wait_seconds        integer CHECK (max_wait_seconds > 0),
    max_length              integer CHECK (max_length > 0),
    join_when_empty         text NOT NULL DEFAULT 'yes' CHECK (join_when_empty IN ('yes', 'no', 'paused_ok')),
    leave_when_empty        boolean NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE queue_members (
    queue_id    integer NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    agent_id    integer NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    penalty     smallint NOT NULL DEFAULT 0 CHECK (penalty BETWEEN 0 AND 100),
    tier        smallint NOT NULL DEFAULT 1 CHECK (tier BETWEEN 1 AND 9),
    PRIMARY KEY (queue_id, agent_id)
);
CREATE INDEX queue_members_agent ON queue_members (agent_id);

CREATE TABLE calls (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sip_call_id     text NOT NULL,
    caller_hmac     bytea,                       -- NULL when the caller withheld the number
    caller_enc      bytea,
    caller_masked   text NOT NULL,
    caller_kind     text NOT NULL CHECK (caller_kind IN ('mobile', 'landline', 'withheld', 'other')),
    prefecture_code char(6) REFERENCES prefectures (code),
    province        text,
    county          text,
    trunk           text,
    cell            text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    answered_at     timestamptz,
    ended_at        timestamptz,
    flow_id         text,
    flow_revision   integer,
    node_path       text[] NOT NULL DEFAULT '{}',
    digits          text NOT NULL DEFAULT '',
    queue_id        integer REFERENCES queues (id),
    agent_id        integer REFERENCES agents (id),
    outcome         text CHECK (outcome IN ('answered', 'abandoned', 'ivr_only', 'voicemail', 'callback',
                                            'transferred', 'failed', 'rejected', 'timeout')),
    CHECK ((caller_hmac IS NULL) = (caller_kind = 'withheld')),
    CHECK (answered_at IS NULL OR answered_at >= started_at),
    CHECK (ended_at IS NULL OR ended_at >= started_at),
    CHECK ((outcome IS NULL) = (ended_at IS NULL))
);
CREATE INDEX calls_started ON calls (started_at);
CREATE INDEX calls_prefecture_started ON calls (prefecture_code, started_at);
CREATE INDEX calls_open_by_cell ON calls (cell) WHERE ended_at IS NULL;
CREATE INDEX calls_caller ON calls (caller_hmac);
CREATE UNIQUE INDEX calls_sip_call_id ON calls (sip_call_id, started_at);

CREATE TABLE call_events (
    id          bigserial PRIMARY KEY,
    call_id     uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    event       text NOT NULL CHECK (event IN (
                    'INCOMING', 'ANSWER', 'IVR', 'DTMF', 'ENTERQUEUE', 'RINGNOANSWER', 'RINGCANCELED',
                    'CONNECT', 'ABANDON', 'EXITWITHTIMEOUT', 'EXITWITHKEY', 'EXITEMPTY', 'FULL',
                    'COMPLETEAGENT', 'COMPLETECALLER', 'TRANSFER', 'BLINDTRANSFER', 'HOLD', 'UNHOLD',
                    'CALLBACK', 'CALLBACKATTEMPT', 'VOICEMAIL', 'SURVEY', 'RECORDING', 'HANGUP', 'FAILED')),
    queue_id    integer REFERENCES queues (id),
    agent_id    integer REFERENCES agents (id),
    data        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX call_events_call ON call_events (call_id, at);
CREATE INDEX call_events_queue ON call_events (queue_id, at) WHERE queue_id IS NOT NULL;
CREATE INDEX call_events_at ON call_events (at);

CREATE TABLE recordings (
    id              bigserial PRIMARY KEY,
    call_id         uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    path            text NOT NULL UNIQUE,
    channels        smallint NOT NULL CHECK (channels IN (1, 2)),
    sample_rate     integer NOT NULL CHECK (sample_rate > 0),
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    size_bytes      bigint CHECK (size_bytes >= 0),
    sha256          text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    retain_until    date,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX recordings_call ON recordings (call_id);

CREATE TABLE transcripts (
    id              bigserial PRIMARY KEY,
    call_id         uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    recording_id    bigint REFERENCES recordings (id) ON DELETE SET NULL,
    channel         text NOT NULL CHECK (channel IN ('caller', 'agent')),
    start_ms        integer NOT NULL CHECK (start_ms >= 0),
    end_ms          integer NOT NULL,
    text            text NOT NULL,
    confidence      real CHECK (confidence BETWEEN 0 AND 1),
    words           jsonb NOT NULL DEFAULT '[]',
    source          text NOT NULL CHECK (source IN ('live', 'batch')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (end_ms >= start_ms)
);
CREATE INDEX transcripts_call ON transcripts (call_id, channel, start_ms);

CREATE TABLE tags (
    id          bigserial PRIMARY KEY,
    call_id     uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('legal_area', 'service', 'flag', 'quality')),
    value       text NOT NULL CHECK (value <> ''),
    score       real,
    source      text NOT NULL CHECK (source IN ('tagger', 'agent', 'flow', 'qa')),
    rule        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (call_id, kind, value, source)
);
CREATE INDEX tags_kind_value ON tags (kind, value);

CREATE TABLE ticket_counters (
    day         date PRIMARY KEY,
    last_value  integer NOT NULL CHECK (last_value BETWEEN 1 AND 999999)
);

CREATE TABLE tickets (
    id              bigserial PRIMARY KEY,
    number          text NOT NULL UNIQUE CHECK (number ~ '^[A-Z]{2,4}-[0-9]{8}-[0-9]{6}$'),
    call_id         uuid REFERENCES calls (id) ON DELETE SET NULL,
    assignee_id     integer REFERENCES agents (id),
    status          text NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'in_progress', 'answered', 'referred', 'follow_up', 'closed',
                                      'reopened')),
    priority        text NOT NULL DEFAULT 'normal' CHECK (priority IN ('normal', 'urgent')),
    caller_masked   text,
    prefecture_code char(6) REFERENCES prefectures (code),
    legal_area      text,
    service         text,
    flags           text[] NOT NULL DEFAULT '{}',
    facts           text NOT NULL DEFAULT '',
    answer          text NOT NULL DEFAULT '',
    disposition     text,
    referral        text CHECK (referral IN ('法律援助', '人民调解', '公证', '司法鉴定', '仲裁', '其他部门')),
    legal_aid_hint  boolean NOT NULL DEFAULT false,
    deadline        timestamptz,
    follow_up_result text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CHECK (status <> 'referred' OR referral IS NOT NULL)
);
CREATE INDEX tickets_open_by_assignee ON tickets (assignee_id, deadline) WHERE status <> 'closed';
CREATE INDEX tickets_call ON tickets (call_id);
CREATE INDEX tickets_created ON tickets (created_at);

CREATE TABLE ticket_status_log (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    from_status text,
    to_status   text NOT NULL,
    actor       text NOT NULL,
    reason      text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_status_log_ticket ON ticket_status_log (ticket_id, at);

CREATE TABLE surveys (
    id          bigserial PRIMARY KEY,
    call_id     uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    question    text NOT NULL,
    answer      smallint CHECK (answer BETWEEN 0 AND 9),   -- NULL: asked, not answered
    answered_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (call_id, question)
);

CREATE TABLE callbacks (
    id              bigserial PRIMARY KEY,
    call_id         uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    queue_id        integer NOT NULL REFERENCES queues (id),
    number_hmac     bytea NOT NULL,
    number_enc      bytea NOT NULL,
    number_masked   text NOT NULL,
    status          text NOT NULL DEFAULT 'waiting'
                    CHECK (status IN ('waiting', 'dialing', 'connected', 'failed', 'cancelled')),
    attempts        smallint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    smallint NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_result     text,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    CHECK (attempts <= max_attempts)
);
CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE status IN ('waiting', 'dialing');

CREATE TABLE agent_state_log (
    id          bigserial PRIMARY KEY,
    agent_id    integer NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    from_state  text NOT NULL,
    to_state    text NOT NULL,
    reason      text,
    cause       text NOT NULL CHECK (cause IN ('agent', 'supervisor', 'system', 'reconcile')),
    actor       text NOT NULL,
    call_id     uuid REFERENCES calls (id) ON DELETE SET NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_state_log_agent ON agent_state_log (agent_id, at);

CREATE TABLE vulnerable_registry (
    number_hmac     bytea NOT NULL CHECK (length(number_hmac) = 32),
    kind            text NOT NULL CHECK (kind IN ('建档立卡', '低保', '特困', '低收入', '残疾人', '高龄老人',
                                                  '优抚对象', '农民工')),
    source          text NOT NULL,
    imported_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (number_hmac, kind)
);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL CHECK (action IN ('read', 'create', 'update', 'delete', 'export', 'listen',
                                                'import', 'login', 'decrypt')),
    object_type text NOT NULL,
    object_id   text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id, at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);

CREATE TABLE kpi_targets (
    prefecture_code char(6) NOT NULL REFERENCES prefectures (code),
    month           date NOT NULL CHECK (extract(day FROM month) = 1),
    metric          text NOT NULL CHECK (metric ~ '^[a-z_]+$'),
    target          numeric NOT NULL CHECK (target >= 0),
    PRIMARY KEY (prefecture_code, month, metric)
);
