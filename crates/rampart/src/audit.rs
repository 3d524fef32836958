//! `rampart audit`: checks and exports the hash-chained audit log of actions, approvals,
//! playbook changes and operator decisions.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::settings::StoreArgs;

/// `rampart audit ...`
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Verifies the chain: any altered, deleted, inserted or reordered entry is found and its
    /// line named. Exit status 1 when the log does not verify.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// The log [default: `[respond] audit_log`, else `<data_dir>/audit.log`].
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Verifies, then writes the entries as JSON lines to stdout (for a SIEM or an archive).
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// The log [default: as for verify].
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

fn path(store: &StoreArgs, file: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(f) = file {
        return Ok(f);
    }
    let s = store.resolve()?;
    let cfg = s.config.respond.clone().unwrap_or_default();
    Ok(cfg.audit_log(&s.data_dir))
}

pub(crate) fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let (p, export) = match cmd {
        AuditCommand::Verify { store, file } => (path(&store, file)?, false),
        AuditCommand::Export { store, file } => (path(&store, file)?, true),
    };
    match rampart_contain::audit::verify(&p) {
        Ok(head) => {
            if export {
                let f =
                    std::fs::File::open(&p).with_context(|| format!("opening {}", p.display()))?;
                let mut out = std::io::stdout().lock();
                for line in std::io::BufReader::new(f).lines() {
                    writeln!(out, "{}", line.context("reading the audit log")?)?;
                }
            } else {
                println!(
                    "{}: ok, {} entries, head {}",
                    p.display(),
                    head.seq,
                    head.hash
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: does not verify: {e}", p.display());
            Ok(ExitCode::FAILURE)
        }
    }
}
