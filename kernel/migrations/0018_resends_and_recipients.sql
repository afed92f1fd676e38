-- After a review of the axis work (issue 14).

-- A sendEdoc claim reserves the message id its send carries, so a resend after a crash (the
-- document numbered, the claim not completed) finds the document by that id, whatever the
-- order of its `to`. A claim made before this has none; taking it over reserves one.
ALTER TABLE vxp_sent ADD COLUMN reserved_id text;

-- An endpoint lists a document once per addressed unit, under one docId, and a unit may
-- appear in a later poll than another: what a gateway took is kept per addressed unit
-- (`recipient`, as the endpoint listed it), so a later entry for another unit is taken too.
-- Rows taken before are split into one per unit they went to.
ALTER TABLE gateway_inbound ADD COLUMN recipient text NOT NULL DEFAULT '';
ALTER TABLE gateway_inbound DROP CONSTRAINT gateway_inbound_pkey;
INSERT INTO gateway_inbound (gateway, kind, remote_id, recipient, message_id, sender,
                             recipients, document_id, responds_to, status_code, xmldsig,
                             xmldsig_detail, refused_reason, refused_detail, taken_at,
                             acknowledged_at)
    SELECT gateway, kind, remote_id, unit, message_id, sender, recipients, document_id,
           responds_to, status_code, xmldsig, xmldsig_detail, refused_reason, refused_detail,
           taken_at, acknowledged_at
    FROM gateway_inbound, unnest(recipients) AS unit
    WHERE recipient = '';
DELETE FROM gateway_inbound WHERE recipient = '' AND cardinality(recipients) > 0;
ALTER TABLE gateway_inbound ADD PRIMARY KEY (gateway, kind, remote_id, recipient);

-- The endpoint refused an acknowledgement (updateStatus done): the entry is not marked
-- acknowledged, and not asked again; why is kept for the operator.
ALTER TABLE gateway_inbound ADD COLUMN acknowledgement_refused text;

-- What a unit's system was shown by getReceivedEdocList (`listed`): updateStatus names only a
-- docId, and a document one system acts for several units of may reach a unit after the
-- list was read; acknowledging it would take that unit's copy off a list the system never
-- saw it in. updateStatus acknowledges the units it was listed for (or, if it was listed
-- for none, every unit holding it).
ALTER TABLE vxp_acknowledgements DROP CONSTRAINT vxp_acknowledgements_state_check;
ALTER TABLE vxp_acknowledgements ADD CONSTRAINT vxp_acknowledgements_state_check
    CHECK (state IN ('listed', 'processing', 'done', 'fail'));
