-- The published file (UMKM_PUBLISH): aggregates only, the contract of ../shared/metrics.md.
-- Executed inside the freshly built file; BI tools see these tables and their comments.
-- Every table and column has a COMMENT, and docs/metrics.md repeats each one word for word
-- (tests/test_metrics_doc.py fails when the two differ): change both in the same commit.

CREATE TABLE national_progress (
    as_of_date DATE NOT NULL, umkm_onboarded BIGINT NOT NULL, umkm_new BIGINT NOT NULL,
    umkm_online_total BIGINT NOT NULL, listings BIGINT NOT NULL, target BIGINT NOT NULL,
    pct_of_target DOUBLE
);
COMMENT ON TABLE national_progress IS 'One row per day from programme start (2020-05-14) to the latest loaded export date. Counts are UMKM: connected groups of listings sharing a valid NIB, NIK or phone across all marketplace partners. Restated daily with the latest knowledge.';
COMMENT ON COLUMN national_progress.as_of_date IS 'The day the figures describe';
COMMENT ON COLUMN national_progress.umkm_onboarded IS 'UMKM whose onboarding date (earliest joined date of its listings) lies in [2020-05-14, as_of_date]';
COMMENT ON COLUMN national_progress.umkm_new IS 'UMKM whose onboarding date is as_of_date';
COMMENT ON COLUMN national_progress.umkm_online_total IS 'UMKM whose onboarding date is on or before as_of_date, including those online before the programme';
COMMENT ON COLUMN national_progress.listings IS 'Marketplace listings joined on or before as_of_date, removed ones included';
COMMENT ON COLUMN national_progress.target IS 'Target trajectory on as_of_date: straight line from (2020-05-14, 0) through the targets in force that day, flat after the last; rounded half up';
COMMENT ON COLUMN national_progress.pct_of_target IS 'umkm_onboarded / target (NULL when target is 0); a ratio, 1.0 = on target';

CREATE TABLE progress_by_province (
    as_of_date DATE NOT NULL, province_code VARCHAR, province_name VARCHAR NOT NULL,
    umkm_onboarded BIGINT NOT NULL, umkm_new BIGINT NOT NULL
);
COMMENT ON TABLE progress_by_province IS 'National progress by the province of each UMKM''s earliest-joined listing; dense over days; sums to national_progress.umkm_onboarded';
COMMENT ON COLUMN progress_by_province.as_of_date IS 'The day the figures describe';
COMMENT ON COLUMN progress_by_province.province_code IS 'Kemendagri 2-digit province code; NULL = unknown';
COMMENT ON COLUMN progress_by_province.province_name IS 'Province name from the Kemendagri reference; ''unknown'' when the code is NULL';
COMMENT ON COLUMN progress_by_province.umkm_onboarded IS 'UMKM onboarded in [2020-05-14, as_of_date] in this province';
COMMENT ON COLUMN progress_by_province.umkm_new IS 'UMKM onboarded on as_of_date in this province';

CREATE TABLE progress_by_partner (
    as_of_date DATE NOT NULL, partner VARCHAR NOT NULL, listings BIGINT NOT NULL, umkm_reached BIGINT NOT NULL
);
COMMENT ON TABLE progress_by_partner IS 'Per marketplace partner; a UMKM on several partners counts once on each, so rows do not sum to the national figure';
COMMENT ON COLUMN progress_by_partner.as_of_date IS 'The day the figures describe';
COMMENT ON COLUMN progress_by_partner.partner IS 'Marketplace partner name as in partners.md (lkpp-ekatalog is not a marketplace and has its own table)';
COMMENT ON COLUMN progress_by_partner.listings IS 'That partner''s listings joined on or before as_of_date, removed ones included';
COMMENT ON COLUMN progress_by_partner.umkm_reached IS 'UMKM with a listing on that partner joined on or before as_of_date and an onboarding date on or after 2020-05-14';

CREATE TABLE progress_by_scale (as_of_date DATE NOT NULL, scale VARCHAR NOT NULL, umkm_onboarded BIGINT NOT NULL);
COMMENT ON TABLE progress_by_scale IS 'UMKM onboarded since programme start by scale: the largest known scale of its listings (menengah > kecil > mikro), else unknown';
COMMENT ON COLUMN progress_by_scale.as_of_date IS 'The day the figures describe';
COMMENT ON COLUMN progress_by_scale.scale IS 'mikro, kecil, menengah or unknown';
COMMENT ON COLUMN progress_by_scale.umkm_onboarded IS 'UMKM onboarded in [2020-05-14, as_of_date] of this scale';

CREATE TABLE progress_by_sector (as_of_date DATE NOT NULL, kbli_category VARCHAR NOT NULL, umkm_onboarded BIGINT NOT NULL);
COMMENT ON TABLE progress_by_sector IS 'UMKM onboarded since programme start by KBLI 2020 category of its earliest-joined listing with a valid KBLI';
COMMENT ON COLUMN progress_by_sector.as_of_date IS 'The day the figures describe';
COMMENT ON COLUMN progress_by_sector.kbli_category IS 'KBLI 2020 category letter A..U, or unknown';
COMMENT ON COLUMN progress_by_sector.umkm_onboarded IS 'UMKM onboarded in [2020-05-14, as_of_date] in this KBLI category';

CREATE TABLE ekatalog_progress (
    as_of_date DATE NOT NULL, umkm_vendors BIGINT NOT NULL, products BIGINT NOT NULL, vendors_also_online BIGINT NOT NULL
);
COMMENT ON TABLE ekatalog_progress IS 'UMKM products in the LKPP government procurement e-catalogue, one row per loaded weekly export; a separate channel, not marketplace onboarding';
COMMENT ON COLUMN ekatalog_progress.as_of_date IS 'An export date on which an e-catalogue snapshot (lkpp-ekatalog) was loaded';
COMMENT ON COLUMN ekatalog_progress.umkm_vendors IS 'Vendors in that snapshot other than Non UMKM';
COMMENT ON COLUMN ekatalog_progress.products IS 'Their jumlah_produk, summed';
COMMENT ON COLUMN ekatalog_progress.vendors_also_online IS 'Those of them whose valid NIB is the NIB of a marketplace listing joined on or before that date';

CREATE TABLE partner_loads (
    partner VARCHAR NOT NULL, export_date DATE NOT NULL, status VARCHAR NOT NULL, rows_read BIGINT,
    rows_loaded BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL, warnings BIGINT NOT NULL,
    content_sha256 VARCHAR, loaded_at TIMESTAMP WITH TIME ZONE NOT NULL, detail VARCHAR
);
COMMENT ON TABLE partner_loads IS 'One row per delivered partner-day (with _SUCCESS), describing its current content; rows_read = rows_loaded + rows_quarantined when loaded';
COMMENT ON COLUMN partner_loads.partner IS 'Partner name as in partners.md';
COMMENT ON COLUMN partner_loads.export_date IS 'The export date of the delivery (its landing folder)';
COMMENT ON COLUMN partner_loads.status IS 'loaded or failed (a failed partner-day has rows_loaded = rows_quarantined = 0; rerunning the same content leaves it failed)';
COMMENT ON COLUMN partner_loads.rows_read IS 'Records read (NULL when the delivery could not be read at all)';
COMMENT ON COLUMN partner_loads.rows_loaded IS 'Valid records, superseded ones included (a deleted event counts as loaded)';
COMMENT ON COLUMN partner_loads.rows_quarantined IS 'Records kept aside with a reason, never counted';
COMMENT ON COLUMN partner_loads.warnings IS 'Records with at least one warning (an attribute blanked)';
COMMENT ON COLUMN partner_loads.content_sha256 IS 'Hash of the delivered data files'' contents (names excluded)';
COMMENT ON COLUMN partner_loads.loaded_at IS 'When this row was last written (the partner-day loaded or refused); a rerun that finds the content unchanged leaves it as it is';
COMMENT ON COLUMN partner_loads.detail IS 'Why it failed, and delivery-level warnings, in words';

CREATE TABLE partner_freshness (
    partner VARCHAR NOT NULL, latest_export_date DATE, expected_export_date DATE NOT NULL,
    days_behind BIGINT, missing_days BIGINT NOT NULL
);
COMMENT ON TABLE partner_freshness IS 'Per partner, against the reference day (the latest loaded export date of any partner)';
COMMENT ON COLUMN partner_freshness.partner IS 'Partner name as in partners.md';
COMMENT ON COLUMN partner_freshness.latest_export_date IS 'Its latest loaded partner-day (NULL when none has loaded)';
COMMENT ON COLUMN partner_freshness.expected_export_date IS 'Its latest scheduled delivery on or before the reference day';
COMMENT ON COLUMN partner_freshness.days_behind IS 'expected_export_date - latest_export_date in days, at least 0 (NULL when none has loaded)';
COMMENT ON COLUMN partner_freshness.missing_days IS 'Scheduled deliveries from its first delivered partner-day to expected_export_date with no _SUCCESS folder';

CREATE TABLE publications (
    publication_id BIGINT NOT NULL, published_at TIMESTAMP WITH TIME ZONE NOT NULL,
    latest_export_date DATE, partner_days_changed BIGINT NOT NULL, umkm_onboarded BIGINT,
    pipeline_version VARCHAR NOT NULL, contracts_sha256 VARCHAR NOT NULL
);
COMMENT ON TABLE publications IS 'One row per publication (a run''s swap of a new published file; a run that changes no value publishes nothing). Every earlier row is kept. Depends on when runs happened, unlike the tables above.';
COMMENT ON COLUMN publications.publication_id IS '1 for the first publication, then +1';
COMMENT ON COLUMN publications.published_at IS 'When the publication was recorded, just before its file was swapped in';
COMMENT ON COLUMN publications.latest_export_date IS 'The latest export date of any loaded partner-day in this publication (NULL when none was loaded)';
COMMENT ON COLUMN publications.partner_days_changed IS 'Partner-days whose partner_loads row was inserted or changed since the previous publication';
COMMENT ON COLUMN publications.umkm_onboarded IS 'national_progress.umkm_onboarded on latest_export_date in this publication (the headline figure as first published)';
COMMENT ON COLUMN publications.pipeline_version IS 'The pipeline release that built it';
COMMENT ON COLUMN publications.contracts_sha256 IS 'SHA-256 over the partner contracts in force: each partner with the SHA-256 of its whole contract (every version), by partner';

CREATE TABLE national_progress_revisions (
    publication_id BIGINT NOT NULL, as_of_date DATE NOT NULL, umkm_onboarded BIGINT NOT NULL,
    umkm_online_total BIGINT NOT NULL, listings BIGINT NOT NULL, previous_umkm_onboarded BIGINT
);
COMMENT ON TABLE national_progress_revisions IS 'For each publication, one row per as_of_date whose umkm_onboarded, umkm_online_total or listings differs from the previous publication, or that the previous publication did not have (every day for the first). As first published: the smallest publication_id for a day; as published by P: the largest publication_id <= P.';
COMMENT ON COLUMN national_progress_revisions.publication_id IS 'The publication (publications.publication_id) that published these values';
COMMENT ON COLUMN national_progress_revisions.as_of_date IS 'The day the figures describe';
COMMENT ON COLUMN national_progress_revisions.umkm_onboarded IS 'national_progress.umkm_onboarded on that day, as this publication published it';
COMMENT ON COLUMN national_progress_revisions.umkm_online_total IS 'national_progress.umkm_online_total on that day, as this publication published it';
COMMENT ON COLUMN national_progress_revisions.listings IS 'national_progress.listings on that day, as this publication published it';
COMMENT ON COLUMN national_progress_revisions.previous_umkm_onboarded IS 'That day''s umkm_onboarded in the previous publication; NULL when it had no such day';
