//! `rampart`: one binary for the whole platform. `rampart serve` runs it; the other subcommands
//! administer the registry directly on the data directory or database.

#![forbid(unsafe_code)]

mod admin;
mod analyze;
mod audit;
mod bench;
mod ca;
mod context;
mod detection;
mod detection_cli;
mod devices;
mod eval;
mod identity;
mod intel;
mod radius;
mod respond_cli;
mod response;
mod serve;
mod settings;
mod signals;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// IoT fleet security platform.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about)]
struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `rampart=debug`.
    #[arg(long, env = "RAMPART_LOG", default_value = "info", global = true)]
    log: String,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "RAMPART_LOG_JSON", global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform: API and all configured listeners.
    Serve(serve::ServeArgs),
    /// Manage the device and SIM registry.
    #[command(subcommand)]
    Devices(devices::DevicesCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Tokens(admin::TokensCommand),
    /// Manage tenants.
    #[command(subcommand)]
    Tenants(admin::TenantsCommand),
    /// Load generators for benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Check a configuration file and print the effective settings.
    CheckConfig(settings::StoreArgs),
    /// Analyse captures and logs offline (pcap, pcapng, Zeek, Suricata EVE) on event time.
    Analyze(analyze::AnalyzeArgs),
    /// Simulate a fleet on the wire: RADIUS accounting, NetFlow/IPFIX and MQTT metrics, with
    /// optional misbehaving devices.
    Simulate(simulate::SimulateArgs),
    /// Score detection against labelled flows (IoT-23 style).
    Eval(eval::EvalArgs),
    /// Device identity authority: CA, enrolment tokens, issuance, revocation, CRLs.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// The tamper-evident audit log: verify, export.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Incidents of the serving process: list, show, update, undo.
    #[command(subcommand)]
    Incidents(respond_cli::IncidentsCommand),
    /// Mass actions of the serving process: create (or dry-run), list, show, approve, abort,
    /// undo.
    #[command(subcommand)]
    MassActions(respond_cli::MassCommand),
    /// Playbooks: check a directory locally, upload one through the API.
    #[command(subcommand)]
    Playbooks(respond_cli::PlaybooksCommand),
    /// Detection rules of the serving process: list, show, put a file, delete.
    #[command(subcommand)]
    Rules(detection_cli::RulesCommand),
    /// Suppression windows of the serving process: list, show, create, delete.
    #[command(subcommand)]
    Suppressions(detection_cli::SuppressionsCommand),
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log, cli.log_json);
    // One TLS crypto provider for the whole process (aws-lc-rs), chosen before anything can
    // build a TLS config.
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Devices(cmd) => devices::run(cmd).await,
            Command::Tokens(cmd) => admin::tokens(cmd).await,
            Command::Tenants(cmd) => admin::tenants(cmd).await,
            Command::Bench(cmd) => bench::run(cmd).await,
            Command::CheckConfig(args) => settings::check(&args),
            Command::Ca(cmd) => ca::run(cmd).await,
            Command::Audit(cmd) => audit::run(cmd),
            Command::Incidents(cmd) => respond_cli::incidents(cmd).await,
            Command::MassActions(cmd) => respond_cli::mass(cmd).await,
            Command::Playbooks(cmd) => respond_cli::playbooks(cmd).await,
            Command::Rules(cmd) => detection_cli::rules(cmd).await,
            Command::Suppressions(cmd) => detection_cli::suppressions(cmd).await,
            Command::Simulate(args) => simulate::run(args).await,
            Command::Eval(args) => tokio::task::spawn_blocking(move || eval::run(args))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("evaluation stopped: {e}"))),
            Command::Analyze(args) => tokio::task::spawn_blocking(move || analyze::run(args))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("analysis stopped: {e}"))),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(filter: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
