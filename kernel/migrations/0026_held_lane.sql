-- A released document goes back on the lane it came in on (broker.review): an urgent one
-- released onto `submit` would queue behind the backlog it was sent to overtake. Rows
-- held before this migration have none and go back on `submit`, as they always did.
ALTER TABLE held ADD COLUMN topic text;
