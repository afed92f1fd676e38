-- The national axis protocol served by the connector (/vxp, connectors/vxp/): agency systems
-- that sign each request with a secret shared with us (HMAC-SHA256). The server must hold
-- the secret itself to check a signature, so it is kept sealed (AES-256-GCM under a key
-- file beside the unit keys, bound to its system id), never hashed; `key_id` names the key
-- that sealed it, so a connector holding another key says so instead of refusing signatures.
CREATE TABLE vxp_systems (
    id             text PRIMARY KEY,
    name           text NOT NULL DEFAULT '',
    units          text[] NOT NULL CHECK (cardinality(units) > 0),
    secret_sealed  bytea NOT NULL,
    key_id         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    rotated_at     timestamptz,
    revoked_at     timestamptz,
    last_used_at   timestamptz
);

-- What a unit's system acknowledged with updateStatus (done, fail, processing), by the id
-- it saw: a received document's message id or a heard status's id. No row: still pending.
CREATE TABLE vxp_acknowledgements (
    unit        text NOT NULL,
    message_id  text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('edoc', 'status')),
    state       text NOT NULL CHECK (state IN ('processing', 'done', 'fail')),
    system_id   text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit, message_id)
);

-- Clients retry POSTs: the same edXML bytes sent again by a unit are the document it already
-- sent. A request claims the row (message_id NULL) before the send and completes it after;
-- others wait while its lease runs, and take over a claim whose lease ran out (a crash).
CREATE TABLE vxp_sent (
    unit         text NOT NULL,
    sha256       bytea NOT NULL,
    message_id   text,
    system_id    text NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    lease_until  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit, sha256)
);

-- A connector reads its systems and notes when one was used; creating, re-keying and
-- revoking are the operator's (`lienthong vxp credentials`, as the owner, audited).
GRANT SELECT ON vxp_systems TO lienthong_connector;
GRANT UPDATE (last_used_at) ON vxp_systems TO lienthong_connector;
GRANT SELECT, INSERT, UPDATE ON vxp_acknowledgements, vxp_sent TO lienthong_connector;
-- getAgenciesList answers from the unit directory, which is public knowledge.
GRANT SELECT ON units TO lienthong_connector;
GRANT SELECT ON vxp_systems, vxp_acknowledgements, vxp_sent TO lienthong_reporting;

DO $$
DECLARE
    register text;
BEGIN
    FOREACH register IN ARRAY ARRAY['vxp_systems', 'vxp_acknowledgements', 'vxp_sent']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', register);
        EXECUTE format('CREATE POLICY reporting_reads_all ON %I FOR SELECT'
                       ' TO lienthong_reporting USING (true)', register);
    END LOOP;
    FOREACH register IN ARRAY ARRAY['vxp_acknowledgements', 'vxp_sent']
    LOOP
        EXECUTE format('CREATE POLICY own_units ON %I TO lienthong_connector USING'
                       ' (unit IN (SELECT unit FROM connector_units WHERE role = current_user))',
                       register);
    END LOOP;
END $$;

-- A system is the deployment's when every unit it names is.
CREATE POLICY own_units ON vxp_systems TO lienthong_connector
    USING (units <@ ARRAY(SELECT unit FROM connector_units WHERE role = current_user));
