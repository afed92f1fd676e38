-- Gateways (issue 14): units hosted by another exchange (the national axis, an LGSP, another
-- province's lienthong), reached through a named gateway. The router routes to their unit
-- topics as to any unit's; the gateway's process consumes them and carries what it finds
-- across (`lienthong vxp bridge`), and submits what comes back signed with the gateway's
-- certificate. Each gateway's process logs in as a role of its own, lienthong_gateway_<name>,
-- a member of the NOLOGIN group lienthong_gateway (deploy/postgres/roles.sql), and sees only
-- its own gateway's rows.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lienthong_gateway') THEN
        RAISE EXCEPTION 'the role lienthong_gateway does not exist'
            USING HINT = 'a database administrator runs deploy/postgres/roles.sql again '
                         '(lienthong dev up and lienthong db roles do)';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO lienthong_gateway', current_schema());
END $$;

ALTER TABLE units ADD COLUMN gateway text CHECK (gateway ~ '^[a-z][a-z0-9_]{0,39}$');
CREATE INDEX units_gateway_idx ON units (gateway) WHERE gateway IS NOT NULL;

-- What a gateway took from the remote endpoint (getReceivedEdocList), by the endpoint's id:
-- the envelope it made of it (published from gateway_outbox), the edXML's XML-DSig verdict,
-- or why it would not carry it; and when the endpoint was told (updateStatus done). A row
-- exists before anything is acknowledged, so a restart never takes the same entry twice.
CREATE TABLE gateway_inbound (
    gateway            text NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('edoc', 'status')),
    remote_id          text NOT NULL,
    message_id         text,
    sender             text,
    recipients         text[] NOT NULL DEFAULT '{}',
    document_id        text,
    responds_to        text,
    status_code        text,
    xmldsig            text CHECK (xmldsig IN ('absent', 'valid', 'invalid', 'untrusted',
                                               'unsupported')),
    xmldsig_detail     text,
    refused_reason     text,
    refused_detail     text,
    taken_at           timestamptz NOT NULL DEFAULT now(),
    acknowledged_at    timestamptz,
    PRIMARY KEY (gateway, kind, remote_id)
);
CREATE INDEX gateway_inbound_message_idx ON gateway_inbound (gateway, message_id);

-- What a gateway carried to the remote endpoint (sendEdoc), one row per envelope and remote
-- recipient: the endpoint's DocId, or why it was not carried. A status coming back names
-- the document by its edXML DocumentId, which leads here to this exchange's message id.
CREATE TABLE gateway_outbound (
    gateway         text NOT NULL,
    message_id      text NOT NULL,
    recipient       text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('edoc', 'status', 'notice')),
    sender          text NOT NULL,
    document_id     text,
    responds_to     text,
    status_code     text,
    remote_id       text,
    refused_reason  text,
    refused_detail  text,
    at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway, message_id, recipient)
);
CREATE INDEX gateway_outbound_document_idx ON gateway_outbound (gateway, sender, document_id);

-- Envelopes a gateway submits to this exchange (what it took, and its 02 when the endpoint
-- refused a document for good), queued in the transaction that decided them and published
-- from here, so a crash between the two publishes them late, never twice differently. An
-- entry taken from the endpoint (remote_kind, remote_id) is acknowledged there only once
-- every envelope made of it is published.
CREATE TABLE gateway_outbox (
    gateway       text NOT NULL,
    message_id    text NOT NULL,
    remote_kind   text,
    remote_id     text,
    topic         text NOT NULL,
    key           bytea NOT NULL,
    value         bytea NOT NULL,
    headers       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    PRIMARY KEY (gateway, message_id)
);
CREATE INDEX gateway_outbox_pending_idx ON gateway_outbox (gateway, created_at)
    WHERE published_at IS NULL;

GRANT SELECT ON units TO lienthong_gateway;
GRANT SELECT, INSERT, UPDATE ON gateway_inbound, gateway_outbound, gateway_outbox
    TO lienthong_gateway;
GRANT SELECT ON gateway_inbound, gateway_outbound, gateway_outbox TO lienthong_reporting;

DO $$
DECLARE
    register text;
BEGIN
    FOREACH register IN ARRAY ARRAY['gateway_inbound', 'gateway_outbound', 'gateway_outbox']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', register);
        EXECUTE format('CREATE POLICY reporting_reads_all ON %I FOR SELECT'
                       ' TO lienthong_reporting USING (true)', register);
        EXECUTE format('CREATE POLICY own_gateway ON %I TO lienthong_gateway USING'
                       ' (current_user = ''lienthong_gateway_'' || gateway)', register);
    END LOOP;
END $$;
