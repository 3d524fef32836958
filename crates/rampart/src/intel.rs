//! Threat intelligence for detection: the feed store of `rampart-intel` behind detection's
//! `ThreatIntel` seam. Each lookup reads the current set (hot reload swaps it whole).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rampart_detect::{IntelHit, ThreatIntel};
use rampart_intel::{FeedConfig, Format, Hit, IntelConfig, IntelStore};

/// Detection's view of the loaded feeds.
#[derive(Debug, Clone)]
pub(crate) struct Feeds(pub(crate) Arc<IntelStore>);

fn hit(h: &Hit) -> IntelHit {
    IntelHit {
        feed: h.feed().to_owned(),
        indicator: h.indicator().to_string(),
        category: Some(h.family().to_owned()),
        severity: None,
    }
}

impl ThreatIntel for Feeds {
    fn match_ip(&self, ip: IpAddr) -> Option<IntelHit> {
        let set = self.0.load();
        set.match_ip(ip)
            .or_else(|| set.match_ip_any_port(ip))
            .map(hit)
    }

    fn match_domain(&self, name: &str) -> Option<IntelHit> {
        self.0.load().match_domain(name).map(hit)
    }
}

/// Feeds named on the command line: plain lists (IPs, networks, domains) and Maltrail trail
/// files or directories (the family comes from each file's name).
pub(crate) fn from_paths(plain: &[PathBuf], trails: &[PathBuf]) -> anyhow::Result<Option<Feeds>> {
    if plain.is_empty() && trails.is_empty() {
        return Ok(None);
    }
    let named = |p: &PathBuf, i: usize| {
        p.file_name()
            .map_or_else(|| format!("feed-{i}"), |n| n.to_string_lossy().into_owned())
    };
    let feeds = plain
        .iter()
        .map(|p| (p, Format::Plain))
        .chain(trails.iter().map(|p| (p, Format::Maltrail)))
        .enumerate()
        .map(|(i, (p, format))| FeedConfig::new(named(p, i), p.clone(), format))
        .collect();
    let (store, report) = IntelStore::open(IntelConfig {
        feeds,
        ..IntelConfig::default()
    });
    for feed in &report.feeds {
        if let Some(e) = &feed.error {
            anyhow::bail!("threat-intel feed {}: {e}", feed.name);
        }
    }
    tracing::info!(entries = report.entries, "threat intelligence loaded");
    Ok(Some(Feeds(Arc::new(store))))
}
