//! `rampart ca`: the device identity authority on the command line. Every command works on the
//! CA directory (`--ca-dir`, else `[identity] ca_dir`, else `<data_dir>/ca`) under its lock, so
//! it can run while `rampart serve` uses the same directory.

mod audit;
mod bulk;

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use rampart_core::{DeviceId, TenantId};
use rampart_identity::{
    Authority, AuthorityConfig, Ca, InitOptions, KeyAlgorithm, KeyProtection, Passphrase,
    RevocationReason, Serial,
};

use crate::identity::{self, IdentityService, IdentityStatus, ReloadOutcome, SessionCut};
use crate::settings::{Settings, StoreArgs};

/// Where the CA is and how to open it; shared by every `rampart ca` command.
#[derive(Debug, Clone, Args)]
pub(crate) struct CaCommon {
    #[command(flatten)]
    store: StoreArgs,
    /// CA directory [default: `[identity] ca_dir`, else <data_dir>/ca].
    #[arg(long, env = "RAMPART_CA_DIR")]
    ca_dir: Option<PathBuf>,
    /// Environment variable holding the passphrase of the CA's key files (`init` encrypts
    /// them with it) [default: `[identity] passphrase_env`].
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
}

struct Resolved {
    settings: Settings,
    dir: PathBuf,
    passphrase: Option<Passphrase>,
}

impl CaCommon {
    fn resolve(&self) -> anyhow::Result<Resolved> {
        let settings = self.store.resolve()?;
        let dir = identity::ca_dir(&settings, self.ca_dir.as_deref());
        let passphrase = identity::passphrase(&settings, self.passphrase_env.as_deref())?;
        Ok(Resolved {
            settings,
            dir,
            passphrase,
        })
    }

    pub(crate) async fn service(&self, with_broker: bool) -> anyhow::Result<IdentityService> {
        let r = self.resolve()?;
        IdentityService::open(
            r.dir,
            r.passphrase,
            r.settings.config.identity.as_ref(),
            with_broker,
        )
        .await
    }
}

/// `rampart ca ...`
#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {
    /// Create a CA: a root, a first issuing CA, chain.pem and an empty CRL.
    Init(InitArgs),
    /// Show certificates, validity, fingerprints, the CRL and counts (never key material).
    Show(ShowArgs),
    /// Replace the issuing CA; the previous one keeps verifying during the overlap.
    Rotate(RotateArgs),
    /// Create a one-time enrolment token for a device; it is printed once, on stdout.
    IssueToken(IssueTokenArgs),
    /// Sign one device's CSR.
    Sign(SignArgs),
    /// Issue many device certificates: generate keys here, or sign a directory or a file of
    /// CSRs.
    Bulk(BulkArgs),
    /// Issue a TLS server certificate and key (MQTT broker, EST endpoint).
    IssueServer(IssueServerArgs),
    /// Revoke certificates, republish the CRL and optionally cut the device's broker sessions.
    Revoke(RevokeArgs),
    /// Republish the CRL now.
    Crl(CrlArgs),
    /// Audit identity hygiene: expiring certificates and CAs, shared and weak keys, devices
    /// without a valid certificate, SIMs without an IMEI lock.
    Audit(audit::AuditArgs),
}

/// CA key algorithm.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Algorithm {
    /// ECDSA P-256: every TLS stack and broker verifies it.
    P256,
    /// Ed25519: smaller and faster; older device TLS stacks may not verify it.
    Ed25519,
}

/// Why a certificate is revoked.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum Reason {
    /// No reason given.
    Unspecified,
    /// The device key is known or suspected to be compromised.
    #[value(alias = "key-compromise")]
    KeyCompromise,
    /// Replaced by another certificate.
    Superseded,
    /// The device was decommissioned.
    #[value(alias = "cessation-of-operation")]
    CessationOfOperation,
}

impl From<Reason> for RevocationReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::Unspecified => Self::Unspecified,
            Reason::KeyCompromise => Self::KeyCompromise,
            Reason::Superseded => Self::Superseded,
            Reason::CessationOfOperation => Self::CessationOfOperation,
        }
    }
}

/// `rampart ca init`
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    #[command(flatten)]
    common: CaCommon,
    /// Key algorithm of the root and issuing CAs.
    #[arg(long, value_enum, default_value = "p256")]
    algorithm: Algorithm,
    /// Organisation name in the CA subjects.
    #[arg(long, default_value = "Rampart")]
    name: String,
    /// Write the root key to DIR/root.key.pem (removable media) instead of the CA directory;
    /// it is needed again only by `rampart ca rotate`.
    #[arg(long, value_name = "DIR")]
    offline_root_dir: Option<PathBuf>,
}

/// `rampart ca show`
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    common: CaCommon,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// `rampart ca rotate`
#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    #[command(flatten)]
    common: CaCommon,
    /// Days the previous issuing CA stays in chain.pem and keeps its CRL; at least the device
    /// certificate lifetime for a seamless switch.
    #[arg(long)]
    overlap_days: u32,
    /// Directory holding root.key.pem when the root is kept offline.
    #[arg(long, value_name = "DIR")]
    offline_root_dir: Option<PathBuf>,
}

/// `rampart ca issue-token`
#[derive(Debug, Args)]
pub(crate) struct IssueTokenArgs {
    #[command(flatten)]
    common: CaCommon,
    /// Tenant of the device.
    #[arg(long)]
    tenant: String,
    /// Device id (the certificate's CN and MQTT user name).
    #[arg(long)]
    device: String,
    /// Issuance profile.
    #[arg(long, default_value = "device")]
    profile: String,
    /// Lifetime: seconds, or a number with s, m, h or d.
    #[arg(long, default_value = "24h", value_parser = parse_ttl)]
    ttl: Duration,
}

/// `rampart ca sign`
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    #[command(flatten)]
    common: CaCommon,
    /// Tenant of the device.
    #[arg(long)]
    tenant: String,
    /// Device id.
    #[arg(long)]
    device: String,
    /// The CSR (PEM, base64 or DER).
    #[arg(long)]
    csr: PathBuf,
    /// Issuance profile.
    #[arg(long, default_value = "device")]
    profile: String,
    /// Where to write the certificate (PEM).
    #[arg(long)]
    out: PathBuf,
}

/// `rampart ca bulk`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(false)))]
pub(crate) struct BulkArgs {
    #[command(flatten)]
    common: CaCommon,
    /// Tenant of the devices.
    #[arg(long)]
    tenant: String,
    /// Issuance profile.
    #[arg(long, default_value = "device")]
    profile: String,
    /// Generate this many P-256 keys here and certify them (factory provisioning).
    #[arg(long, group = "source")]
    count: Option<usize>,
    /// Device id prefix for --count; ids are the prefix and a zero-padded number.
    #[arg(long, default_value = "device-")]
    prefix: String,
    /// Sign every <device>.csr in this directory instead.
    #[arg(long, value_name = "DIR", group = "source")]
    csr_dir: Option<PathBuf>,
    /// Sign the requests of this file of JSON lines instead, one
    /// {"device":"..","csr":"<PEM or base64 DER>"} per line (`-`: standard input).
    #[arg(long, value_name = "FILE", group = "source")]
    csr_file: Option<PathBuf>,
    /// Output directory: <device>.pem (and <device>.key.pem, mode 0600, with --count). With
    /// --csr-file, the file of result lines, created (mode 0644) and synced every 256
    /// certificates (`-`: standard output).
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// With --csr-file, replace an existing output file.
    #[arg(long, requires = "csr_file")]
    force: bool,
    /// Signing threads [default: the number of cores].
    #[arg(long)]
    threads: Option<usize>,
}

/// `rampart ca issue-server`
#[derive(Debug, Args)]
pub(crate) struct IssueServerArgs {
    #[command(flatten)]
    common: CaCommon,
    /// Service name (the certificate's CN).
    #[arg(long, default_value = "broker")]
    name: String,
    /// DNS name or IP address the service is reached at (repeat for several).
    #[arg(long = "san", required = true)]
    sans: Vec<String>,
    /// Lifetime in days (capped at the issuing CA's expiry).
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Certificate chain output: the server certificate, then the issuing CA.
    #[arg(long)]
    cert_out: PathBuf,
    /// Key output (PKCS#8 PEM, mode 0600).
    #[arg(long)]
    key_out: PathBuf,
}

/// `rampart ca revoke`
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    common: CaCommon,
    /// Serial of one certificate (hex, as `openssl x509 -serial` prints it).
    #[arg(long, conflicts_with_all = ["tenant", "device"], required_unless_present = "device")]
    serial: Option<String>,
    /// Tenant of the device whose certificates are all revoked.
    #[arg(long, requires = "device")]
    tenant: Option<String>,
    /// Device whose certificates are all revoked.
    #[arg(long, requires = "tenant")]
    device: Option<String>,
    /// Reason recorded in the CRL.
    #[arg(long, value_enum, default_value = "unspecified")]
    reason: Reason,
    /// Also disable the device at the broker (`[identity.broker]`), closing its open
    /// connections now rather than at its next handshake.
    #[arg(long)]
    cut_sessions: bool,
}

/// `rampart ca crl`
#[derive(Debug, Args)]
pub(crate) struct CrlArgs {
    #[command(flatten)]
    common: CaCommon,
}

/// Parses `90`, `90s`, `15m`, `24h`, `7d`.
fn parse_ttl(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with s, m, h or d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: unit must be s, m, h or d")),
    };
    match n.checked_mul(mult) {
        Some(0) => Err("the lifetime must be positive".into()),
        Some(secs) if secs <= 366 * 86_400 => Ok(Duration::from_secs(secs)),
        _ => Err(format!("{s:?}: at most 366 days")),
    }
}

fn tenant_device(tenant: &str, device: &str) -> anyhow::Result<(TenantId, DeviceId)> {
    Ok((
        TenantId::parse(tenant).context("--tenant")?,
        DeviceId::parse(device).context("--device")?,
    ))
}

/// Writes `bytes` to `path` with `mode` (replacing any file there).
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // An existing file keeps its mode on open: set it exactly.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| f.write_all(bytes))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

pub(crate) async fn run(cmd: CaCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CaCommand::Init(a) => init(a).await,
        CaCommand::Show(a) => show(a).await,
        CaCommand::Rotate(a) => rotate(a).await,
        CaCommand::IssueToken(a) => issue_token(a).await,
        CaCommand::Sign(a) => sign(a).await,
        CaCommand::Bulk(a) => bulk::run(a).await,
        CaCommand::IssueServer(a) => issue_server(a).await,
        CaCommand::Revoke(a) => revoke(a).await,
        CaCommand::Crl(a) => crl(a).await,
        CaCommand::Audit(a) => audit::run(a).await,
    }
}

async fn init(a: InitArgs) -> anyhow::Result<ExitCode> {
    let r = a.common.resolve()?;
    let dir = r.dir.clone();
    let out = tokio::task::spawn_blocking(move || init_blocking(&a, r))
        .await
        .context("ca init stopped")??;
    println!("CA created in {}", dir.display());
    print_status(&out);
    println!(
        "brokers: cafile {} and crlfile {}",
        dir.join("chain.pem").display(),
        dir.join("crl.pem").display()
    );
    Ok(ExitCode::SUCCESS)
}

fn init_blocking(a: &InitArgs, r: Resolved) -> anyhow::Result<IdentityStatus> {
    let dir = &r.dir;
    if identity::is_initialised(dir) {
        bail!("a CA already exists in {}", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", dir.display()))?;
    let _lock = identity::lock_dir(dir)?;
    let root_key_path = match &a.offline_root_dir {
        None => None,
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            if std::fs::canonicalize(d).ok() == std::fs::canonicalize(dir).ok() {
                bail!("--offline-root-dir must not be the CA directory");
            }
            let p = d.join("root.key.pem");
            if p.exists() {
                bail!("{} exists: refusing to overwrite a root key", p.display());
            }
            Some(p)
        }
    };
    let protection = match &r.passphrase {
        Some(p) => KeyProtection::passphrase(p.clone()),
        None => KeyProtection::none(),
    };
    let opts = InitOptions {
        name: a.name.clone(),
        algorithm: match a.algorithm {
            Algorithm::P256 => KeyAlgorithm::EcdsaP256,
            Algorithm::Ed25519 => KeyAlgorithm::Ed25519,
        },
        root_key_path: root_key_path.clone(),
        root_key_protection: protection.clone(),
        issuing_key_protection: protection,
        ..InitOptions::default()
    };
    Ca::init(dir, &opts).with_context(|| format!("creating the CA in {}", dir.display()))?;
    let auth = Authority::open(dir, r.passphrase.as_ref(), AuthorityConfig::default())?;
    auth.publish_crl()?;
    let status = identity::inspect_status(&auth)?;
    let mut keys: Vec<PathBuf> = status.key_files.iter().map(|k| k.path.clone()).collect();
    keys.extend(root_key_path);
    for k in keys {
        let mode = std::fs::metadata(&k)?.permissions().mode() & 0o777;
        if mode != 0o600 {
            bail!("key file {} has mode {mode:o}, expected 600", k.display());
        }
    }
    Ok(status)
}

fn print_status(s: &IdentityStatus) {
    println!("CA directory   {}", s.ca_dir.display());
    println!("root           {}", s.root.subject);
    println!(
        "  valid        {} .. {}",
        s.root.not_before, s.root.not_after
    );
    println!("  sha256       {}", s.root.sha256);
    println!(
        "  key          {}",
        if s.root_key_offline {
            "offline (not in the CA directory)"
        } else {
            "root.key.pem in the CA directory"
        }
    );
    for i in &s.issuing {
        let role = if i.current {
            "current".to_owned()
        } else {
            format!(
                "previous, retires {}",
                i.retire_after.as_deref().unwrap_or("-")
            )
        };
        println!("{:<14} {} ({role})", i.id, i.certificate.subject);
        println!(
            "  valid        {} .. {}",
            i.certificate.not_before, i.certificate.not_after
        );
        println!("  sha256       {}", i.certificate.sha256);
    }
    println!(
        "CRL            number {}, this update {}, next update {}",
        s.crl_number,
        s.crl_this_update.as_deref().unwrap_or("-"),
        s.crl_next_update.as_deref().unwrap_or("-")
    );
    println!(
        "certificates   {} issued, {} revoked",
        s.certificates, s.revoked
    );
    println!("tokens         {} outstanding", s.tokens_outstanding);
    for k in &s.key_files {
        println!(
            "key file       {} mode {} {}",
            k.path.display(),
            k.mode,
            if k.encrypted { "encrypted" } else { "plain" }
        );
    }
}

async fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let status = a.common.service(false).await?.status().await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_status(&status);
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate(a: RotateArgs) -> anyhow::Result<ExitCode> {
    let r = a.common.resolve()?;
    let pass = r.passphrase.clone();
    let service = a.common.service(false).await?;
    let root_path = a.offline_root_dir.map(|d| d.join("root.key.pem"));
    let overlap = time::Duration::days(i64::from(a.overlap_days));
    let id = service
        .with_authority(move |auth| {
            let root = auth
                .ca()
                .load_root_key(root_path.as_deref(), pass.as_ref())?;
            let protection = match &pass {
                Some(p) => KeyProtection::passphrase(p.clone()),
                None => KeyProtection::none(),
            };
            Ok(auth.rotate(root, overlap, &protection)?)
        })
        .await?;
    let reload = service.run_reload_command().await;
    println!(
        "issuing CA rotated: {id} is current; the previous one stays in chain.pem for {} days",
        a.overlap_days
    );
    println!(
        "reload brokers so they read {} (crl reload command: {})",
        service.dir().join("chain.pem").display(),
        reload_text(&reload)
    );
    Ok(ExitCode::SUCCESS)
}

async fn issue_token(a: IssueTokenArgs) -> anyhow::Result<ExitCode> {
    let (tenant, device) = tenant_device(&a.tenant, &a.device)?;
    let token = a
        .common
        .service(false)
        .await?
        .issue_token(&tenant, &device, &a.profile, a.ttl)
        .await?;
    eprintln!(
        "enrolment token for {tenant}/{device} (profile {}), valid {}s, usable once; it is \
         not shown again:",
        a.profile,
        a.ttl.as_secs()
    );
    println!("{}", token.expose());
    Ok(ExitCode::SUCCESS)
}

async fn sign(a: SignArgs) -> anyhow::Result<ExitCode> {
    let (tenant, device) = tenant_device(&a.tenant, &a.device)?;
    let body = std::fs::read(&a.csr).with_context(|| format!("reading {}", a.csr.display()))?;
    let der = rampart_identity::csr::decode_body(&body)
        .with_context(|| format!("{}", a.csr.display()))?;
    let profile = a.profile.clone();
    let issued = a
        .common
        .service(false)
        .await?
        .with_authority(move |auth| Ok(auth.issue(&tenant, &device, &profile, &der)?))
        .await?;
    write_file(&a.out, issued.cert_pem.as_bytes(), 0o644)?;
    println!(
        "certificate for {}/{} written to {}: serial {}, valid until {}",
        issued.record.tenant,
        issued.record.subject,
        a.out.display(),
        issued.record.serial,
        time::OffsetDateTime::from_unix_timestamp(issued.record.not_after)
            .map_or_else(|_| "-".to_owned(), |t| t.to_string())
    );
    Ok(ExitCode::SUCCESS)
}

async fn issue_server(a: IssueServerArgs) -> anyhow::Result<ExitCode> {
    let (name, sans) = (a.name.clone(), a.sans.clone());
    let days = time::Duration::days(i64::from(a.days));
    let (chain, key) = a
        .common
        .service(false)
        .await?
        .with_authority(move |auth| {
            let (issued, key) = auth.issue_server(&name, &sans, days)?;
            let chain = format!("{}{}", issued.cert_pem, auth.ca().current().cert_pem);
            Ok((chain, key))
        })
        .await?;
    write_file(&a.key_out, key.as_bytes(), 0o600)?;
    write_file(&a.cert_out, chain.as_bytes(), 0o644)?;
    println!(
        "server certificate for {} ({}) written to {}, key (0600) to {}",
        a.name,
        a.sans.join(", "),
        a.cert_out.display(),
        a.key_out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn reload_text(r: &ReloadOutcome) -> String {
    match r {
        ReloadOutcome::NotConfigured => "not configured".into(),
        ReloadOutcome::Ok => "ok".into(),
        ReloadOutcome::Failed(e) => format!("FAILED: {e}"),
    }
}

async fn revoke(a: RevokeArgs) -> anyhow::Result<ExitCode> {
    // Without --cut-sessions the service has no broker, so nothing is disabled there.
    let service = a.common.service(a.cut_sessions).await?;
    if a.cut_sessions && !service.has_broker() {
        bail!("--cut-sessions needs an [identity.broker] section in the configuration (--config)");
    }
    let report = match (&a.serial, &a.tenant, &a.device) {
        (Some(s), _, _) => {
            service
                .revoke_serial(&Serial::parse(s)?, a.reason.into())
                .await?
        }
        (None, Some(t), Some(d)) => {
            let (t, d) = tenant_device(t, d)?;
            service.revoke_device(&t, &d, a.reason.into()).await?
        }
        _ => bail!("give --serial, or --tenant and --device"),
    };
    let who = format!("{}/{}", report.tenant, report.device);
    if report.revoked.is_empty() {
        println!("{who}: nothing newly revoked (already revoked)");
    }
    for s in &report.revoked {
        println!("revoked {who} serial {s}");
    }
    println!(
        "CRL {} published to {}",
        report.crl_number,
        report.crl_path.display()
    );
    println!("crl reload command: {}", reload_text(&report.reload));
    let code = match &report.session_cut {
        SessionCut::NotRequested => ExitCode::SUCCESS,
        SessionCut::Disabled => {
            println!(
                "broker: client {} disabled, its connections closed",
                report.device
            );
            ExitCode::SUCCESS
        }
        SessionCut::AlreadyDisabled => {
            println!("broker: client {} was already disabled", report.device);
            ExitCode::SUCCESS
        }
        SessionCut::NotFound => {
            println!(
                "broker: no client named {} (nothing to disable)",
                report.device
            );
            ExitCode::SUCCESS
        }
        SessionCut::Error(e) => {
            eprintln!(
                "error: the certificates are revoked, but the broker session cut failed: {e}"
            );
            ExitCode::FAILURE
        }
    };
    Ok(code)
}

async fn crl(a: CrlArgs) -> anyhow::Result<ExitCode> {
    let service = a.common.service(false).await?;
    let (number, reload) = service.publish_crl().await?;
    println!(
        "CRL {number} published to {} and {}",
        service.dir().join("crl.pem").display(),
        service.dir().join("crl.der").display()
    );
    println!("crl reload command: {}", reload_text(&reload));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_ttl("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_ttl("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert!(parse_ttl("0h").is_err());
        assert!(parse_ttl("1y").is_err());
        assert!(parse_ttl("400d").is_err());
        assert!(parse_ttl("h").is_err());
    }
}
