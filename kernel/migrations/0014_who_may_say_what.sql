-- The router judges certificates, the time window and the directory at the moment it first
-- received an envelope; a replay of the same bytes (by SHA-256) is judged at that moment.
ALTER TABLE messages ADD COLUMN envelope_sha256 bytea;
ALTER TABLE messages ADD COLUMN first_received_at timestamptz;
UPDATE messages SET first_received_at = received_at WHERE first_received_at IS NULL;
ALTER TABLE messages ALTER COLUMN first_received_at SET DEFAULT now();
ALTER TABLE messages ALTER COLUMN first_received_at SET NOT NULL;
CREATE INDEX dead_letters_message_idx ON dead_letters (message_id) WHERE message_id IS NOT NULL;

-- A recall request (13) from a document's sender, on the receiver's register entry.
ALTER TABLE incoming_register ADD COLUMN recall_requested_at timestamptz;

-- Outbox rows are a unit's own: one deployment cannot take the id another unit's coming
-- status will carry and so make that status a silent duplicate.
ALTER TABLE outbox DROP CONSTRAINT outbox_pkey;
ALTER TABLE outbox ADD PRIMARY KEY (unit, message_id);

-- What came back about a message belongs to the unit that registered it as sent; an
-- outbox row only counts for messages no unit registered (a status it sent), so a
-- deployment cannot read another unit's statuses by queuing a row with that message's id.
DROP POLICY own_units ON outgoing_status;
CREATE POLICY own_units ON outgoing_status TO lienthong_connector
    USING (
        EXISTS (SELECT FROM outgoing_register AS sent
                WHERE sent.message_id = outgoing_status.message_id
                  AND sent.unit IN (SELECT unit FROM connector_units WHERE role = current_user))
        OR (NOT EXISTS (SELECT FROM outgoing_register AS sent
                        WHERE sent.message_id = outgoing_status.message_id)
            AND EXISTS (SELECT FROM outbox AS sent
                        WHERE sent.message_id = outgoing_status.message_id
                          AND sent.unit IN (SELECT unit FROM connector_units
                                            WHERE role = current_user)))
    );
