-- The unit directory (QĐ 20/2020 codes). References are deferred so a whole file loads in one go.
CREATE TABLE units (
    organ_id    text PRIMARY KEY CHECK (organ_id ~ '^\d{3}\.\d{2}\.\d{2}\.[A-Z][0-9A-Z]{2}$'),
    name        text NOT NULL,
    level       text NOT NULL CHECK (level IN ('central', 'province', 'district', 'commune')),
    parent      text REFERENCES units (organ_id) DEFERRABLE INITIALLY DEFERRED,
    valid_from  date,
    valid_to    date,
    successor   text REFERENCES units (organ_id) DEFERRABLE INITIALLY DEFERRED,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_from <= valid_to)
);
CREATE INDEX units_parent_idx ON units (parent);
