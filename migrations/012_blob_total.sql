-- Bytes of all stored blobs, kept up to date by triggers, so that the metrics (aurora_blob_bytes) read one row
-- instead of summing the blob table (about half a second per million blobs, on the event loop, at every scrape).
-- Deletions by ON DELETE CASCADE (an account's deletion) fire the delete trigger too.
CREATE TABLE blob_total (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  bytes INTEGER NOT NULL
) STRICT;
INSERT INTO blob_total (id, bytes) SELECT 1, coalesce(sum(size), 0) FROM blob;

CREATE TRIGGER blob_total_insert AFTER INSERT ON blob BEGIN
  UPDATE blob_total SET bytes = bytes + NEW.size WHERE id = 1;
END;
CREATE TRIGGER blob_total_delete AFTER DELETE ON blob BEGIN
  UPDATE blob_total SET bytes = bytes - OLD.size WHERE id = 1;
END;
CREATE TRIGGER blob_total_update AFTER UPDATE OF size ON blob BEGIN
  UPDATE blob_total SET bytes = bytes - OLD.size + NEW.size WHERE id = 1;
END;
