-- The embedded did:plc directory's operation log (served under /plc for offline development).
-- One row per accepted operation, in the order the directory accepted them.
CREATE TABLE plc_operation (
  -- Acceptance order. A DID's log is ordered by this rather than by created_at, which can tie within a millisecond.
  seq INTEGER PRIMARY KEY,
  did TEXT NOT NULL,
  -- CIDv1 dag-cbor sha2-256 of the signed operation, as base32 text: what `prev` of a later op refers to.
  cid TEXT NOT NULL,
  -- The signed operation exactly as submitted (JSON); its signature covers every field, unknown ones included.
  operation TEXT NOT NULL,
  -- Set when a higher-priority rotation key forked the log past this op within the 72 h recovery window.
  nullified INTEGER NOT NULL DEFAULT 0 CHECK (nullified IN (0, 1)),
  created_at TEXT NOT NULL,                 -- ISO 8601, UTC
  UNIQUE (did, cid)
) STRICT;

CREATE INDEX plc_operation_did_seq ON plc_operation (did, seq);
