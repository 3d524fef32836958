//! Configuration: which feeds to load and how often to look for changes.
//!
//! ```toml
//! poll_interval_secs = 30
//!
//! [[feeds]]
//! name = "maltrail"
//! path = "/var/lib/rampart/intel/maltrail"   # a directory: every *.txt in it
//! format = "maltrail"
//!
//! [[feeds]]
//! name = "local-blocklist"
//! path = "/etc/rampart/blocklist.txt"
//! family = "operator"
//! ```

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Deserialize;

use crate::parse::Format;

/// Default seconds between checks of the feed files' modification times.
pub const DEFAULT_POLL_INTERVAL_SECS: u64 = 30;

/// Default largest feed file read (64 MiB; Maltrail's largest trail file is about 1.4 MB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;

/// The threat-intelligence section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelConfig {
    /// Feeds in priority order: when two list the same indicator, the earlier one is
    /// reported.
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
    /// Seconds between checks of the files' modification times and sizes.
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// Larger files are refused (the feed keeps its previous content).
    #[serde(default = "default_max_file")]
    pub max_file_bytes: u64,
}

impl Default for IntelConfig {
    fn default() -> Self {
        Self {
            feeds: Vec::new(),
            poll_interval_secs: DEFAULT_POLL_INTERVAL_SECS,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// One feed: a file, or a directory of files of one format.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Name reported with every hit and used as a metric label.
    pub name: String,
    /// A file, or a directory whose files with one of `extensions` are all loaded.
    pub path: PathBuf,
    /// File format (default `plain`).
    #[serde(default)]
    pub format: Format,
    /// Family for plain lists (default: the feed name); for Maltrail it replaces the name
    /// taken from each file.
    pub family: Option<String>,
    /// File name extensions loaded from a directory (default `["txt"]`), without dots,
    /// compared case-insensitively.
    #[serde(default = "default_extensions")]
    pub extensions: Vec<String>,
}

impl FeedConfig {
    /// A feed with default format options.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>, format: Format) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            format,
            family: None,
            extensions: default_extensions(),
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A feed without a name.
    #[error("feed {0} has an empty name")]
    EmptyName(usize),
    /// Two feeds with one name would be indistinguishable in hits and metrics.
    #[error("feed name {0:?} is used twice")]
    DuplicateName(String),
    /// A zero poll interval would spin.
    #[error("poll_interval_secs must be at least 1")]
    ZeroPollInterval,
}

impl IntelConfig {
    /// Checks what serde cannot: unique non-empty names and a usable interval.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.poll_interval_secs == 0 {
            return Err(ConfigError::ZeroPollInterval);
        }
        let mut seen = HashSet::new();
        for (i, feed) in self.feeds.iter().enumerate() {
            if feed.name.trim().is_empty() {
                return Err(ConfigError::EmptyName(i));
            }
            if !seen.insert(feed.name.as_str()) {
                return Err(ConfigError::DuplicateName(feed.name.clone()));
            }
        }
        Ok(())
    }
}

fn default_poll() -> u64 {
    DEFAULT_POLL_INTERVAL_SECS
}

fn default_max_file() -> u64 {
    DEFAULT_MAX_FILE_BYTES
}

fn default_extensions() -> Vec<String> {
    vec!["txt".to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let c: IntelConfig = toml::from_str(
            "poll_interval_secs = 5\n[[feeds]]\nname = \"m\"\npath = \"/x\"\nformat = \"maltrail\"\n\
             [[feeds]]\nname = \"l\"\npath = \"/y.txt\"\nfamily = \"ops\"\n",
        )
        .unwrap();
        assert_eq!(c.poll_interval_secs, 5);
        assert_eq!(c.feeds[0].format, Format::Maltrail);
        assert_eq!(c.feeds[1].format, Format::Plain);
        assert_eq!(c.feeds[1].extensions, ["txt"]);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn rejects_unknown_fields_and_bad_values() {
        assert!(toml::from_str::<IntelConfig>("pol_interval = 5").is_err());
        assert!(
            toml::from_str::<IntelConfig>("[[feeds]]\nname=\"a\"\npath=\"/\"\nurl=\"x\"").is_err()
        );
        assert!(
            toml::from_str::<IntelConfig>("[[feeds]]\nname=\"a\"\npath=\"/\"\nformat=\"csv\"")
                .is_err()
        );
        let dup: IntelConfig =
            toml::from_str("[[feeds]]\nname=\"a\"\npath=\"/\"\n[[feeds]]\nname=\"a\"\npath=\"/b\"")
                .unwrap();
        assert_eq!(dup.validate(), Err(ConfigError::DuplicateName("a".into())));
        let zero = IntelConfig {
            poll_interval_secs: 0,
            ..IntelConfig::default()
        };
        assert_eq!(zero.validate(), Err(ConfigError::ZeroPollInterval));
    }
}
