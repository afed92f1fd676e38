-- A replay is judged at the moment the router first received its bytes, but only a replay
-- an operator asked for: a sender cannot bank an early receive time by getting a copy of
-- its envelope dead-lettered on purpose and publishing the same bytes months later.
ALTER TABLE dead_letters ADD COLUMN envelope_sha256 bytea;
ALTER TABLE dead_letters ADD COLUMN replay_requested_at timestamptz;
UPDATE dead_letters SET envelope_sha256 = sha256(original);
UPDATE dead_letters SET replay_requested_at = replayed_at WHERE replayed_at IS NOT NULL;
CREATE INDEX dead_letters_replay_idx ON dead_letters (envelope_sha256)
    WHERE replay_requested_at IS NOT NULL;
DROP INDEX dead_letters_message_idx;

-- What a sender's units heard belongs to those units, by a column of its own rather than
-- by whether some row with that message id exists (which any deployment could create).
-- Deduplication is by what was said about which delivery, never by a status id alone.
ALTER TABLE outgoing_status ADD COLUMN unit text;
UPDATE outgoing_status s SET unit = coalesce(
    (SELECT r.unit FROM outgoing_register r WHERE r.message_id = s.message_id LIMIT 1),
    (SELECT o.unit FROM outbox o WHERE o.message_id = s.message_id LIMIT 1));
DELETE FROM outgoing_status WHERE unit IS NULL;
ALTER TABLE outgoing_status ALTER COLUMN unit SET NOT NULL;
ALTER TABLE outgoing_status DROP CONSTRAINT outgoing_status_pkey;
ALTER TABLE outgoing_status DROP CONSTRAINT outgoing_status_status_message_id_key;
ALTER TABLE outgoing_status ADD PRIMARY KEY (unit, message_id, recipient, status_code);
DROP POLICY own_units ON outgoing_status;
CREATE POLICY own_units ON outgoing_status TO lienthong_connector
    USING (unit IN (SELECT unit FROM connector_units WHERE role = current_user));
