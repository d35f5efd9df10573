-- Repo imports (com.atproto.repo.importRepo) in progress: the CAR's blocks as they stream in, then what verifying the
-- tree found (which blocks it reaches, the records, their blob refs), all keyed by one import's random id. Nothing
-- here is visible as a repo: one transaction moves an import's rows into repo_block, record and record_blob, and the
-- import's rows are deleted whatever happens. Rows a crash leaves behind are deleted at the next start.
CREATE TABLE repo_import_block (
  import_id TEXT NOT NULL,
  cid TEXT NOT NULL,
  content BLOB NOT NULL,
  reachable INTEGER NOT NULL DEFAULT 0,     -- 1 once the walk from the root commit has reached it
  PRIMARY KEY (import_id, cid)
) STRICT, WITHOUT ROWID;

CREATE TABLE repo_import_record (
  import_id TEXT NOT NULL,
  collection TEXT NOT NULL,
  rkey TEXT NOT NULL,
  cid TEXT NOT NULL,
  PRIMARY KEY (import_id, collection, rkey)
) STRICT, WITHOUT ROWID;

CREATE TABLE repo_import_blob (
  import_id TEXT NOT NULL,
  blob_cid TEXT NOT NULL,
  record_uri TEXT NOT NULL,
  PRIMARY KEY (import_id, blob_cid, record_uri)
) STRICT, WITHOUT ROWID;
