//! Effective settings: defaults, then `rampart.toml`, then flags and `RAMPART_*` variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use rampart_config::Config;
use rampart_store::Store;

/// Where state lives; shared by `serve` and the admin commands.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// Configuration file (TOML, `version = 1`).
    #[arg(long, env = "RAMPART_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Data directory for the embedded SQLite store [default: ./rampart-data].
    #[arg(long, env = "RAMPART_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://...) to use instead of the embedded store.
    #[arg(long, env = "RAMPART_DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,
}

/// Settings after merging file, flags and environment.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) data_dir: PathBuf,
    pub(crate) database_url: Option<String>,
    pub(crate) config: Config,
}

impl StoreArgs {
    pub(crate) fn resolve(&self) -> anyhow::Result<Settings> {
        let config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let data_dir = self
            .data_dir
            .clone()
            .or_else(|| config.store.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("rampart-data"));
        let database_url = self
            .database_url
            .clone()
            .or_else(|| config.store.database_url.clone());
        Ok(Settings {
            data_dir,
            database_url,
            config,
        })
    }

    pub(crate) async fn open(&self) -> anyhow::Result<(Settings, Arc<dyn Store>)> {
        let settings = self.resolve()?;
        let store = settings.open().await?;
        Ok((settings, store))
    }
}

impl Settings {
    pub(crate) async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        rampart_store::open(self.database_url.as_deref(), &self.data_dir)
            .await
            .with_context(|| format!("opening the store ({})", self.store_description()))
    }

    /// Where the store is, without any password a URL may carry.
    pub(crate) fn store_description(&self) -> String {
        match &self.database_url {
            Some(url) => redact_url(url),
            None => format!("sqlite in {}", self.data_dir.join("rampart.db").display()),
        }
    }

    pub(crate) fn listen(&self, flag: Option<SocketAddr>) -> SocketAddr {
        flag.or(self.config.http.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }
}

/// `scheme://user:secret@host/db` → `scheme://user:***@host/db`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => format!("{scheme}://{rest}"),
    }
}

pub(crate) fn check(args: &StoreArgs) -> anyhow::Result<ExitCode> {
    let s = args.resolve()?;
    println!("configuration ok");
    println!("store: {}", s.store_description());
    println!("http listen: {}", s.listen(None));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://rampart:s3cret@db:5432/rampart"),
            "postgres://rampart:***@db:5432/rampart"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
    }
}
