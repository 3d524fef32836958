//! `rampart incidents`, `rampart mass-actions` and `rampart playbooks`: the operator's side of
//! incident response from a shell. Incidents and mass actions live in the serving process,
//! so these commands speak to its API (`--api`, a token from `RAMPART_TOKEN`); checking a
//! playbook directory is local.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the API is and who calls it.
#[derive(Debug, Args)]
pub(crate) struct ApiArgs {
    /// Base URL of the API (http only; put TLS in front for remote use).
    #[arg(long, env = "RAMPART_API", default_value = "http://127.0.0.1:8080")]
    api: String,
    /// Bearer token.
    #[arg(long, env = "RAMPART_TOKEN", hide_env_values = true)]
    token: String,
    /// Tenant to address with a platform token.
    #[arg(long)]
    pub(crate) tenant: Option<String>,
}

/// `rampart incidents ...`
#[derive(Debug, Subcommand)]
pub(crate) enum IncidentsCommand {
    /// Incidents, most recently changed first.
    List {
        #[command(flatten)]
        api: ApiArgs,
        /// Only these statuses (comma-separated).
        #[arg(long)]
        status: Option<String>,
        /// Only this device.
        #[arg(long)]
        device: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One incident with its timeline.
    Show {
        #[command(flatten)]
        api: ApiArgs,
        /// Incident id.
        id: String,
    },
    /// Change status, assignee, or add a note.
    Update {
        #[command(flatten)]
        api: ApiArgs,
        /// Incident id.
        id: String,
        /// open, acknowledged, contained, resolved, false_positive.
        #[arg(long)]
        status: Option<String>,
        /// Assignee (empty to clear).
        #[arg(long)]
        assignee: Option<String>,
        /// A note for the timeline.
        #[arg(long)]
        note: Option<String>,
    },
    /// Undo the incident's reversible actions.
    Undo {
        #[command(flatten)]
        api: ApiArgs,
        /// Incident id.
        id: String,
    },
}

/// `rampart mass-actions ...`
#[derive(Debug, Subcommand)]
pub(crate) enum MassCommand {
    /// Start a mass action from a plan file (JSON), or with --dry-run only count and plan it.
    Create {
        #[command(flatten)]
        api: ApiArgs,
        /// The plan (JSON).
        plan: PathBuf,
        /// Count and plan only.
        #[arg(long)]
        dry_run: bool,
    },
    /// Mass actions, newest first.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// One mass action with progress and events.
    Show {
        #[command(flatten)]
        api: ApiArgs,
        /// Operation id.
        id: String,
    },
    /// Approve one held at its blast-radius cap.
    Approve {
        #[command(flatten)]
        api: ApiArgs,
        /// Operation id.
        id: String,
    },
    /// Stop one.
    Abort {
        #[command(flatten)]
        api: ApiArgs,
        /// Operation id.
        id: String,
    },
    /// Undo a whole operation.
    Undo {
        #[command(flatten)]
        api: ApiArgs,
        /// Operation id.
        id: String,
    },
}

/// `rampart playbooks ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PlaybooksCommand {
    /// Validate a directory of playbooks as the server would load it (exit 1 with every
    /// problem as file:line:col: field: message).
    Check {
        /// The directory.
        dir: PathBuf,
    },
    /// Upload (or replace) a playbook through the API.
    Put {
        #[command(flatten)]
        api: ApiArgs,
        /// The TOML file; its `name` is the playbook's name.
        file: PathBuf,
    },
}

pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One HTTP/1.1 exchange; the body of the answer (Content-Length or chunked).
async fn call(
    api: &ApiArgs,
    method: &str,
    path: &str,
    body: Option<(&str, String)>,
) -> anyhow::Result<(u16, String)> {
    let rest = api
        .api
        .strip_prefix("http://")
        .context("--api must be an http:// URL")?;
    let (host, base) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let mut s = tokio::net::TcpStream::connect(host)
        .await
        .with_context(|| format!("connecting to {host}"))?;
    let mut req = format!(
        "{method} {base}{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\n",
        api.token
    );
    if let Some(t) = &api.tenant {
        req.push_str(&format!("X-Rampart-Tenant: {t}\r\n"));
    }
    let (ctype, body) = body.unwrap_or(("application/json", String::new()));
    req.push_str(&format!(
        "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP answer")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("malformed HTTP status")?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        let mut out = String::new();
        let mut r = rest;
        while let Some((size, after)) = r.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            r = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        rest.to_owned()
    };
    Ok((status, body))
}

pub(crate) async fn show(
    api: &ApiArgs,
    method: &str,
    path: &str,
    body: Option<(&str, String)>,
) -> anyhow::Result<ExitCode> {
    let (status, text) = call(api, method, path, body).await?;
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    if (200..300).contains(&status) {
        println!("{pretty}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("HTTP {status}\n{pretty}");
        Ok(ExitCode::FAILURE)
    }
}

pub(crate) async fn incidents(cmd: IncidentsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        IncidentsCommand::List {
            api,
            status,
            device,
            limit,
        } => {
            let mut q = format!("?limit={limit}");
            if let Some(s) = status {
                q.push_str(&format!("&status={}", enc(&s)));
            }
            if let Some(d) = device {
                q.push_str(&format!("&device={}", enc(&d)));
            }
            show(&api, "GET", &format!("/api/v1/incidents{q}"), None).await
        }
        IncidentsCommand::Show { api, id } => {
            show(
                &api,
                "GET",
                &format!("/api/v1/incidents/{}", enc(&id)),
                None,
            )
            .await
        }
        IncidentsCommand::Update {
            api,
            id,
            status,
            assignee,
            note,
        } => {
            let mut body = serde_json::Map::new();
            for (k, v) in [("status", status), ("assignee", assignee), ("note", note)] {
                if let Some(v) = v {
                    body.insert(k.into(), v.into());
                }
            }
            if body.is_empty() {
                bail!("nothing to change: give --status, --assignee or --note");
            }
            let body = serde_json::Value::Object(body).to_string();
            show(
                &api,
                "PATCH",
                &format!("/api/v1/incidents/{}", enc(&id)),
                Some(("application/json", body)),
            )
            .await
        }
        IncidentsCommand::Undo { api, id } => {
            show(
                &api,
                "POST",
                &format!("/api/v1/incidents/{}/undo", enc(&id)),
                Some(("application/json", "{}".into())),
            )
            .await
        }
    }
}

pub(crate) async fn mass(cmd: MassCommand) -> anyhow::Result<ExitCode> {
    let post = |id: &str, verb: &str| format!("/api/v1/mass-actions/{}/{verb}", enc(id));
    let empty = || Some(("application/json", "{}".to_owned()));
    match cmd {
        MassCommand::Create { api, plan, dry_run } => {
            let text = std::fs::read_to_string(&plan)
                .with_context(|| format!("reading {}", plan.display()))?;
            let _valid: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", plan.display()))?;
            let mut q = format!("?dry_run={dry_run}");
            if let Some(t) = &api.tenant {
                q.push_str(&format!("&tenant={}", enc(t)));
            }
            show(
                &api,
                "POST",
                &format!("/api/v1/mass-actions{q}"),
                Some(("application/json", text)),
            )
            .await
        }
        MassCommand::List { api } => show(&api, "GET", "/api/v1/mass-actions", None).await,
        MassCommand::Show { api, id } => {
            show(
                &api,
                "GET",
                &format!("/api/v1/mass-actions/{}", enc(&id)),
                None,
            )
            .await
        }
        MassCommand::Approve { api, id } => {
            show(&api, "POST", &post(&id, "approve"), empty()).await
        }
        MassCommand::Abort { api, id } => show(&api, "POST", &post(&id, "abort"), empty()).await,
        MassCommand::Undo { api, id } => show(&api, "POST", &post(&id, "undo"), empty()).await,
    }
}

pub(crate) async fn playbooks(cmd: PlaybooksCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PlaybooksCommand::Check { dir } => match rampart_playbook::PlaybookSet::load_dir(&dir) {
            Ok(set) => {
                for p in set.iter() {
                    println!("{}: ok ({} steps)", p.name, p.steps.len());
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in errors.errors() {
                    eprintln!("{e}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
        PlaybooksCommand::Put { api, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let pb = rampart_playbook::PlaybookSet::parse_one(&file.display().to_string(), &text)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            show(
                &api,
                "PUT",
                &format!("/api/v1/playbooks/{}", enc(&pb.name)),
                Some(("application/toml", text)),
            )
            .await
        }
    }
}
