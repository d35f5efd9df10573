-- Read-after-write asks "this repo's records written after rev X, oldest first" on every proxied timeline, feed,
-- thread and profile read (src/read-after-write); without this it scans the repo's whole record list.
CREATE INDEX record_rev_idx ON record (did, rev);
