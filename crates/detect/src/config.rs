//! Detection configuration: one section per detector, each with safe defaults, unknown keys
//! refused (a misspelt threshold must not silently fall back to its default). TOML-friendly.

use serde::{Deserialize, Serialize};

use crate::c2::{C2Config, IntelConfig};
use crate::flood::DdosConfig;
use crate::identity::{BindingConfig, LocationConfig};
use crate::net::HomeNets;
use crate::policy::PolicyConfig;
use crate::rules::RuleConfig;
use crate::scan::ScanConfig;
use crate::usage::{SessionConfig, UsageConfig};
use crate::{Severity, VerdictConfig};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text did not parse (unknown key, wrong type...).
    #[error("invalid detection config: {0}")]
    Parse(String),
    /// A value broke a rule.
    #[error("invalid detection config: {field}: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Engine-wide parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// How late (event time) an observation may arrive and still be put back in order,
    /// seconds. Observations are held this long before detection sees them.
    pub allowed_lateness_s: u32,
    /// A device's network windows are dropped after this long without a flow, seconds (must
    /// exceed every detector window).
    pub idle_evict_s: u32,
    /// How often (event time) idle state, clears and silence are swept, seconds.
    pub sweep_interval_s: u32,
    /// An active finding with no repeat for this long is cleared, seconds.
    pub clear_after_s: u32,
    /// Evidence items kept per finding.
    pub max_evidence: usize,
    /// Active findings kept per device (the oldest is cleared past this).
    pub max_alarms_per_device: usize,
    /// Devices per shard; new subjects past this are counted and ignored.
    pub max_devices_per_shard: usize,
    /// Networks that are the fleet's side; other unicast addresses are external.
    pub home_nets: HomeNets,
    /// Findings at or above this severity implicate matching flows (pattern) and end the
    /// flow's processing (it is the known activity, not a new one).
    pub convict_severity: Severity,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            allowed_lateness_s: 30,
            idle_evict_s: 900,
            sweep_interval_s: 60,
            clear_after_s: 3600,
            max_evidence: 32,
            max_alarms_per_device: 16,
            max_devices_per_shard: 50_000_000,
            home_nets: HomeNets::default(),
            convict_severity: Severity::Medium,
        }
    }
}

/// Alerts from other engines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// Turn alerts into findings.
    pub enabled: bool,
    /// Engine severities (1 = high, 2 = medium, 3 = low) kept; larger numbers are dropped.
    pub max_engine_severity: u8,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_engine_severity: 3,
        }
    }
}

/// All of detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Engine-wide parameters.
    pub engine: EngineConfig,
    /// Horizontal and vertical scans.
    pub scan: ScanConfig,
    /// Command and control, IRC, beaconing.
    pub c2: C2Config,
    /// Threat-intelligence matching.
    pub intel: IntelConfig,
    /// Flood participation.
    pub ddos: DdosConfig,
    /// Other engines' alerts.
    pub alerts: AlertConfig,
    /// SIM/IMEI binding.
    pub binding: BindingConfig,
    /// Location (serving network, cells, GPS).
    pub location: LocationConfig,
    /// Data use.
    pub usage: UsageConfig,
    /// Sessions.
    pub sessions: SessionConfig,
    /// Expected behaviour (allow-lists, MUD) per profile.
    pub policy: PolicyConfig,
    /// Declarative rules.
    pub rules: RuleConfig,
    /// Flow verdicts.
    pub verdict: VerdictConfig,
}

impl DetectConfig {
    /// Parses TOML and validates.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let e = &self.engine;
        let longest = [
            self.scan.window_s,
            self.c2.window_s,
            self.ddos.window_s,
            self.sessions.storm_window_s,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        if e.idle_evict_s <= longest {
            return Err(ConfigError::invalid(
                "engine.idle_evict_s",
                format!("must exceed the longest detector window ({longest} s)"),
            ));
        }
        if e.sweep_interval_s == 0 {
            return Err(ConfigError::invalid(
                "engine.sweep_interval_s",
                "must be at least 1",
            ));
        }
        if e.max_evidence == 0 || e.max_alarms_per_device == 0 {
            return Err(ConfigError::invalid(
                "engine",
                "max_evidence and max_alarms_per_device must be at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.ddos.max_reply_ratio) {
            return Err(ConfigError::invalid(
                "ddos.max_reply_ratio",
                "must be between 0 and 1",
            ));
        }
        if self.c2.failed_attempts < 2 {
            return Err(ConfigError::invalid(
                "c2.failed_attempts",
                "must be at least 2 (one failure is not a pattern)",
            ));
        }
        let c2 = &self.c2;
        if !(c2.jitter_beacon_min_jitter < c2.jitter_beacon_max_jitter
            && c2.jitter_beacon_min_jitter >= 0.0
            && c2.jitter_beacon_max_size_cv >= 0.0)
        {
            return Err(ConfigError::invalid(
                "c2.jitter_beacon_min_jitter",
                "must be at least 0 and below jitter_beacon_max_jitter; max_size_cv at least 0",
            ));
        }
        self.location.validate()?;
        self.usage.validate()?;
        self.policy.validate()?;
        self.rules.validate()?;
        Ok(())
    }
}
