-- A project's own rate limits, replacing the defaults (collector/limits.py); NULL: the default.
CREATE TABLE project_limits (
    project_id               bigint PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    spans_per_minute         bigint CHECK (spans_per_minute > 0),
    api_requests_per_second  double precision CHECK (api_requests_per_second > 0),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
