-- The console's overdue page asks, per unit in scope, for the incoming entries whose due
-- date has passed (console.monitor.past_due): only entries that carry one are indexed.
CREATE INDEX incoming_register_due_idx ON incoming_register (unit, due_date)
    WHERE due_date IS NOT NULL;
