//! The two backends' connection set-up and SQL dialect differences: everything else is shared.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use crate::{Result, StoreError};

/// The embedded default: one SQLite file in WAL mode.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
}

impl SqliteStore {
    /// Write transactions take the write lock up front: a deferred transaction that reads and
    /// then writes fails at once with `SQLITE_BUSY` when another connection writes meanwhile,
    /// whereas an immediate one waits its turn (busy timeout).
    pub(super) const BEGIN: &'static str = "BEGIN IMMEDIATE";
    /// SQLite plans by index availability; `optimize` only refreshes what it judges stale.
    pub(super) const ANALYZE: &'static str = "PRAGMA optimize";

    /// `(values of the JSON array in parameter n)`: one bound parameter for a whole key list,
    /// where an `IN ($2, $3, ...)` list costs a bind and a parse per key.
    pub(super) fn in_json_list(n: u8) -> String {
        format!("(SELECT value FROM json_each(${n}))")
    }

    /// Rows from a JSON array of arrays in parameter n: bulk writes bind one text value per
    /// statement instead of one parameter per cell.
    pub(super) fn json_rows(n: u8) -> String {
        format!("json_each(${n}) AS j")
    }

    /// Cell i of the current JSON row (text, integer or null as stored).
    pub(super) fn jcol(i: u8) -> String {
        format!("j.value ->> {i}")
    }

    pub(super) fn jint(i: u8) -> String {
        Self::jcol(i)
    }

    /// Opens (creating if needed) `rampart.db` under `dir`.
    pub async fn open_dir(dir: &Path) -> Result<Self> {
        let io = |e: std::io::Error| StoreError::Corrupt(format!("{}: {e}", dir.display()));
        if !dir.is_dir() {
            // The data directory holds token hashes today and key material later: owner only.
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(io)?;
        }
        let file = dir.join("rampart.db");
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            // Created owner-only before SQLite opens it: SQLite gives the WAL and shared-memory
            // files the database file's mode.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&file)
                .map_err(io)?;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        Self::connect_with(SqliteConnectOptions::new().filename(&file)).await
    }

    /// Opens a `sqlite:` URL.
    pub async fn connect_url(url: &str) -> Result<Self> {
        Self::connect_with(SqliteConnectOptions::from_str(url)?).await
    }

    async fn connect_with(options: SqliteConnectOptions) -> Result<Self> {
        // WAL + synchronous=NORMAL: a committed transaction survives a crash of the process
        // (kill -9); only a power loss can lose the last commits.
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-32768")
            .pragma("temp_store", "memory")
            // Checkpoint every 64 MiB of WAL instead of 4 MiB: a checkpoint costs several
            // fsyncs, and bulk writes otherwise pay them every few transactions.
            .pragma("wal_autocheckpoint", "16384");
        let pool = SqlitePoolOptions::new()
            // Each connection has its own page cache (`cache_size`); a few connections keep
            // readers concurrent (WAL) while memory stays bounded and caches stay warm.
            .max_connections(4)
            .min_connections(1)
            .connect_with(options)
            .await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        Ok(Self { pool })
    }
}

/// Shared state on a PostgreSQL server.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(super) pool: PgPool,
}

impl PostgresStore {
    pub(super) const BEGIN: &'static str = "BEGIN";
    pub(super) const ANALYZE: &'static str = "ANALYZE devices, device_labels, device_ips, sims";

    pub(super) fn in_json_list(n: u8) -> String {
        format!("(SELECT jsonb_array_elements_text(${n}::jsonb))")
    }

    pub(super) fn json_rows(n: u8) -> String {
        format!("jsonb_array_elements(${n}::jsonb) AS j(value)")
    }

    pub(super) fn jcol(i: u8) -> String {
        format!("j.value ->> {i}")
    }

    pub(super) fn jint(i: u8) -> String {
        format!("(j.value ->> {i})::bigint")
    }

    /// Connects to `url` and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(PgConnectOptions::from_str(url)?).await
    }

    /// Connects with explicit options (tests use a private schema through `search_path`).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        Ok(Self { pool })
    }
}
