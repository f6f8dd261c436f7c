-- The head schema of a SQLite database: what the steps of store/migrations.py's `ordered()`
-- execute on a fresh one, in order, each followed by its `schema_migrations` row.
-- Generated, never edited by hand: python -m respond.store.sqlite_head --write (store/sqlite_head.py).

CREATE TABLE IF NOT EXISTS schema_migrations (
    name VARCHAR(128) NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (name));

-- 0001_responses_and_items
CREATE TABLE responses (
        id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        status VARCHAR(16) NOT NULL,
        previous_response_id VARCHAR(64),
        background BOOLEAN NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (id));
CREATE TABLE items (
        pk INTEGER NOT NULL,
        id VARCHAR(64) NOT NULL,
        response_id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        position INTEGER NOT NULL,
        kind SMALLINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (pk));
CREATE INDEX ix_items_response_position ON items (response_id, position);
CREATE INDEX ix_items_id ON items (id);
INSERT INTO schema_migrations (name, applied_at) VALUES ('0001_responses_and_items', CAST(strftime('%s', 'now') AS INTEGER));

-- 0002_events_and_jobs
CREATE TABLE events (
        response_id VARCHAR(64) NOT NULL,
        seq INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (response_id, seq));
CREATE TABLE jobs (
        response_id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        state VARCHAR(16) NOT NULL,
        request TEXT,
        worker VARCHAR(64),
        lease_until BIGINT NOT NULL,
        cancel_requested BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (response_id));
CREATE INDEX ix_jobs_state_created ON jobs (state, created_at);
CREATE INDEX ix_jobs_worker ON jobs (worker);
INSERT INTO schema_migrations (name, applied_at) VALUES ('0002_events_and_jobs', CAST(strftime('%s', 'now') AS INTEGER));

-- 0003_conversations
CREATE TABLE conversations (
        id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        metadata TEXT NOT NULL,
        PRIMARY KEY (id));
CREATE TABLE conversation_items (
        pk INTEGER NOT NULL,
        conversation_id VARCHAR(64) NOT NULL,
        id VARCHAR(64) NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (pk));
CREATE INDEX ix_conversation_items_conv_pk ON conversation_items (conversation_id, pk);
CREATE INDEX ix_conversation_items_id ON conversation_items (conversation_id, id);
INSERT INTO schema_migrations (name, applied_at) VALUES ('0003_conversations', CAST(strftime('%s', 'now') AS INTEGER));

-- 0004_deletion_epoch
CREATE TABLE response_deletions (
        id SMALLINT NOT NULL,
        epoch BIGINT NOT NULL,
        PRIMARY KEY (id));
INSERT INTO response_deletions (id, epoch) VALUES (1, 0);
INSERT INTO schema_migrations (name, applied_at) VALUES ('0004_deletion_epoch', CAST(strftime('%s', 'now') AS INTEGER));

-- 0010_listing_indexes
ALTER TABLE responses ADD COLUMN model VARCHAR(128);
ALTER TABLE responses ADD COLUMN preview VARCHAR(200);
CREATE TABLE response_metadata (
        response_id VARCHAR(64) NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
        key VARCHAR(64) NOT NULL,
        value VARCHAR(512) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (response_id, key));
CREATE INDEX ix_response_metadata_kv ON response_metadata (key, value, owner, created_at);
CREATE INDEX ix_responses_owner_created ON responses (owner, created_at);
CREATE INDEX ix_responses_created ON responses (created_at);
CREATE INDEX ix_responses_owner_model_created ON responses (owner, model, created_at);
CREATE INDEX ix_responses_owner_status_created ON responses (owner, status, created_at);
CREATE INDEX ix_responses_previous ON responses (previous_response_id);
CREATE INDEX ix_responses_background_created ON responses (background, created_at);
INSERT INTO schema_migrations (name, applied_at) VALUES ('0010_listing_indexes', CAST(strftime('%s', 'now') AS INTEGER));

-- 0020_containers
CREATE TABLE containers (
            id VARCHAR(64) NOT NULL,
            owner VARCHAR(64) NOT NULL,
            name TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_active_at BIGINT NOT NULL,
            expires_minutes INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (id));
CREATE INDEX ix_containers_owner_created ON containers (owner, created_at);
CREATE INDEX ix_containers_last_active ON containers (last_active_at);
CREATE TABLE container_files (
            id VARCHAR(64) NOT NULL,
            container_id VARCHAR(64) NOT NULL,
            owner VARCHAR(64) NOT NULL,
            created_at BIGINT NOT NULL,
            bytes BIGINT NOT NULL,
            path TEXT NOT NULL,
            source VARCHAR(16) NOT NULL,
            content BLOB NOT NULL,
            PRIMARY KEY (id));
CREATE INDEX ix_container_files_container_created ON container_files (container_id, created_at);
CREATE UNIQUE INDEX ux_container_files_path ON container_files (container_id, path);
INSERT INTO schema_migrations (name, applied_at) VALUES ('0020_containers', CAST(strftime('%s', 'now') AS INTEGER));

-- journal_0001_applied
CREATE TABLE journal_applied (
        id VARCHAR(64) NOT NULL,
        applied_at BIGINT NOT NULL,
        PRIMARY KEY (id));
INSERT INTO schema_migrations (name, applied_at) VALUES ('journal_0001_applied', CAST(strftime('%s', 'now') AS INTEGER));

-- 0019_dashboard_sessions
CREATE TABLE dashboard_sessions (
        id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        admin BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (id));
CREATE INDEX ix_dashboard_sessions_expires ON dashboard_sessions (expires_at);
INSERT INTO schema_migrations (name, applied_at) VALUES ('0019_dashboard_sessions', CAST(strftime('%s', 'now') AS INTEGER));

-- tenants_0001_keys_limits_usage
CREATE TABLE api_keys (
        id VARCHAR(64) NOT NULL,
        label VARCHAR(200) NOT NULL,
        salt VARCHAR(64) NOT NULL,
        secret_hash VARCHAR(128) NOT NULL,
        models TEXT NOT NULL,
        limits TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT,
        rotated_at BIGINT,
        PRIMARY KEY (id));
CREATE TABLE rate_counters (
        key_id VARCHAR(64) NOT NULL,
        bucket VARCHAR(16) NOT NULL,
        period BIGINT NOT NULL,
        value BIGINT NOT NULL,
        PRIMARY KEY (key_id, bucket, period));
CREATE TABLE rate_leases (
        lease_id VARCHAR(64) NOT NULL,
        key_id VARCHAR(64) NOT NULL,
        reserved BIGINT NOT NULL,
        minute BIGINT NOT NULL,
        day BIGINT NOT NULL,
        month BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (lease_id));
CREATE INDEX ix_rate_leases_key ON rate_leases (key_id);
CREATE TABLE usage_records (
        response_id VARCHAR(64) NOT NULL,
        key_id VARCHAR(64) NOT NULL,
        model VARCHAR(128) NOT NULL,
        backend VARCHAR(64) NOT NULL,
        status VARCHAR(16) NOT NULL,
        input_tokens BIGINT NOT NULL,
        cached_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        duration_ms BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (response_id));
CREATE INDEX ix_usage_created ON usage_records (created_at);
CREATE INDEX ix_usage_key_created ON usage_records (key_id, created_at);
INSERT INTO schema_migrations (name, applied_at) VALUES ('tenants_0001_keys_limits_usage', CAST(strftime('%s', 'now') AS INTEGER));

-- files_0001_files_vector_stores_chunks
CREATE TABLE files (
        id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        bytes BIGINT NOT NULL,
        filename TEXT NOT NULL,
        purpose VARCHAR(32) NOT NULL,
        expires_at BIGINT,
        content BLOB NOT NULL,
        PRIMARY KEY (id));
CREATE INDEX ix_files_owner_created ON files (owner, created_at);
CREATE TABLE vector_stores (
        id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (id));
CREATE INDEX ix_vector_stores_owner_created ON vector_stores (owner, created_at);
CREATE TABLE vector_store_files (
        vector_store_id VARCHAR(64) NOT NULL,
        file_id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        status VARCHAR(16) NOT NULL,
        batch_id VARCHAR(64),
        usage_bytes BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (vector_store_id, file_id));
CREATE INDEX ix_vs_files_status ON vector_store_files (status);
CREATE INDEX ix_vs_files_batch ON vector_store_files (batch_id);
CREATE TABLE vector_store_file_batches (
        id VARCHAR(64) NOT NULL,
        vector_store_id VARCHAR(64) NOT NULL,
        owner VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (id));
CREATE TABLE chunks (
        pk INTEGER NOT NULL,
        vector_store_id VARCHAR(64) NOT NULL,
        file_id VARCHAR(64) NOT NULL,
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        embedding BLOB,
        PRIMARY KEY (pk));
CREATE INDEX ix_chunks_store_file ON chunks (vector_store_id, file_id);
CREATE VIRTUAL TABLE chunks_fts USING fts5(text, tokenize='porter unicode61');
INSERT INTO schema_migrations (name, applied_at) VALUES ('files_0001_files_vector_stores_chunks', CAST(strftime('%s', 'now') AS INTEGER));

-- files_0002_fts_store_column
DROP TABLE chunks_fts;
CREATE VIRTUAL TABLE chunks_fts USING fts5(text, store, tokenize='porter unicode61');
INSERT INTO chunks_fts(rowid, text, store) SELECT pk, text, vector_store_id FROM chunks;
INSERT INTO schema_migrations (name, applied_at) VALUES ('files_0002_fts_store_column', CAST(strftime('%s', 'now') AS INTEGER));

-- jobs_0001_queue_order
ALTER TABLE jobs ADD COLUMN queued_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN due_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN chain VARCHAR(128);
CREATE INDEX ix_jobs_state_due ON jobs (state, due_us);
CREATE INDEX ix_jobs_owner_chain ON jobs (owner, chain);
INSERT INTO schema_migrations (name, applied_at) VALUES ('jobs_0001_queue_order', CAST(strftime('%s', 'now') AS INTEGER));

-- 0011_partial_indexes
DROP INDEX ix_responses_previous;
CREATE INDEX ix_responses_previous ON responses (previous_response_id) WHERE previous_response_id IS NOT NULL;
DROP INDEX ix_responses_background_created;
CREATE INDEX ix_responses_background_created ON responses (created_at) WHERE background = 1;
CREATE INDEX ix_responses_background_owner_created ON responses (owner, created_at) WHERE background = 1;
DROP INDEX ix_responses_owner_status_created;
CREATE INDEX ix_responses_owner_status_created ON responses (owner, status, created_at) WHERE status <> 'completed';
DROP INDEX ix_jobs_worker;
DROP INDEX ix_jobs_owner_chain;
CREATE INDEX ix_jobs_owner_chain ON jobs (owner, chain) WHERE chain IS NOT NULL;
INSERT INTO schema_migrations (name, applied_at) VALUES ('0011_partial_indexes', CAST(strftime('%s', 'now') AS INTEGER));

-- jobs_0002_one_state_index
DROP INDEX ix_jobs_state_created;
INSERT INTO schema_migrations (name, applied_at) VALUES ('jobs_0002_one_state_index', CAST(strftime('%s', 'now') AS INTEGER));
