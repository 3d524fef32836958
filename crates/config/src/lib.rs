//! `rampart.toml`: what a deployment *is* (listeners, store, sources). How one process runs
//! (which config file, log level) is given by flags and `RAMPART_*` environment variables, which
//! also override the file's values.
//!
//! The file is versioned (`version = 1`) so that a later format can be told apart and migrated,
//! and unknown keys are refused by name: a typo must not silently fall back to a default.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The only configuration format version this build reads.
pub const CURRENT_VERSION: u32 = 1;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong and where (line and column, key name).
        message: String,
    },
    /// The file's `version` is missing or not one this build reads.
    #[error("{path}: {message}")]
    Version {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version; must be 1.
    pub version: Option<u32>,
    /// The HTTP API and dashboard.
    #[serde(default)]
    pub http: HttpConfig,
    /// Where state lives.
    #[serde(default)]
    pub store: StoreConfig,
}

/// `[http]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address of the API (default 127.0.0.1:8080).
    pub listen: Option<SocketAddr>,
}

/// `[store]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory for the embedded SQLite database and other local state (default
    /// `./rampart-data`).
    pub data_dir: Option<PathBuf>,
    /// `postgres://...` to keep shared state on PostgreSQL instead of the embedded SQLite.
    pub database_url: Option<String>,
}

impl Config {
    /// Parses configuration text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        match config.version {
            Some(CURRENT_VERSION) => Ok(config),
            Some(v) => Err(ConfigError::Version {
                path: path.to_owned(),
                message: format!(
                    "version {v} is not supported by this build (it reads version {CURRENT_VERSION})"
                ),
            }),
            None => Err(ConfigError::Version {
                path: path.to_owned(),
                message: format!("`version = {CURRENT_VERSION}` is required at the top"),
            }),
        }
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("rampart.toml"))
    }

    #[test]
    fn minimal_and_full() {
        let c = parse("version = 1").expect("minimal");
        assert!(c.http.listen.is_none());
        let c = parse(
            "version = 1\n[http]\nlisten = \"0.0.0.0:9000\"\n[store]\ndata_dir = \"/var/lib/rampart\"\n",
        )
        .expect("full");
        assert_eq!(c.http.listen, Some("0.0.0.0:9000".parse().expect("addr")));
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse("version = 1\n[http]\nlistne = \"0.0.0.0:1\"\n")
            .expect_err("typo must fail")
            .to_string();
        assert!(e.contains("listne"), "{e}");
        let e = parse("version = 1\n[htp]\n")
            .expect_err("typo must fail")
            .to_string();
        assert!(e.contains("htp"), "{e}");
    }

    #[test]
    fn version_is_checked() {
        assert!(
            parse("[http]\n")
                .expect_err("missing")
                .to_string()
                .contains("version")
        );
        assert!(
            parse("version = 2")
                .expect_err("future")
                .to_string()
                .contains("version 2")
        );
    }
}
