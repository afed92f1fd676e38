-- Credentials of the agency systems that call a connector's HTTP API. The secret is 32
-- random bytes, so a SHA-256 of it is as good as a slow password hash and costs nothing per
-- request; only the hash is kept. A credential acts for exactly the units it names.
CREATE TABLE api_credentials (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    units         text[] NOT NULL CHECK (cardinality(units) > 0),
    secret_sha256 bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
