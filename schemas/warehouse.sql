-- The working warehouse (UMKM_WAREHOUSE). Pseudonymised, listing-level; never read by BI.
-- Personal data never appears here: NIK and phone numbers only as HMAC-SHA256 pseudonyms.
-- Listings and identifiers are integer keys (listing_id, ident); text keys live only in
-- listing_keys. The listing tables (listing_runs, listings) and the e-catalogue table take their
-- attribute columns from schemas/canonical.yaml (pipelines/warehouse/store.py creates them);
-- this file holds the rest.

CREATE TABLE IF NOT EXISTS meta (
    name VARCHAR PRIMARY KEY,           -- 'schema_version', 'pii_key_check', 'state_version', ...
    value VARCHAR NOT NULL
);

-- The load ledger: one row per delivered partner-day (with _SUCCESS), describing its current content.
CREATE TABLE IF NOT EXISTS partner_loads (
    partner VARCHAR NOT NULL,
    export_date DATE NOT NULL,
    status VARCHAR NOT NULL,            -- loaded | failed
    rows_read BIGINT,                   -- NULL when the delivery could not be read at all
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    warnings BIGINT NOT NULL,           -- records with at least one warning
    content_sha256 VARCHAR,             -- over the data files' contents, names excluded
    contract_sha256 VARCHAR,            -- the contract it was judged by
    loaded_at TIMESTAMPTZ NOT NULL,
    detail VARCHAR,                     -- why it failed, and delivery-level warnings, in words
    files JSON,                         -- [{name, sha256, size, inode, mtime_ns, ctime_ns, rows}]
    pipeline_version VARCHAR            -- the release that judged it (a new one re-judges a failure)
);

-- Every attempt, for the audit trail (partner_loads keeps only the current content's outcome).
CREATE TABLE IF NOT EXISTS load_attempts (
    run_id VARCHAR, partner VARCHAR, export_date DATE, outcome VARCHAR,  -- loaded|failed|unchanged
    content_sha256 VARCHAR, attempted_at TIMESTAMPTZ, detail VARCHAR
);

-- What the warehouse holds per partner-day (a refused re-delivery keeps the previous content).
CREATE TABLE IF NOT EXISTS warehouse_days (
    partner VARCHAR NOT NULL,
    export_date DATE NOT NULL,
    content_sha256 VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS quarantine (
    partner VARCHAR NOT NULL,
    export_date DATE NOT NULL,
    file VARCHAR NOT NULL,
    row_number BIGINT NOT NULL,         -- record number in the file (Excel: sheet row)
    rule VARCHAR NOT NULL,
    column_name VARCHAR,
    excerpt VARCHAR                     -- non-personal: listing key and the offending value
);

CREATE TABLE IF NOT EXISTS record_warnings (
    partner VARCHAR NOT NULL,
    export_date DATE NOT NULL,
    file VARCHAR NOT NULL,
    row_number BIGINT NOT NULL,
    warning VARCHAR NOT NULL            -- "<column>: <what is wrong>"
);

CREATE TABLE IF NOT EXISTS validation_results (
    partner VARCHAR NOT NULL,
    export_date DATE NOT NULL,
    expectation VARCHAR NOT NULL,
    column_name VARCHAR,
    success BOOLEAN NOT NULL,
    element_count BIGINT,
    unexpected_count BIGINT,
    description VARCHAR
);

-- The listings' integer keys: one row per (partner, listing key) ever seen.
CREATE SEQUENCE IF NOT EXISTS listing_id_seq START 1;
CREATE TABLE IF NOT EXISTS listing_keys (
    listing_id BIGINT NOT NULL,
    partner VARCHAR NOT NULL,
    listing_key VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS listing_deletions (
    listing_id BIGINT NOT NULL,
    partner VARCHAR NOT NULL,
    export_date DATE NOT NULL
);

-- Listings whose derived state must be recomputed at the next publish.
CREATE TABLE IF NOT EXISTS dirty_listings (listing_id BIGINT NOT NULL);

-- UMKM whose membership may change: former UMKM of refreshed listings, until resolved.
CREATE TABLE IF NOT EXISTS stale_umkm (umkm_id BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS listing_idents (
    listing_id BIGINT NOT NULL,
    ident UHUGEINT NOT NULL             -- see pipelines/canonical.py: kind in the top two bits
);

CREATE TABLE IF NOT EXISTS umkm (
    umkm_id BIGINT NOT NULL,            -- the smallest listing_id of its listings
    onboarding_date DATE NOT NULL,
    province_code VARCHAR,
    scale VARCHAR NOT NULL,
    kbli_category VARCHAR NOT NULL,
    listings BIGINT NOT NULL,
    reach STRUCT(partner VARCHAR, first DATE)[] NOT NULL  -- each partner it has a listing on, earliest joined
);

-- Publications and revisions (../shared/metrics.md): the history the published file carries.
-- pipelines/publish/history.py records a publication here before its file is swapped in.
CREATE TABLE IF NOT EXISTS publications (
    publication_id BIGINT NOT NULL,     -- 1 for the first, then +1
    published_at TIMESTAMPTZ NOT NULL,
    latest_export_date DATE,            -- NULL when no partner-day was loaded
    partner_days_changed BIGINT NOT NULL,
    umkm_onboarded BIGINT,              -- national_progress.umkm_onboarded on latest_export_date
    pipeline_version VARCHAR NOT NULL,
    contracts_sha256 VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS national_progress_revisions (
    publication_id BIGINT NOT NULL,
    as_of_date DATE NOT NULL,
    umkm_onboarded BIGINT NOT NULL,
    umkm_online_total BIGINT NOT NULL,
    listings BIGINT NOT NULL,
    previous_umkm_onboarded BIGINT      -- NULL when the previous publication had no such day
);

-- Operators' side (never published): each publication's partner-days whose partner_loads row
-- was inserted or changed since the previous publication.
CREATE TABLE IF NOT EXISTS publication_partner_days (
    publication_id BIGINT NOT NULL,
    partner VARCHAR NOT NULL,
    export_date DATE NOT NULL,
    change VARCHAR NOT NULL,            -- loaded | late | corrected
    status VARCHAR NOT NULL,            -- loaded | failed (partner_loads.status)
    row_md5 VARCHAR NOT NULL            -- of its published partner_loads row
);

-- Operators' side: how identity resolution moved UMKM between publications, for `umkm explain`.
-- Each UMKM group replaced by a resolve counts -1 at its old onboarding date, each new group +1
-- at its new one, attributed to one partner-day (pipelines/warehouse/moves.py).
CREATE TABLE IF NOT EXISTS umkm_moves (
    publication_id BIGINT,              -- NULL until the publication that shows them is recorded
    partner VARCHAR,                    -- the partner-day it is attributed to; NULL: none
    export_date DATE,
    onboarding_date DATE NOT NULL,
    province_code VARCHAR,              -- the group's province (NULL: unknown)
    n BIGINT NOT NULL                   -- signed
);

-- Listings' UMKM before a refresh (kept until resolved), so a resolve knows the old groups.
CREATE TABLE IF NOT EXISTS stale_members (listing_id BIGINT NOT NULL, umkm_id BIGINT NOT NULL);
