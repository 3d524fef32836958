//! `rampart serve`: the platform in one process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use metrics_exporter_prometheus::PrometheusBuilder;
use rampart_api::ApiState;

use crate::admin::{bootstrap_admin, ensure_default_tenant};
use crate::settings::StoreArgs;

/// Flags of `rampart serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address of the HTTP API [default: 127.0.0.1:8080].
    #[arg(long, env = "RAMPART_LISTEN")]
    listen: Option<SocketAddr>,
    /// UDP address of the RADIUS accounting server, or `off` [default: `[radius] listen`, else
    /// 127.0.0.1:1813].
    #[arg(long, env = "RAMPART_RADIUS_LISTEN")]
    radius_listen: Option<String>,
    /// UDP addresses of the NetFlow/IPFIX collector (comma-separated), or `off` [default:
    /// `[netflow] listen`, else 127.0.0.1:2055 and 127.0.0.1:4739].
    #[arg(long, env = "RAMPART_NETFLOW_LISTEN")]
    netflow_listen: Option<String>,
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = args.store.resolve()?;
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });

    let store = settings.open().await?;
    tracing::info!(store = %settings.store_description(), "store open");
    ensure_default_tenant(store.as_ref()).await?;
    bootstrap_admin(&settings, store.as_ref()).await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ignored = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        // An error means the sender is gone, which only happens at exit.
        let _ignored = rx.wait_for(|s| *s).await;
    };
    let bus = rampart_bus::Bus::default();
    let radius = crate::radius::start(
        &settings,
        args.radius_listen.as_deref(),
        store.clone(),
        bus.clone(),
        stopped(stop_rx.clone()),
    )
    .await?;
    let (radius, attributor) = match radius {
        Some((task, attributor)) => (Some(task), Some(attributor)),
        None => (None, None),
    };
    let identity = crate::identity::start(&settings, stop_rx.clone()).await?;
    // Detection's registry look-ups, shared with the responder.
    let registry = Arc::new(crate::context::RegistryContext::new(
        store.clone(),
        tokio::runtime::Handle::current(),
        Duration::from_secs(settings.config.signals.context_ttl_secs),
        settings.config.signals.context_capacity,
    ));
    let response = crate::response::start(
        &settings,
        store.clone(),
        attributor.clone(),
        identity.service.clone(),
        registry.clone(),
        stop_rx.clone(),
    )
    .await?;
    let detection = crate::detection::Detection::open(
        store.clone(),
        response.audit.clone(),
        &settings.config.live_detection().rules,
        stop_rx.clone(),
    )
    .await?;
    let signals = crate::signals::start(
        &settings,
        args.netflow_listen.as_deref(),
        attributor,
        &bus,
        store.clone(),
        Some(response.findings.clone()),
        &detection,
        registry,
        stop_rx.clone(),
    )
    .await?;

    let hygiene = crate::identity::audit::start(
        &settings,
        identity.service.clone(),
        store.clone(),
        response.findings.clone(),
        signals.live.clone(),
        stop_rx.clone(),
    )?;

    let addr = settings.listen(args.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the HTTP API to {addr}"))?;
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!(%addr, "http api listening");
    let app = rampart_api::router(
        hygiene
            .api(identity.api(ApiState::new(store, Some(metrics))))
            .with_live(signals.live.clone())
            .with_response(response.control.clone())
            .with_detection(detection.control())
            .with_audit(response.audit.clone()),
    );
    let app = identity.merge_into(app);
    // The peer address reaches the API's audit records of sign-ins and refusals.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped(stop_rx))
        .await
        .context("http server failed")?;
    if let Some(task) = radius
        && let Err(e) = task.await
    {
        tracing::warn!(error = %e, "radius accounting task failed");
    }
    signals.join().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before the process exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
