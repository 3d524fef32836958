//! `rampart rules` and `rampart suppressions`: detection rules and suppression windows of the
//! serving process, through its API (`--api`, a token from `RAMPART_TOKEN`). Rule files are
//! checked locally first, with the server's own validation, so every problem is listed
//! before anything is sent.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Subcommand};
use rampart_core::Timestamp;
use serde_json::{Value, json};

use crate::respond_cli::{ApiArgs, enc, show};

/// `rampart rules ...`
#[derive(Debug, Subcommand)]
pub(crate) enum RulesCommand {
    /// Every rule in force: the configuration file's and those defined through the API.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// One rule.
    Show {
        #[command(flatten)]
        api: ApiArgs,
        /// Rule name.
        name: String,
    },
    /// Create or replace the rules of a file (TOML: one rule as top-level keys or several
    /// as [[rules]]; or JSON: an object or an array), applied to the running detection.
    Put {
        #[command(flatten)]
        api: ApiArgs,
        /// The file.
        file: PathBuf,
    },
    /// Delete a rule defined through the API; its active alarms are cleared.
    Delete {
        #[command(flatten)]
        api: ApiArgs,
        /// Rule name.
        name: String,
    },
}

/// `rampart suppressions ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SuppressionsCommand {
    /// Suppression windows not yet ended (with --ended, also those that have).
    List {
        #[command(flatten)]
        api: ApiArgs,
        /// Include windows that have ended.
        #[arg(long)]
        ended: bool,
    },
    /// One window.
    Show {
        #[command(flatten)]
        api: ApiArgs,
        /// Window id.
        id: String,
    },
    /// Open a window: matching findings are recorded, marked suppressed, and kept from
    /// incident response until it ends. A platform token without --tenant opens it over
    /// every tenant.
    Create {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        window: Box<WindowArgs>,
    },
    /// Delete a window; it stops applying at once.
    Delete {
        #[command(flatten)]
        api: ApiArgs,
        /// Window id.
        id: String,
    },
}

/// What a new window mutes, and when.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("end").required(true).args(["until", "duration"])))]
pub(crate) struct WindowArgs {
    /// Only this device's findings.
    #[arg(long, group = "whom")]
    device: Option<String>,
    /// Only findings of devices of this profile.
    #[arg(long, group = "whom")]
    profile: Option<String>,
    /// Only findings of devices in this group.
    #[arg(long, group = "whom")]
    group: Option<String>,
    /// Only findings of devices with this tag.
    #[arg(long, group = "whom")]
    tag: Option<String>,
    /// Only findings of this kind (e.g. rule, horizontal_scan).
    #[arg(long, group = "what")]
    kind: Option<String>,
    /// Only findings of this declarative rule.
    #[arg(long, group = "what")]
    rule: Option<String>,
    /// Start, RFC 3339 [default: now].
    #[arg(long)]
    from: Option<String>,
    /// End, RFC 3339 (at most 30 days after the start).
    #[arg(long)]
    until: Option<String>,
    /// Length from now instead of --until: 90m, 8h, 7d.
    #[arg(long = "for")]
    duration: Option<String>,
    /// Why (shown on the board and in the audit log).
    #[arg(long)]
    reason: String,
}

/// `90m`, `8h`, `7d`, `3600s` → milliseconds.
fn parse_duration(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .context("--for needs a unit: s, m, h or d")?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .with_context(|| format!("--for {s:?}: not a number"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("--for {s:?}: the unit is s, m, h or d"),
    };
    n.checked_mul(unit_ms)
        .filter(|ms| *ms > 0)
        .with_context(|| format!("--for {s:?}: out of range"))
}

impl WindowArgs {
    fn body(&self, now: Timestamp) -> anyhow::Result<Value> {
        let mut selector = serde_json::Map::new();
        for (k, v) in [
            ("device", &self.device),
            ("profile", &self.profile),
            ("group", &self.group),
            ("tag", &self.tag),
            ("kind", &self.kind),
            ("rule", &self.rule),
        ] {
            if let Some(v) = v {
                selector.insert(k.to_owned(), json!(v));
            }
        }
        let until = match (&self.until, &self.duration) {
            (Some(u), _) => json!(u),
            (None, Some(d)) => {
                let start = match &self.from {
                    Some(f) => serde_json::from_value::<Timestamp>(json!(f))
                        .with_context(|| format!("--from {f:?}: not RFC 3339"))?,
                    None => now,
                };
                json!(Timestamp(start.0.saturating_add(parse_duration(d)?)))
            }
            (None, None) => bail!("give --until or --for"),
        };
        let mut body = json!({"selector": selector, "until": until, "reason": self.reason});
        if let Some(f) = &self.from {
            body["from"] = json!(f);
        }
        Ok(body)
    }
}

pub(crate) async fn rules(cmd: RulesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCommand::List { api } => show(&api, "GET", "/api/v1/rules", None).await,
        RulesCommand::Show { api, name } => {
            show(&api, "GET", &format!("/api/v1/rules/{}", enc(&name)), None).await
        }
        RulesCommand::Put { api, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let rules = match rampart_detect::Rule::parse_many(&text) {
                Ok(r) => r,
                Err(problems) => {
                    for p in problems {
                        eprintln!("{}: {p}", file.display());
                    }
                    return Ok(ExitCode::FAILURE);
                }
            };
            for rule in rules {
                let body = serde_json::to_string(&rule)?;
                let path = format!("/api/v1/rules/{}", enc(&rule.name));
                let code = show(&api, "PUT", &path, Some(("application/json", body))).await?;
                if code != ExitCode::SUCCESS {
                    return Ok(code);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Delete { api, name } => {
            show(
                &api,
                "DELETE",
                &format!("/api/v1/rules/{}", enc(&name)),
                None,
            )
            .await
        }
    }
}

pub(crate) async fn suppressions(cmd: SuppressionsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SuppressionsCommand::List { api, ended } => {
            show(
                &api,
                "GET",
                &format!("/api/v1/suppressions?ended={ended}"),
                None,
            )
            .await
        }
        SuppressionsCommand::Show { api, id } => {
            show(
                &api,
                "GET",
                &format!("/api/v1/suppressions/{}", enc(&id)),
                None,
            )
            .await
        }
        SuppressionsCommand::Create { api, window } => {
            let body = window.body(Timestamp::now())?.to_string();
            show(
                &api,
                "POST",
                "/api/v1/suppressions",
                Some(("application/json", body)),
            )
            .await
        }
        SuppressionsCommand::Delete { api, id } => {
            show(
                &api,
                "DELETE",
                &format!("/api/v1/suppressions/{}", enc(&id)),
                None,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("8h").unwrap(), 28_800_000);
        assert_eq!(parse_duration("7d").unwrap(), 604_800_000);
        assert_eq!(parse_duration("30s").unwrap(), 30_000);
        for bad in ["", "8", "h", "8w", "-1h", "0m", "99999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
