//! `rampart ca audit`: the identity hygiene audit once, offline, over the CA directory and the
//! store. Certificates presented to the EST listener are only known to a running `serve`
//! (`GET /api/v1/identity/audit`), so the two presentation checks say they had nothing to
//! look at here.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use rampart_hygiene::{CheckId, Report};

use super::CaCommon;
use crate::identity::audit::{collect, policy};

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// A table per check.
    Text,
    /// The whole report as JSON.
    Json,
}

/// `rampart ca audit`
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    common: CaCommon,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Report device certificates expiring within this many days [default:
    /// `[identity] audit_expiry_warning_days`, else 30].
    #[arg(long)]
    expiry_warning_days: Option<u32>,
    /// Report CAs expiring within this many days [default: `[identity]
    /// audit_ca_expiry_warning_days`, else 90].
    #[arg(long)]
    ca_expiry_warning_days: Option<u32>,
    /// Non-compliant resources listed per check [default: `[identity] audit_max_resources`,
    /// else 1000].
    #[arg(long)]
    max_resources: Option<usize>,
    /// Exit with status 2 when any resource is non-compliant (for scripts and CI).
    #[arg(long)]
    fail_on_findings: bool,
}

pub(crate) async fn run(a: AuditArgs) -> anyhow::Result<ExitCode> {
    let settings = a.common.store.resolve()?;
    let mut policy = policy(settings.config.identity.as_ref())?;
    if let Some(d) = a.expiry_warning_days {
        policy.expiry_warning_days = d;
    }
    if let Some(d) = a.ca_expiry_warning_days {
        policy.ca_expiry_warning_days = d;
    }
    if let Some(n) = a.max_resources {
        policy.max_resources = n;
    }
    let service = a.common.service(false).await?;
    let store = settings.open().await?;
    let report = collect(&service, store.as_ref(), policy, None).await?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print_text(&report),
    }
    if a.fail_on_findings && report.non_compliant() > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(r: &Report) {
    println!(
        "{:<28} {:<9} {:>9} {:>14}",
        "check", "severity", "checked", "non-compliant"
    );
    for c in &r.checks {
        println!(
            "{:<28} {:<9} {:>9} {:>14}",
            c.check.as_str(),
            c.severity.as_str(),
            c.checked,
            c.non_compliant
        );
    }
    for c in r
        .checks
        .iter()
        .filter(|c| c.non_compliant > 0 || c.note.is_some())
    {
        println!();
        println!("{} ({}): {}", c.check, c.severity.as_str(), c.title);
        if let Some(note) = &c.note {
            println!("  note: {note}");
        }
        for res in &c.resources {
            let whom = match (&res.tenant, &res.device) {
                (Some(t), Some(d)) => format!("{t}/{d}"),
                (Some(t), None) => t.clone(),
                _ => "-".to_owned(),
            };
            println!("  {:<8} {whom:<32} {}", res.severity.as_str(), res.summary);
        }
        if c.truncated {
            println!(
                "  ... and {} more",
                c.non_compliant.saturating_sub(c.resources.len() as u64)
            );
        }
    }
    let disabled: Vec<&str> = CheckId::ALL
        .iter()
        .filter(|id| !r.checks.iter().any(|c| c.check == **id))
        .map(|id| id.as_str())
        .collect();
    if !disabled.is_empty() {
        println!();
        println!("not run: {}", disabled.join(", "));
    }
}
