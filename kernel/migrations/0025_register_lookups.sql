-- The console's overdue page asks, per unit in scope, for the incoming entries whose due
-- date has passed (console.monitor.past_due): only entries that carry one are indexed.
CREATE INDEX incoming_register_due_idx ON incoming_register (unit, due_date)
    WHERE due_date IS NOT NULL;

-- An incoming revoke marks the entries of its sender's document at that unit
-- (connectors.registers): found by this, not by reading the unit's whole register.
CREATE INDEX incoming_register_document_idx ON incoming_register (unit, sender, document_id)
    WHERE document_id IS NOT NULL;
