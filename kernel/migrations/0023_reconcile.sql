-- `lienthong reconcile --since T` reads each table from T on (lienthong/commands/reconcile.py):
-- without these indexes, every run reads the ledger and the registers whole, however short
-- the window.
CREATE INDEX messages_received_idx ON messages (received_at);
CREATE INDEX outgoing_status_at_idx ON outgoing_status (at);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);
CREATE INDEX incoming_quarantine_received_idx ON incoming_quarantine (received_at)
    WHERE message_id IS NOT NULL;
-- Registers are read whole from the window's year (a gap is judged from number 1).
CREATE INDEX incoming_register_year_idx ON incoming_register (year);
CREATE INDEX outgoing_register_year_idx ON outgoing_register (year);
-- Sent rows stay in the outbox: the recent ones are found by this, the unsent by
-- outbox_unsent_idx.
CREATE INDEX outbox_created_idx ON outbox (created_at);

-- An operator's word that a dead letter is settled without a replay (`lienthong reconcile
-- acknowledge`, audited with who and why): reconcile stops listing it.
ALTER TABLE dead_letters ADD COLUMN acknowledged_at timestamptz;
