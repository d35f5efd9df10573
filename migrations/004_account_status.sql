-- Account status: the deactivation "delete after" hint, and the (created_at, did) order that sync.listRepos pages by.
ALTER TABLE account ADD COLUMN delete_after TEXT;
CREATE INDEX account_created_idx ON account (created_at, did);
