-- Large attachments by reference (kernel/claims.py): which unit put which content in the
-- claim-check store. A unit may send by reference only what it put there itself (uploaded,
-- or stored by its connector from an inline attachment): the store is shared and a hash
-- is no secret (every recipient of a document sees it), so knowing one must not let a
-- unit send, and so read back, another unit's file.
CREATE TABLE claim_uploads (
    unit         text NOT NULL,
    sha256       text NOT NULL,
    size         bigint NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit, sha256)
);

GRANT SELECT, INSERT, UPDATE ON claim_uploads TO lienthong_connector;
GRANT SELECT ON claim_uploads TO lienthong_reporting;
-- The router checks it too, for envelopes that did not come through their unit's connector.
GRANT SELECT ON claim_uploads TO lienthong_router;

ALTER TABLE claim_uploads ENABLE ROW LEVEL SECURITY;
CREATE POLICY reporting_reads_all ON claim_uploads FOR SELECT TO lienthong_reporting
    USING (true);
CREATE POLICY router_reads_all ON claim_uploads FOR SELECT TO lienthong_router USING (true);
CREATE POLICY own_units ON claim_uploads TO lienthong_connector
    USING (unit IN (SELECT unit FROM connector_units WHERE role = current_user));
