//! Token and tenant administration from the command line, and the first-start bootstrap.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use rampart_api::auth::{hash_token, new_token_id, new_token_secret};
use rampart_core::{ApiToken, Role, Tenant, TenantId, Timestamp};
use rampart_store::Store;

use crate::settings::{Settings, StoreArgs};

/// Appends an administration record to the audit log the server writes (the log takes a
/// lock per append, so this is safe while `rampart serve` runs). The actor is the local user.
pub(crate) fn audit(settings: &Settings, mut record: serde_json::Value) -> anyhow::Result<()> {
    let path = settings
        .config
        .respond
        .clone()
        .unwrap_or_default()
        .audit_log(&settings.data_dir);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    if record.get("actor").is_none() {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
        record["actor"] = serde_json::Value::String(format!("cli:{user}"));
    }
    rampart_contain::audit::AuditLog::open(&path)
        .and_then(|mut log| log.append(&record))
        .with_context(|| format!("writing the audit log {}", path.display()))?;
    Ok(())
}

/// Id of the platform admin token created on first start or set by `RAMPART_ADMIN_TOKEN`.
const BOOTSTRAP_TOKEN_ID: &str = "admin";

#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Create a token and print its secret (shown only this once).
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// viewer, operator or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Confine the token to this tenant (omit for a platform token).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a token by id.
    Delete {
        #[command(flatten)]
        store: StoreArgs,
        /// Token id (tok_...).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TenantsCommand {
    /// Create or rename a tenant.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// Tenant id.
        id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub(crate) async fn ensure_default_tenant(store: &dyn Store) -> anyhow::Result<()> {
    let id = TenantId::default_tenant();
    if store.get_tenant(&id).await?.is_none() {
        store
            .put_tenant(&Tenant {
                id,
                name: "Default".to_owned(),
                created_at: Timestamp::now(),
            })
            .await?;
    }
    Ok(())
}

/// On start: `RAMPART_ADMIN_TOKEN` (automation) sets the platform admin token; otherwise, if no
/// platform admin token exists yet, one is created and printed once to standard output. Only
/// hashes are stored; the secret never goes to the log.
pub(crate) async fn bootstrap_admin(settings: &Settings, store: &dyn Store) -> anyhow::Result<()> {
    let admin = |name: &str| ApiToken {
        id: BOOTSTRAP_TOKEN_ID.to_owned(),
        name: name.to_owned(),
        role: Role::Admin,
        tenant: None,
        created_at: Timestamp::now(),
    };
    if let Ok(secret) = std::env::var("RAMPART_ADMIN_TOKEN") {
        let secret = secret.trim();
        if secret.len() < 16 {
            bail!("RAMPART_ADMIN_TOKEN must be at least 16 characters");
        }
        store
            .put_token(&admin("admin (RAMPART_ADMIN_TOKEN)"), &hash_token(secret))
            .await?;
        tracing::info!("platform admin token set from RAMPART_ADMIN_TOKEN");
        audit(
            settings,
            serde_json::json!({"event": "token.created", "actor": "bootstrap",
                "token": BOOTSTRAP_TOKEN_ID, "role": "admin", "source": "RAMPART_ADMIN_TOKEN"}),
        )?;
        return Ok(());
    }
    let tokens = store.list_tokens().await?;
    if tokens
        .iter()
        .any(|t| t.role == Role::Admin && t.tenant.is_none())
    {
        return Ok(());
    }
    let secret = new_token_secret().context("reading the OS random source")?;
    store
        .put_token(&admin("admin (first start)"), &hash_token(&secret))
        .await?;
    audit(
        settings,
        serde_json::json!({"event": "token.created", "actor": "bootstrap",
            "token": BOOTSTRAP_TOKEN_ID, "role": "admin", "source": "first start"}),
    )?;
    println!();
    println!("  First start: a platform admin API token was created. It is shown only now;");
    println!("  store it safely (Rampart keeps only its hash):");
    println!();
    println!("    {secret}");
    println!();
    println!("  Use it as:  curl -H 'Authorization: Bearer {secret}' http://HOST/api/v1/devices");
    println!();
    tracing::info!("platform admin token created (shown once on standard output)");
    Ok(())
}

pub(crate) async fn tokens(cmd: TokensCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokensCommand::Create {
            store,
            name,
            role,
            tenant,
        } => {
            let (settings, store) = store.open().await?;
            let role: Role = role.parse()?;
            let tenant = tenant.as_deref().map(TenantId::parse).transpose()?;
            if let Some(t) = &tenant
                && store.get_tenant(t).await?.is_none()
            {
                bail!("tenant {t} does not exist (create it with `rampart tenants create {t}`)");
            }
            let secret = new_token_secret().context("reading the OS random source")?;
            let token = ApiToken {
                id: new_token_id().context("reading the OS random source")?,
                name,
                role,
                tenant,
                created_at: Timestamp::now(),
            };
            store.put_token(&token, &hash_token(&secret)).await?;
            eprintln!("created token {} ({})", token.id, token.role);
            println!("{secret}");
            audit(
                &settings,
                serde_json::json!({"event": "token.created", "token": token.id,
                    "token_name": token.name, "role": token.role.to_string(),
                    "tenant": token.tenant.as_ref().map(ToString::to_string)}),
            )?;
        }
        TokensCommand::List { store } => {
            let (_, store) = store.open().await?;
            for t in store.list_tokens().await? {
                let tenant = t.tenant.as_ref().map_or("*", TenantId::as_str);
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.role,
                    tenant,
                    t.created_at.to_rfc3339(),
                    t.name
                );
            }
        }
        TokensCommand::Delete { store, id } => {
            let (settings, store) = store.open().await?;
            if !store.delete_token(&id).await? {
                bail!("no token {id}");
            }
            eprintln!("deleted token {id}");
            audit(
                &settings,
                serde_json::json!({"event": "token.deleted", "token": id}),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn tenants(cmd: TenantsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TenantsCommand::Create { store, id, name } => {
            let (settings, store) = store.open().await?;
            let id = TenantId::parse(&id)?;
            let created_at = store
                .get_tenant(&id)
                .await?
                .map_or_else(Timestamp::now, |t| t.created_at);
            let name = name.unwrap_or_else(|| id.to_string());
            store
                .put_tenant(&Tenant {
                    id: id.clone(),
                    name,
                    created_at,
                })
                .await?;
            eprintln!("tenant {id} saved");
            audit(
                &settings,
                serde_json::json!({"event": "tenant.put", "tenant": id.as_str()}),
            )?;
        }
        TenantsCommand::List { store } => {
            let (_, store) = store.open().await?;
            for t in store.list_tenants().await? {
                println!("{}\t{}\t{}", t.id, t.created_at.to_rfc3339(), t.name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
