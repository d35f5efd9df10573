-- Repositories: blocks, the current root, the record index, blobs and the event log. A repo write touches all of
-- them in one transaction.

CREATE TABLE repo_root (
  did TEXT PRIMARY KEY REFERENCES account(did) ON DELETE CASCADE,
  cid TEXT NOT NULL,                        -- current signed commit
  rev TEXT NOT NULL,
  indexed_at TEXT NOT NULL
) STRICT;

-- Every block of every repo (commits, MST nodes, records), keyed by repo: a CID shared by two repos is stored twice,
-- so that deleting one account never touches another's data.
CREATE TABLE repo_block (
  did TEXT NOT NULL,
  cid TEXT NOT NULL,
  rev TEXT NOT NULL,                        -- the commit that wrote it: getRepo?since= reads by this
  content BLOB NOT NULL,
  PRIMARY KEY (did, cid)
) STRICT, WITHOUT ROWID;
CREATE INDEX repo_block_rev_idx ON repo_block (did, rev);

CREATE TABLE record (
  uri TEXT PRIMARY KEY,                     -- at://<did>/<collection>/<rkey>
  did TEXT NOT NULL,
  collection TEXT NOT NULL,
  rkey TEXT NOT NULL,
  cid TEXT NOT NULL,
  rev TEXT NOT NULL,
  indexed_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX record_path_idx ON record (did, collection, rkey);
CREATE INDEX record_cid_idx ON record (did, cid);

-- Uploaded blobs. The bytes live on disk under <data>/blobs/<did>/<cid>; a blob with no record_blob row is temporary.
CREATE TABLE blob (
  did TEXT NOT NULL REFERENCES account(did) ON DELETE CASCADE,
  cid TEXT NOT NULL,
  mime_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (did, cid)
) STRICT;

CREATE TABLE record_blob (
  did TEXT NOT NULL,
  blob_cid TEXT NOT NULL,
  record_uri TEXT NOT NULL,
  PRIMARY KEY (did, blob_cid, record_uri)
) STRICT;
CREATE INDEX record_blob_uri_idx ON record_blob (record_uri);

-- The event log behind the firehose. `frame` is the complete WebSocket message (header + body, DAG-CBOR), encoded
-- once when sequenced. AUTOINCREMENT: a seq is never reused, even after the newest events are deleted.
CREATE TABLE repo_seq (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  did TEXT NOT NULL,
  event_type TEXT NOT NULL,                 -- commit | sync | identity | account
  frame BLOB NOT NULL,
  sequenced_at TEXT NOT NULL
) STRICT;
CREATE INDEX repo_seq_did_idx ON repo_seq (did);
CREATE INDEX repo_seq_time_idx ON repo_seq (sequenced_at);
