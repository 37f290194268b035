//! The registry itself: one data-access layer over SQLite and PostgreSQL (sqlx), with one
//! schema kept in per-backend migration folders of the same tables.
//!
//! Every query is written once. [`on_pool!`] expands a query's code for each backend (sqlx's
//! pools are typed per database), so no SQL is spelled twice; values are always bound
//! (`$1` in text both databases accept, `push_bind` in [`QueryBuilder`]s), never formatted
//! into the SQL.

use std::collections::BTreeMap;
use std::str::FromStr as _;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use livelab_host::run::outcome::Subgroup;
use livelab_host::trial::TrialSummary;
use livelab_host::trial::stats::Confusion;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::error::RegistryError;
use crate::location::RegistryUrl;
use crate::model::{
    NewRun, RunFilter, RunId, RunPlugin, RunRow, Series, SeriesFilter, SeriesKey, SeriesPoint,
    SignatureKind, StoredRun,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a connection may take (a PostgreSQL host that drops packets).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a SQLite writer waits for another process's write to finish.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Enough for a command or a dashboard on one machine.
const MAX_CONNECTIONS: u32 = 4;

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A run registry, open. Cheap to share behind an `Arc`; every method is a short
/// transaction or a read.
pub struct Registry {
    pool: Pool,
    url: RegistryUrl,
}

/// Runs `$body` with `$pool` bound to the backend's pool and `$db` naming its database type.
macro_rules! on_pool {
    ($registry:expr, $pool:ident, $db:ident => $body:expr) => {
        match &$registry.pool {
            Pool::Sqlite($pool) => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                $body
            }
            Pool::Postgres($pool) => {
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                $body
            }
        }
    };
}

/// Runs a step of opening a SQLite registry, trying again a few times with growing pauses.
/// A process that opens a file while another is setting it up (switching it to WAL, running
/// the first migration) can get `SQLITE_BUSY` at once: SQLite does not call the busy
/// handler where waiting could deadlock. The other's setup is over in milliseconds.
async fn sqlite_setup<T, E, Step>(mut step: impl FnMut() -> Step) -> Result<T, E>
where
    Step: Future<Output = Result<T, E>>,
{
    const TRIES: u64 = 5;
    let mut tries = 0;
    loop {
        match step().await {
            Err(_) if tries < TRIES => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100 * tries)).await;
            }
            done => return done,
        }
    }
}

impl Registry {
    /// Opens (and for SQLite creates) the registry at `url` and brings its schema up to date.
    pub async fn open(url: &RegistryUrl) -> Result<Registry, RegistryError> {
        let connect = |source| RegistryError::Connect {
            url: url.to_string(),
            source,
        };
        let pool = match url {
            RegistryUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| RegistryError::CreateDir {
                        path: dir.to_owned(),
                        source,
                    })?;
                }
                // WAL: readers never block the writer, and writers of other processes wait
                // for each other (busy timeout) instead of failing.
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true);
                Pool::Sqlite(
                    sqlite_setup(|| {
                        SqlitePoolOptions::new()
                            .max_connections(MAX_CONNECTIONS)
                            .acquire_timeout(SQLITE_BUSY_TIMEOUT)
                            .connect_with(options.clone())
                    })
                    .await
                    .map_err(connect)?,
                )
            }
            RegistryUrl::Postgres(text) => {
                let options = PgConnectOptions::from_str(text).map_err(|e| RegistryError::Url {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
                Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(MAX_CONNECTIONS)
                        .acquire_timeout(CONNECT_TIMEOUT)
                        .connect_with(options)
                        .await
                        .map_err(connect)?,
                )
            }
        };
        let registry = Registry {
            pool,
            url: url.clone(),
        };
        registry.migrate().await?;
        Ok(registry)
    }

    /// Where this registry is.
    pub fn url(&self) -> &RegistryUrl {
        &self.url
    }

    async fn migrate(&self) -> Result<(), RegistryError> {
        let result = match &self.pool {
            // sqlx holds PostgreSQL's advisory lock while it migrates.
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
            // On SQLite sqlx takes no lock: two processes opening a new file at once can both
            // start the first migration, and the second then fails on what the first
            // created. Trying again finds it applied (and checks its checksum).
            Pool::Sqlite(pool) => sqlite_setup(|| SQLITE_MIGRATIONS.run(pool)).await,
        };
        result.map_err(|source| RegistryError::Migrate {
            url: self.url.to_string(),
            source,
        })
    }

    fn query_error(&self, source: sqlx::Error) -> RegistryError {
        RegistryError::Query {
            url: self.url.to_string(),
            source,
        }
    }

    fn corrupt(&self, run: i64, message: impl Into<String>) -> RegistryError {
        RegistryError::Corrupt {
            url: self.url.to_string(),
            run: RunId(run),
            message: message.into(),
        }
    }

    /// Records a finished trial in one transaction: a run is stored whole or not at all.
    pub async fn record(&self, run: &NewRun<'_>) -> Result<RunId, RegistryError> {
        let rows = Rows::of(run).map_err(|e| RegistryError::Corrupt {
            url: self.url.to_string(),
            run: RunId(0),
            message: format!("the summary does not serialise: {e}"),
        })?;
        let id = on_pool!(self, pool, Db => async {
            let mut tx = pool.begin().await?;
            let r = &rows.run;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO runs (trial, region, description, evaluation_date, recorded_at, \
                 trial_file, trial_sha256, records_source, records_sha256, report_dir, shards, \
                 livelab_version, records_read, records_evaluated, record_errors, summary) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
                 RETURNING id",
            )
            .bind(&r.trial)
            .bind(&r.region)
            .bind(&r.description)
            .bind(&r.evaluation_date)
            .bind(&r.recorded_at)
            .bind(&r.trial_file)
            .bind(&r.trial_sha256)
            .bind(&r.records_source)
            .bind(&r.records_sha256)
            .bind(&r.report_dir)
            .bind(&r.shards)
            .bind(&r.livelab_version)
            .bind(r.records_read)
            .bind(r.records_evaluated)
            .bind(r.record_errors)
            .bind(&r.summary)
            .fetch_one(&mut *tx)
            .await?;
            if !rows.plugins.is_empty() {
                let mut q = QueryBuilder::<Db>::new(
                    "INSERT INTO run_plugins (run_id, position, plugin, name, version, sha256, \
                     signature, signer, pinned, evaluations, ok, errors, cards_info, \
                     cards_warning, cards_critical, patients_with_cards, latency_p50_ns, \
                     latency_p99_ns, fuel_p50, peak_memory_max_bytes) ",
                );
                q.push_values(&rows.plugins, |mut b, p| {
                    b.push_bind(id)
                        .push_bind(p.position)
                        .push_bind(p.plugin.as_str())
                        .push_bind(p.name.as_str())
                        .push_bind(p.version.as_str())
                        .push_bind(p.sha256.as_str())
                        .push_bind(p.signature)
                        .push_bind(p.signer.as_deref())
                        .push_bind(p.pinned)
                        .push_bind(p.evaluations)
                        .push_bind(p.ok)
                        .push_bind(p.errors)
                        .push_bind(p.cards[0])
                        .push_bind(p.cards[1])
                        .push_bind(p.cards[2])
                        .push_bind(p.patients_with_cards)
                        .push_bind(p.latency_p50_ns)
                        .push_bind(p.latency_p99_ns)
                        .push_bind(p.fuel_p50)
                        .push_bind(p.peak_memory_max_bytes);
                });
                q.build().execute(&mut *tx).await?;
            }
            if !rows.errors.is_empty() {
                let mut q = QueryBuilder::<Db>::new(
                    "INSERT INTO run_errors (run_id, position, cause, count, example) ",
                );
                q.push_values(&rows.errors, |mut b, e| {
                    b.push_bind(id)
                        .push_bind(e.position)
                        .push_bind(e.cause)
                        .push_bind(e.count)
                        .push_bind(e.example.as_str());
                });
                q.build().execute(&mut *tx).await?;
            }
            if !rows.effectiveness.is_empty() {
                let mut q = QueryBuilder::<Db>::new(
                    "INSERT INTO run_effectiveness (run_id, position, plugin, version, sha256, \
                     topic, alert_from, tp, fp, fn_, tn, errors_label_positive, \
                     errors_label_negative, unlabelled) ",
                );
                q.push_values(&rows.effectiveness, |mut b, e| {
                    b.push_bind(id)
                        .push_bind(e.position)
                        .push_bind(e.plugin.as_str())
                        .push_bind(e.version.as_str())
                        .push_bind(e.sha256.as_str())
                        .push_bind(e.topic.as_str())
                        .push_bind(e.alert_from)
                        .push_bind(e.table[0])
                        .push_bind(e.table[1])
                        .push_bind(e.table[2])
                        .push_bind(e.table[3])
                        .push_bind(e.errors_label_positive)
                        .push_bind(e.errors_label_negative)
                        .push_bind(e.unlabelled);
                });
                q.build().execute(&mut *tx).await?;
            }
            if !rows.subgroups.is_empty() {
                let mut q = QueryBuilder::<Db>::new(
                    "INSERT INTO run_subgroups (run_id, position, subgroup, tp, fp, fn_, tn) ",
                );
                q.push_values(&rows.subgroups, |mut b, s| {
                    b.push_bind(id)
                        .push_bind(s.position)
                        .push_bind(s.subgroup.as_str())
                        .push_bind(s.table[0])
                        .push_bind(s.table[1])
                        .push_bind(s.table[2])
                        .push_bind(s.table[3]);
                });
                q.build().execute(&mut *tx).await?;
            }
            if !rows.comparisons.is_empty() {
                let mut q = QueryBuilder::<Db>::new(
                    "INSERT INTO run_comparisons (run_id, position, baseline, candidate, topic, \
                     patients, excluded, positive_both, positive_only_baseline, \
                     positive_only_candidate, positive_neither, negative_both, \
                     negative_only_baseline, negative_only_candidate, negative_neither) ",
                );
                q.push_values(&rows.comparisons, |mut b, c| {
                    b.push_bind(id)
                        .push_bind(c.position)
                        .push_bind(c.baseline.as_str())
                        .push_bind(c.candidate.as_str())
                        .push_bind(c.topic.as_str())
                        .push_bind(c.patients)
                        .push_bind(c.excluded);
                    for n in c.cells {
                        b.push_bind(n);
                    }
                });
                q.build().execute(&mut *tx).await?;
            }
            if !rows.case_mix.is_empty() {
                let mut q =
                    QueryBuilder::<Db>::new("INSERT INTO run_case_mix (run_id, subgroup, records) ");
                q.push_values(&rows.case_mix, |mut b, (subgroup, n)| {
                    b.push_bind(id).push_bind(subgroup.as_str()).push_bind(*n);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<i64, sqlx::Error>(id)
        }
        .await)
        .map_err(|e| self.query_error(e))?;
        Ok(RunId(id))
    }

    /// The runs `filter` lets through, oldest evaluation date first (then by id).
    pub async fn list(&self, filter: &RunFilter) -> Result<Vec<RunRow>, RegistryError> {
        self.rows(filter, None).await
    }

    /// One run: its row and its summary exactly as recorded.
    pub async fn run(&self, id: RunId) -> Result<StoredRun, RegistryError> {
        let row = self
            .rows(&RunFilter::default(), Some(id))
            .await?
            .pop()
            .ok_or_else(|| RegistryError::NoRun {
                url: self.url.to_string(),
                run: id,
            })?;
        let text: String = on_pool!(self, pool, Db => {
            sqlx::query_scalar("SELECT summary FROM runs WHERE id = $1")
                .bind(id.0)
                .fetch_one(pool)
                .await
        })
        .map_err(|e| self.query_error(e))?;
        let summary: TrialSummary = serde_json::from_str(&text)
            .map_err(|e| self.corrupt(id.0, format!("its summary is not a trial summary: {e}")))?;
        Ok(StoredRun { row, summary })
    }

    async fn rows(
        &self,
        filter: &RunFilter,
        only: Option<RunId>,
    ) -> Result<Vec<RunRow>, RegistryError> {
        let (runs, plugins) = on_pool!(self, pool, Db => async {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT id, trial, region, evaluation_date, recorded_at, records_source, \
                 records_sha256, report_dir, shards, records_read, records_evaluated, \
                 record_errors FROM runs WHERE 1 = 1",
            );
            push_run_filter(&mut q, filter, only);
            q.push(" ORDER BY evaluation_date, id");
            let runs: Vec<RunColumns> = q.build_query_as().fetch_all(pool).await?;
            let mut q = QueryBuilder::<Db>::new(
                "SELECT p.run_id, p.plugin, p.name, p.version, p.sha256, p.signature, p.signer, \
                 p.pinned FROM run_plugins p JOIN runs ON runs.id = p.run_id WHERE 1 = 1",
            );
            push_run_filter(&mut q, filter, only);
            q.push(" ORDER BY p.run_id, p.position");
            let plugins: Vec<PluginColumns> = q.build_query_as().fetch_all(pool).await?;
            Ok::<_, sqlx::Error>((runs, plugins))
        }
        .await)
        .map_err(|e| self.query_error(e))?;
        let mut by_run: BTreeMap<i64, Vec<RunPlugin>> = BTreeMap::new();
        for p in plugins {
            let signature = SignatureKind::parse(&p.signature).ok_or_else(|| {
                self.corrupt(
                    p.run_id,
                    format!("unknown signature kind {:?}", p.signature),
                )
            })?;
            by_run.entry(p.run_id).or_default().push(RunPlugin {
                plugin: p.plugin,
                name: p.name,
                version: p.version,
                sha256: p.sha256,
                signature,
                signer: p.signer,
                pinned: p.pinned,
            });
        }
        runs.into_iter()
            .map(|r| {
                Ok(RunRow {
                    id: RunId(r.id),
                    evaluation_date: self.date(r.id, &r.evaluation_date)?,
                    recorded_at: r.recorded_at.parse::<Timestamp>().map_err(|e| {
                        self.corrupt(r.id, format!("recorded_at {:?}: {e}", r.recorded_at))
                    })?,
                    trial: r.trial,
                    region: r.region,
                    records_source: r.records_source,
                    records_sha256: r.records_sha256,
                    report_dir: r.report_dir,
                    shards: r.shards,
                    records_read: count_out(r.records_read),
                    records_evaluated: count_out(r.records_evaluated),
                    record_errors: count_out(r.record_errors),
                    plugins: by_run.remove(&r.id).unwrap_or_default(),
                })
            })
            .collect()
    }

    fn date(&self, run: i64, text: &str) -> Result<Date, RegistryError> {
        text.parse()
            .map_err(|e| self.corrupt(run, format!("evaluation_date {text:?}: {e}")))
    }

    /// Every plugin's measures over successive runs, one [`Series`] per region, plugin,
    /// topic and component hash, each ordered by evaluation date. Series come ordered by
    /// region, plugin, topic and their first date.
    pub async fn series(&self, filter: &SeriesFilter) -> Result<Vec<Series>, RegistryError> {
        let (points, mixes) = on_pool!(self, pool, Db => async {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT runs.id AS run_id, runs.trial, runs.region, runs.evaluation_date, \
                 e.plugin, e.version, e.sha256, e.topic, e.tp, e.fp, e.fn_, e.tn, \
                 e.errors_label_positive, e.errors_label_negative \
                 FROM run_effectiveness e JOIN runs ON runs.id = e.run_id WHERE 1 = 1",
            );
            push_series_filter(&mut q, filter, true);
            q.push(" ORDER BY runs.evaluation_date, runs.id, e.position");
            let points: Vec<PointColumns> = q.build_query_as().fetch_all(pool).await?;
            let mut q = QueryBuilder::<Db>::new(
                "SELECT m.run_id, m.subgroup, m.records FROM run_case_mix m \
                 JOIN runs ON runs.id = m.run_id WHERE 1 = 1",
            );
            push_series_filter(&mut q, filter, false);
            let mixes: Vec<MixColumns> = q.build_query_as().fetch_all(pool).await?;
            Ok::<_, sqlx::Error>((points, mixes))
        }
        .await)
        .map_err(|e| self.query_error(e))?;
        let mut case_mix: BTreeMap<i64, BTreeMap<Subgroup, u64>> = BTreeMap::new();
        for m in mixes {
            let subgroup: Subgroup = m
                .subgroup
                .parse()
                .map_err(|_| self.corrupt(m.run_id, format!("subgroup {:?}", m.subgroup)))?;
            case_mix
                .entry(m.run_id)
                .or_default()
                .insert(subgroup, count_out(m.records));
        }
        let mut series: BTreeMap<SeriesKey, Series> = BTreeMap::new();
        for p in points {
            let key = SeriesKey {
                region: p.region,
                plugin: p.plugin,
                topic: p.topic,
                sha256: p.sha256,
            };
            let point = SeriesPoint {
                run: RunId(p.run_id),
                trial: p.trial,
                evaluation_date: self.date(p.run_id, &p.evaluation_date)?,
                confusion: Confusion {
                    tp: count_out(p.tp),
                    fp: count_out(p.fp),
                    fn_: count_out(p.fn_),
                    tn: count_out(p.tn),
                },
                label_errors: count_out(p.errors_label_positive)
                    .saturating_add(count_out(p.errors_label_negative)),
                case_mix: case_mix.get(&p.run_id).cloned().unwrap_or_default(),
            };
            series
                .entry(key.clone())
                .or_insert_with(|| Series {
                    key,
                    version: p.version,
                    points: Vec::new(),
                })
                .points
                .push(point);
        }
        let mut series: Vec<Series> = series.into_values().collect();
        series.sort_by(|a, b| {
            let first = |s: &Series| s.points.first().map(|p| (p.evaluation_date, p.run));
            (&a.key.region, &a.key.plugin, &a.key.topic, first(a)).cmp(&(
                &b.key.region,
                &b.key.plugin,
                &b.key.topic,
                first(b),
            ))
        });
        Ok(series)
    }

    /// Closes the pool, waiting for connections to finish (SQLite checkpoints its WAL).
    pub async fn close(self) {
        match self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// `AND ...` for a [`RunFilter`] over a query that names the `runs` table.
fn push_run_filter<'a, DB: Database>(
    q: &mut QueryBuilder<'a, DB>,
    filter: &'a RunFilter,
    only: Option<RunId>,
) where
    &'a str: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    if let Some(id) = only {
        q.push(" AND runs.id = ").push_bind(id.0);
    }
    if let Some(region) = &filter.region {
        q.push(" AND runs.region = ").push_bind(region.as_str());
    }
    if let Some(from) = filter.from {
        q.push(" AND runs.evaluation_date >= ")
            .push_bind(from.to_string());
    }
    if let Some(to) = filter.to {
        q.push(" AND runs.evaluation_date <= ")
            .push_bind(to.to_string());
    }
    if filter.plugin.is_some() || filter.version.is_some() {
        q.push(" AND EXISTS (SELECT 1 FROM run_plugins f WHERE f.run_id = runs.id");
        if let Some(plugin) = &filter.plugin {
            q.push(" AND f.plugin = ").push_bind(plugin.as_str());
        }
        if let Some(version) = &filter.version {
            q.push(" AND f.version = ").push_bind(version.as_str());
        }
        q.push(")");
    }
}

/// `AND ...` for a [`SeriesFilter`]; `effectiveness` when the query names `e`.
fn push_series_filter<'a, DB: Database>(
    q: &mut QueryBuilder<'a, DB>,
    filter: &'a SeriesFilter,
    effectiveness: bool,
) where
    &'a str: Encode<'a, DB> + Type<DB>,
{
    if let Some(region) = &filter.region {
        q.push(" AND runs.region = ").push_bind(region.as_str());
    }
    if let Some(plugin) = &filter.plugin {
        if effectiveness {
            q.push(" AND e.plugin = ").push_bind(plugin.as_str());
        } else {
            q.push(
                " AND EXISTS (SELECT 1 FROM run_effectiveness f WHERE f.run_id = runs.id \
                 AND f.plugin = ",
            )
            .push_bind(plugin.as_str())
            .push(")");
        }
    }
}

/// Counts are `u64` in summaries and `BIGINT` in both databases.
fn count_in(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count_out(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[derive(sqlx::FromRow)]
struct RunColumns {
    id: i64,
    trial: String,
    region: String,
    evaluation_date: String,
    recorded_at: String,
    records_source: String,
    records_sha256: Option<String>,
    report_dir: String,
    shards: Option<String>,
    records_read: i64,
    records_evaluated: i64,
    record_errors: i64,
}

#[derive(sqlx::FromRow)]
struct PluginColumns {
    run_id: i64,
    plugin: String,
    name: String,
    version: String,
    sha256: String,
    signature: String,
    signer: Option<String>,
    pinned: bool,
}

#[derive(sqlx::FromRow)]
struct PointColumns {
    run_id: i64,
    trial: String,
    region: String,
    evaluation_date: String,
    plugin: String,
    version: String,
    sha256: String,
    topic: String,
    tp: i64,
    fp: i64,
    fn_: i64,
    tn: i64,
    errors_label_positive: i64,
    errors_label_negative: i64,
}

#[derive(sqlx::FromRow)]
struct MixColumns {
    run_id: i64,
    subgroup: String,
    records: i64,
}

/// A run flattened into the rows of each table, ready to bind.
struct Rows {
    run: RunValues,
    plugins: Vec<PluginValues>,
    errors: Vec<ErrorValues>,
    effectiveness: Vec<EffectivenessValues>,
    subgroups: Vec<SubgroupValues>,
    comparisons: Vec<ComparisonValues>,
    case_mix: Vec<(String, i64)>,
}

struct RunValues {
    trial: String,
    region: String,
    description: Option<String>,
    evaluation_date: String,
    recorded_at: String,
    trial_file: String,
    trial_sha256: String,
    records_source: String,
    records_sha256: Option<String>,
    report_dir: String,
    shards: Option<String>,
    livelab_version: String,
    records_read: i64,
    records_evaluated: i64,
    record_errors: i64,
    summary: String,
}

struct PluginValues {
    position: i64,
    plugin: String,
    name: String,
    version: String,
    sha256: String,
    signature: &'static str,
    signer: Option<String>,
    pinned: bool,
    evaluations: i64,
    ok: i64,
    errors: i64,
    /// info, warning, critical
    cards: [i64; 3],
    patients_with_cards: i64,
    latency_p50_ns: Option<i64>,
    latency_p99_ns: Option<i64>,
    fuel_p50: Option<i64>,
    peak_memory_max_bytes: Option<i64>,
}

struct ErrorValues {
    position: i64,
    cause: &'static str,
    count: i64,
    example: String,
}

struct EffectivenessValues {
    position: i64,
    plugin: String,
    version: String,
    sha256: String,
    topic: String,
    alert_from: &'static str,
    /// tp, fp, fn, tn
    table: [i64; 4],
    errors_label_positive: i64,
    errors_label_negative: i64,
    unlabelled: i64,
}

struct SubgroupValues {
    position: i64,
    subgroup: String,
    table: [i64; 4],
}

struct ComparisonValues {
    position: i64,
    baseline: String,
    candidate: String,
    topic: String,
    patients: i64,
    excluded: i64,
    /// positive both, only baseline, only candidate, neither; then the same for negative.
    cells: [i64; 8],
}

fn table(c: &Confusion) -> [i64; 4] {
    [c.tp, c.fp, c.fn_, c.tn].map(count_in)
}

fn position(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

impl Rows {
    fn of(new: &NewRun<'_>) -> Result<Rows, serde_json::Error> {
        let s = new.summary;
        let run = &s.run;
        let plugins = run
            .plugins
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (signature, signer) = SignatureKind::of(&p.plugin.signature);
                PluginValues {
                    position: position(i),
                    plugin: p.plugin.id.clone(),
                    name: p.plugin.name.clone(),
                    version: p.plugin.version.clone(),
                    sha256: p.plugin.sha256.clone(),
                    signature: signature.as_str(),
                    signer,
                    pinned: p.plugin.pinned,
                    evaluations: count_in(p.evaluations),
                    ok: count_in(p.ok),
                    errors: count_in(p.errors.values().map(|e| e.count).sum()),
                    cards: [p.cards.info, p.cards.warning, p.cards.critical].map(count_in),
                    patients_with_cards: count_in(p.patients_with_cards),
                    latency_p50_ns: p.latency_ns.as_ref().map(|d| count_in(d.p50)),
                    latency_p99_ns: p.latency_ns.as_ref().map(|d| count_in(d.p99)),
                    fuel_p50: p.fuel.as_ref().map(|d| count_in(d.p50)),
                    peak_memory_max_bytes: p.peak_memory_bytes.as_ref().map(|d| count_in(d.max)),
                }
            })
            .collect();
        let errors = run
            .plugins
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                p.errors.iter().map(move |(cause, seen)| ErrorValues {
                    position: position(i),
                    cause: cause.as_str(),
                    count: count_in(seen.count),
                    example: seen.example.clone(),
                })
            })
            .collect();
        let identity = |id: &str| run.plugins.iter().find(|p| p.plugin.id == id);
        let (mut effectiveness, mut subgroups, mut comparisons) =
            (Vec::new(), Vec::new(), Vec::new());
        if let Some(e) = &s.effectiveness {
            for (i, p) in e.plugins.iter().enumerate() {
                let plugin = identity(&p.plugin);
                effectiveness.push(EffectivenessValues {
                    position: position(i),
                    plugin: p.plugin.clone(),
                    version: plugin.map(|q| q.plugin.version.clone()).unwrap_or_default(),
                    sha256: plugin.map(|q| q.plugin.sha256.clone()).unwrap_or_default(),
                    topic: p.topic.clone(),
                    alert_from: p.alert_from.as_str(),
                    table: table(&p.confusion),
                    errors_label_positive: count_in(p.errors_label_positive),
                    errors_label_negative: count_in(p.errors_label_negative),
                    unlabelled: count_in(p.unlabelled),
                });
                subgroups.extend(p.subgroups.iter().map(|g| SubgroupValues {
                    position: position(i),
                    subgroup: g.subgroup.to_string(),
                    table: table(&g.confusion),
                }));
            }
            comparisons = e
                .comparisons
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let (pos, neg) = (&c.label_positive, &c.label_negative);
                    ComparisonValues {
                        position: position(i),
                        baseline: c.baseline.clone(),
                        candidate: c.candidate.clone(),
                        topic: c.topic.clone(),
                        patients: count_in(c.patients),
                        excluded: count_in(c.excluded),
                        cells: [
                            pos.both,
                            pos.only_a,
                            pos.only_b,
                            pos.neither,
                            neg.both,
                            neg.only_a,
                            neg.only_b,
                            neg.neither,
                        ]
                        .map(count_in),
                    }
                })
                .collect();
        }
        Ok(Rows {
            run: RunValues {
                trial: s.trial.name.clone(),
                region: s.trial.region.clone(),
                description: s.trial.description.clone(),
                evaluation_date: run.evaluation_date.to_string(),
                recorded_at: new.recorded_at.to_string(),
                trial_file: s.trial.file.clone(),
                trial_sha256: s.trial.sha256.clone(),
                records_source: run.records_source.clone(),
                records_sha256: new.records_sha256.clone(),
                report_dir: new.report_dir.clone(),
                shards: s.trial.shards.clone(),
                livelab_version: run.livelab_version.clone(),
                records_read: count_in(run.records.read),
                records_evaluated: count_in(run.records.evaluated),
                record_errors: count_in(run.records.errors),
                summary: serde_json::to_string(s)?,
            },
            plugins,
            errors,
            effectiveness,
            subgroups,
            comparisons,
            case_mix: run
                .case_mix
                .iter()
                .map(|(g, &n)| (g.to_string(), count_in(n)))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dashboard calls the registry from axum handlers, whose futures must be `Send`:
    /// this does not compile if one of the registry's futures is not.
    #[allow(dead_code)]
    fn futures_are_send(registry: &Registry, run: &NewRun<'_>) {
        fn send<T: Send>(_: T) {}
        send(registry.record(run));
        send(registry.list(&RunFilter::default()));
        send(registry.run(RunId(1)));
        send(registry.series(&SeriesFilter::default()));
    }
}
