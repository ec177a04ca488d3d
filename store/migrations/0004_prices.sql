-- Custom prices per project, and the exchange rates for showing costs in other currencies.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE model_prices (
    id                    bigserial PRIMARY KEY,
    project_id            bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- NULL: any provider. The model is an exact id or a pattern with * (ft:gpt-4o-mini:acme:*).
    provider              text CHECK (provider <> ''),
    model                 text NOT NULL CHECK (model <> ''),
    -- USD per million tokens; cache prices NULL mean "as input".
    input_per_mtok        numeric(24, 12) NOT NULL CHECK (input_per_mtok >= 0),
    output_per_mtok       numeric(24, 12) NOT NULL CHECK (output_per_mtok >= 0),
    cache_read_per_mtok   numeric(24, 12) CHECK (cache_read_per_mtok >= 0),
    cache_write_per_mtok  numeric(24, 12) CHECK (cache_write_per_mtok >= 0),
    per_call              numeric(24, 12) NOT NULL DEFAULT 0 CHECK (per_call >= 0),
    currency              text NOT NULL DEFAULT 'USD' CHECK (currency = 'USD'),
    effective_from        timestamptz NOT NULL,
    effective_to          timestamptz CHECK (effective_to > effective_from),
    created_at            timestamptz NOT NULL DEFAULT now(),
    -- One price per model at any moment: windows of the same provider and model never overlap.
    CONSTRAINT model_prices_no_overlap EXCLUDE USING gist (
        project_id WITH =,
        (coalesce(provider, '')) WITH =,
        model WITH =,
        tstzrange(effective_from, effective_to) WITH &&
    )
);

CREATE TABLE currency_rates (
    project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$' AND currency <> 'USD'),
    -- Units of the currency per USD.
    per_usd      numeric(24, 12) NOT NULL CHECK (per_usd > 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, currency)
);
