-- The run registry, SQLite flavour. migrations/postgres/0001_runs.sql holds the same tables
-- and columns; only the types differ where the two databases spell them differently.

CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial TEXT NOT NULL,
    region TEXT NOT NULL,
    description TEXT,
    -- YYYY-MM-DD, so that text order is date order.
    evaluation_date TEXT NOT NULL,
    -- RFC 3339, UTC.
    recorded_at TEXT NOT NULL,
    trial_file TEXT NOT NULL,
    trial_sha256 TEXT NOT NULL,
    records_source TEXT NOT NULL,
    -- The export's content hash (a file's SHA-256, a directory's tree hash); NULL when it
    -- could not be read at registration.
    records_sha256 TEXT,
    -- Where the trial wrote report.html, summary.json and the results.
    report_dir TEXT NOT NULL,
    shards TEXT,
    livelab_version TEXT NOT NULL,
    records_read BIGINT NOT NULL,
    records_evaluated BIGINT NOT NULL,
    record_errors BIGINT NOT NULL,
    -- The whole summary.json, so that a run reads back exactly as it was recorded.
    summary TEXT NOT NULL
);
CREATE INDEX runs_region_date ON runs (region, evaluation_date);

CREATE TABLE run_plugins (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    -- trusted | unsigned | untrusted-key | invalid
    signature TEXT NOT NULL,
    signer TEXT,
    pinned BOOLEAN NOT NULL,
    evaluations BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    cards_info BIGINT NOT NULL,
    cards_warning BIGINT NOT NULL,
    cards_critical BIGINT NOT NULL,
    patients_with_cards BIGINT NOT NULL,
    latency_p50_ns BIGINT,
    latency_p99_ns BIGINT,
    fuel_p50 BIGINT,
    peak_memory_max_bytes BIGINT,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX run_plugins_plugin ON run_plugins (plugin, version);

-- Evaluation errors by cause (record errors are runs.record_errors).
CREATE TABLE run_errors (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    cause TEXT NOT NULL,
    count BIGINT NOT NULL,
    example TEXT NOT NULL,
    PRIMARY KEY (run_id, position, cause)
);

-- Per plugin and topic: the 2x2 table against the labels. Intervals are derived from the
-- counts (Wilson), exactly as the report derives them.
CREATE TABLE run_effectiveness (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    topic TEXT NOT NULL,
    alert_from TEXT NOT NULL,
    tp BIGINT NOT NULL,
    fp BIGINT NOT NULL,
    fn_ BIGINT NOT NULL,
    tn BIGINT NOT NULL,
    errors_label_positive BIGINT NOT NULL,
    errors_label_negative BIGINT NOT NULL,
    unlabelled BIGINT NOT NULL,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX run_effectiveness_series ON run_effectiveness (plugin, topic, sha256);

-- The same table per subgroup (`age=40-64`, `sex=female`, `coding=dutch`).
CREATE TABLE run_subgroups (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    subgroup TEXT NOT NULL,
    tp BIGINT NOT NULL,
    fp BIGINT NOT NULL,
    fn_ BIGINT NOT NULL,
    tn BIGINT NOT NULL,
    PRIMARY KEY (run_id, position, subgroup)
);

-- Paired comparisons: the discordant counts among label-positive and label-negative patients.
CREATE TABLE run_comparisons (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    baseline TEXT NOT NULL,
    candidate TEXT NOT NULL,
    topic TEXT NOT NULL,
    patients BIGINT NOT NULL,
    excluded BIGINT NOT NULL,
    positive_both BIGINT NOT NULL,
    positive_only_baseline BIGINT NOT NULL,
    positive_only_candidate BIGINT NOT NULL,
    positive_neither BIGINT NOT NULL,
    negative_both BIGINT NOT NULL,
    negative_only_baseline BIGINT NOT NULL,
    negative_only_candidate BIGINT NOT NULL,
    negative_neither BIGINT NOT NULL,
    PRIMARY KEY (run_id, position)
);

-- The records read, by subgroup: the export's case mix.
CREATE TABLE run_case_mix (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    subgroup TEXT NOT NULL,
    records BIGINT NOT NULL,
    PRIMARY KEY (run_id, subgroup)
);
