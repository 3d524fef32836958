//! The live store: the current [`IntelSet`] behind an [`ArcSwap`], rebuilt off to the side on
//! reload.
//!
//! Readers call [`IntelStore::load`] (a wait-free `Arc` load) and query the snapshot; they
//! never see a half-built set and never wait for a reload. A reload reads every feed, keeps
//! the last good content of any feed that cannot be read (missing file, permission, over the
//! size limit, empty directory), builds a new set from the result, and swaps it in. When no
//! feed could be read at all nothing is swapped.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;

use crate::config::{FeedConfig, IntelConfig};
use crate::error::{BadLine, FeedError};
use crate::parse::{ParsedFile, parse};
use crate::set::{IntelSet, IntelSetBuilder};
use crate::telemetry;

/// The content of one feed as last read successfully.
#[derive(Debug)]
struct FeedData {
    files: Vec<ParsedFile>,
}

/// What happened to one feed during a reload.
#[derive(Debug)]
pub struct FeedReport {
    /// The feed's name.
    pub name: String,
    /// Files read (0 when the read failed).
    pub files: usize,
    /// Indicators parsed, duplicates included.
    pub entries: usize,
    /// Lines that were not indicators.
    pub bad_lines: usize,
    /// The first few bad lines, with their file names.
    pub bad_line_samples: Vec<(String, BadLine)>,
    /// Why the feed could not be read; its previous content (if any) was kept.
    pub error: Option<FeedError>,
    /// Whether the previous content is in use because of `error`.
    pub kept_previous: bool,
}

/// What a reload did.
#[derive(Debug)]
pub struct ReloadReport {
    /// One report per configured feed, in configuration order.
    pub feeds: Vec<FeedReport>,
    /// Whether a new set was swapped in.
    pub swapped: bool,
    /// Distinct indicators in the current set afterwards.
    pub entries: usize,
}

impl ReloadReport {
    /// Whether every feed was read.
    pub fn is_complete(&self) -> bool {
        self.feeds.iter().all(|f| f.error.is_none())
    }
}

/// A file's identity for change detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
}

/// Holds the current set and the last good content of every feed.
#[derive(Debug)]
pub struct IntelStore {
    config: IntelConfig,
    current: ArcSwap<IntelSet>,
    /// Last good content per feed, in configuration order; the lock also serializes reloads.
    feeds: Mutex<Vec<Option<Arc<FeedData>>>>,
}

impl IntelStore {
    /// A store with an empty set; call [`Self::reload`] to load the feeds.
    pub fn new(config: IntelConfig) -> Self {
        let n = config.feeds.len();
        Self {
            config,
            current: ArcSwap::from_pointee(IntelSet::default()),
            feeds: Mutex::new(vec![None; n]),
        }
    }

    /// A store loaded once; the report says which feeds failed.
    pub fn open(config: IntelConfig) -> (Self, ReloadReport) {
        let store = Self::new(config);
        let report = store.reload();
        (store, report)
    }

    /// The current set. Cheap; hold the `Arc` for a batch of lookups, not forever (a held
    /// snapshot keeps an old set alive after a reload).
    #[inline]
    pub fn load(&self) -> Arc<IntelSet> {
        self.current.load_full()
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &IntelConfig {
        &self.config
    }

    /// Reads every feed, builds a new set and swaps it in; see the module docs. Blocking
    /// (file I/O and hashing a few hundred thousand entries): call it from a blocking
    /// thread in async code.
    pub fn reload(&self) -> ReloadReport {
        let started = Instant::now();
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        let mut reports = Vec::with_capacity(self.config.feeds.len());
        let mut any_read = self.config.feeds.is_empty();
        for (cfg, slot) in self.config.feeds.iter().zip(feeds.iter_mut()) {
            let report = match load_feed(cfg, self.config.max_file_bytes) {
                Ok(data) => {
                    any_read = true;
                    let report = feed_report(cfg, &data);
                    telemetry::bad_lines(&cfg.name, report.bad_lines);
                    *slot = Some(Arc::new(data));
                    report
                }
                Err(error) => {
                    tracing::warn!(feed = %cfg.name, %error, "threat feed not reloaded");
                    telemetry::feed_error(&cfg.name);
                    FeedReport {
                        name: cfg.name.clone(),
                        files: 0,
                        entries: 0,
                        bad_lines: 0,
                        bad_line_samples: Vec::new(),
                        kept_previous: slot.is_some(),
                        error: Some(error),
                    }
                }
            };
            reports.push(report);
        }
        let swapped = any_read;
        if swapped {
            let mut builder = IntelSetBuilder::new();
            for data in feeds.iter().flatten() {
                for file in &data.files {
                    builder.add_parsed(file);
                }
            }
            let set = builder.build();
            telemetry::entries(&set);
            self.current.store(Arc::new(set));
        }
        drop(feeds);
        let report = ReloadReport {
            feeds: reports,
            swapped,
            entries: self.current.load().len(),
        };
        let result = match (swapped, report.is_complete()) {
            (true, true) => "ok",
            (true, false) => "partial",
            (false, _) => "failed",
        };
        telemetry::reload(result, started.elapsed().as_secs_f64());
        tracing::info!(
            result,
            entries = report.entries,
            seconds = started.elapsed().as_secs_f64(),
            "threat intelligence reloaded"
        );
        report
    }

    /// Modification times and sizes of every feed file, to notice changes cheaply.
    pub(crate) fn stamps(&self) -> Vec<Option<Vec<Stamp>>> {
        self.config
            .feeds
            .iter()
            .map(|f| {
                let files = feed_files(f).ok()?;
                files
                    .into_iter()
                    .map(|path| {
                        let meta = std::fs::metadata(&path).ok()?;
                        Some(Stamp {
                            modified: meta.modified().ok(),
                            len: meta.len(),
                            path,
                        })
                    })
                    .collect()
            })
            .collect()
    }
}

fn feed_report(cfg: &FeedConfig, data: &FeedData) -> FeedReport {
    let mut report = FeedReport {
        name: cfg.name.clone(),
        files: data.files.len(),
        entries: 0,
        bad_lines: 0,
        bad_line_samples: Vec::new(),
        error: None,
        kept_previous: false,
    };
    for f in &data.files {
        report.entries += f.entries.len();
        report.bad_lines += f.bad_line_count;
        for b in f
            .bad_lines
            .iter()
            .take(8usize.saturating_sub(report.bad_line_samples.len()))
        {
            report
                .bad_line_samples
                .push((f.source.file.to_string(), b.clone()));
        }
    }
    report
}

/// The files of a feed: the file itself, or a directory's files with a configured
/// extension, sorted by name so priority among them is stable.
fn feed_files(cfg: &FeedConfig) -> Result<Vec<PathBuf>, FeedError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| FeedError::Io { path, source }
    };
    let meta = std::fs::metadata(&cfg.path).map_err(io(&cfg.path))?;
    if !meta.is_dir() {
        return Ok(vec![cfg.path.clone()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&cfg.path).map_err(io(&cfg.path))? {
        let path = entry.map_err(io(&cfg.path))?.path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| cfg.extensions.iter().any(|x| x.eq_ignore_ascii_case(e)));
        if wanted && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(FeedError::Empty {
            path: cfg.path.clone(),
        });
    }
    files.sort();
    Ok(files)
}

/// Reads and parses a whole feed; any unreadable file fails the feed, so a feed is never
/// half old and half new.
fn load_feed(cfg: &FeedConfig, max_file_bytes: u64) -> Result<FeedData, FeedError> {
    let mut files = Vec::new();
    for path in feed_files(cfg)? {
        let io = |source| FeedError::Io {
            path: path.clone(),
            source,
        };
        // Read at most one byte past the limit, so a file that grows after a size check
        // still cannot make the read unbounded.
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .and_then(|f| {
                f.take(max_file_bytes.saturating_add(1))
                    .read_to_end(&mut bytes)
            })
            .map_err(io)?;
        let size = bytes.len() as u64;
        if size > max_file_bytes {
            return Err(FeedError::TooLarge {
                path,
                size,
                limit: max_file_bytes,
            });
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push(parse(
            cfg.format,
            &bytes,
            &cfg.name,
            &file_name,
            cfg.family.as_deref(),
        ));
    }
    Ok(FeedData { files })
}
