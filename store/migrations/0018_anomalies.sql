-- Anomalies the periodic detector (store/anomaly_log.py) found, with their lifecycle: open
-- while the condition holds hour after hour (cleared_at NULL), cleared (resolved) when an
-- hour no longer shows it, dismissed by a user. The status is derived from those two times.
CREATE TABLE anomalies (
    project_id     bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id             text NOT NULL,
    kind           text NOT NULL,
    scope          text NOT NULL,
    scope_key      text,
    first_hour     timestamptz NOT NULL,
    last_hour      timestamptz NOT NULL,
    detected_at    timestamptz NOT NULL,
    severity       text NOT NULL,
    expected       double precision NOT NULL,
    actual         double precision NOT NULL,
    baseline_days  integer NOT NULL,
    z_score        double precision,
    cleared_at     timestamptz,
    dismissed_at   timestamptz,
    PRIMARY KEY (project_id, id)
);
-- One open anomaly per kind and scope: the next hour that shows it extends it.
CREATE UNIQUE INDEX anomalies_open ON anomalies (project_id, kind, scope, coalesce(scope_key, ''))
    WHERE cleared_at IS NULL;
CREATE INDEX anomalies_by_hour ON anomalies (project_id, first_hour);

-- The hours of each project the detector has judged, up to (excluding) judged_until.
CREATE TABLE anomaly_watermarks (
    project_id    bigint PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    judged_until  timestamptz NOT NULL
);
