//! Rampart's REST API.
//!
//! Every route but `/healthz` requires a bearer token ([`auth`]); every registry operation is
//! confined to the caller's tenant; errors are JSON ([`error`]); the OpenAPI document at
//! `/api/v1/openapi.json` is generated from the handlers' annotations, so it cannot drift from
//! the code.

#![forbid(unsafe_code)]

mod admin;
pub mod audit;
pub mod auth;
mod catalog;
pub mod connectivity;
pub mod detection;
mod devices;
pub mod dto;
pub mod error;
mod extract;
pub mod hygiene;
pub mod identity;
pub mod response;
pub mod signals;
mod sims;
pub mod telemetry;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use rampart_store::Store;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{Auth, Caller};
pub use error::ApiError;
use response::routes as incidents;

/// Largest request body accepted (bulk loads go through `rampart devices import`, not the API).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The registry.
    pub store: Arc<dyn Store>,
    /// Token verification.
    pub auth: Arc<Auth>,
    /// Prometheus registry to render at `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// Live flow counters and findings, when this process runs the signal pipeline.
    pub live: Option<Arc<dyn signals::LiveView>>,
    /// Incidents, playbooks, approvals and mass actions, when this process runs the response
    /// engine.
    pub response: Option<Arc<dyn response::ResponseControl>>,
    /// Detection rules and suppression windows, when this process runs live detection.
    pub detection: Option<Arc<dyn detection::DetectionControl>>,
    /// The audit trail for sign-ins and administration, when the server keeps one.
    pub audit: Option<Arc<dyn audit::AuditTrail>>,
    /// Device certificates and their revocation, when this process runs the identity
    /// authority.
    pub identity: Option<Arc<dyn identity::IdentityControl>>,
    /// The identity hygiene audit, when this process runs it.
    pub hygiene: Option<Arc<dyn hygiene::IdentityAudit>>,
}

impl ApiState {
    /// State over `store`, rendering `metrics` if given.
    pub fn new(store: Arc<dyn Store>, metrics: Option<PrometheusHandle>) -> Self {
        Self {
            auth: Arc::new(Auth::new(store.clone())),
            store,
            metrics,
            live: None,
            response: None,
            detection: None,
            audit: None,
            identity: None,
            hygiene: None,
        }
    }

    /// The same state, answering the identity audit routes from `hygiene`.
    pub fn with_hygiene(mut self, hygiene: Arc<dyn hygiene::IdentityAudit>) -> Self {
        self.hygiene = Some(hygiene);
        self
    }

    /// The same state, answering the certificate routes from `identity`.
    pub fn with_identity(mut self, identity: Arc<dyn identity::IdentityControl>) -> Self {
        self.identity = Some(identity);
        self
    }

    /// The same state, recording sign-ins, refusals and administration to `audit`.
    pub fn with_audit(mut self, audit: Arc<dyn audit::AuditTrail>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Appends `record` to the audit trail, if there is one.
    pub(crate) fn audit(&self, record: &serde_json::Value) {
        if let Some(a) = &self.audit {
            a.record(record);
        }
    }

    /// The same state, answering the live routes from `live`.
    pub fn with_live(mut self, live: Arc<dyn signals::LiveView>) -> Self {
        self.live = Some(live);
        self
    }

    /// The same state, answering the rule and suppression routes from `detection`.
    pub fn with_detection(mut self, detection: Arc<dyn detection::DetectionControl>) -> Self {
        self.detection = Some(detection);
        self
    }

    /// The same state, answering the incident response routes from `response`.
    pub fn with_response(mut self, response: Arc<dyn response::ResponseControl>) -> Self {
        self.response = Some(response);
        self
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Rampart API", description = "IoT fleet security platform: registry of devices, SIMs, profiles and groups; live signals; incident response."),
    modifiers(&BearerScheme),
    security(("bearer" = [])),
    tags((name = "devices"), (name = "sims"), (name = "connectivity"), (name = "signals"), (name = "response"), (name = "detection"), (name = "identity"), (name = "profiles"), (name = "groups"), (name = "admin"))
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes and their OpenAPI document.
fn api_routes() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(devices::list_devices, devices::create_device))
        .routes(routes!(
            devices::get_device,
            devices::put_device,
            devices::patch_device,
            devices::delete_device
        ))
        .routes(routes!(connectivity::device_usage))
        .routes(routes!(identity::routes::device_certificates))
        .routes(routes!(identity::routes::revoke_device))
        .routes(routes!(identity::routes::revoke_certificate))
        .routes(routes!(hygiene::last_audit, hygiene::run_audit))
        .routes(routes!(connectivity::list_sessions))
        .routes(routes!(connectivity::list_unknown_imsis))
        .routes(routes!(signals::device_traffic))
        .routes(routes!(signals::list_findings))
        .routes(routes!(detection::list_rules))
        .routes(routes!(
            detection::get_rule,
            detection::put_rule,
            detection::delete_rule
        ))
        .routes(routes!(
            detection::list_suppressions,
            detection::create_suppression
        ))
        .routes(routes!(
            detection::get_suppression,
            detection::delete_suppression
        ))
        .routes(routes!(incidents::list_incidents))
        .routes(routes!(incidents::get_incident, incidents::update_incident))
        .routes(routes!(incidents::undo_incident))
        .routes(routes!(incidents::list_playbooks))
        .routes(routes!(incidents::put_playbook, incidents::delete_playbook))
        .routes(routes!(incidents::dry_run_playbook))
        .routes(routes!(incidents::list_approvals))
        .routes(routes!(incidents::approve_approval))
        .routes(routes!(incidents::deny_approval))
        .routes(routes!(
            incidents::list_mass_actions,
            incidents::create_mass_action
        ))
        .routes(routes!(incidents::get_mass_action))
        .routes(routes!(incidents::approve_mass_action))
        .routes(routes!(incidents::abort_mass_action))
        .routes(routes!(incidents::undo_mass_action))
        .routes(routes!(sims::list_sims, sims::create_sim))
        .routes(routes!(sims::get_sim, sims::patch_sim, sims::delete_sim))
        .routes(routes!(catalog::list_profiles, catalog::put_profile))
        .routes(routes!(catalog::get_profile, catalog::delete_profile))
        .routes(routes!(catalog::list_groups, catalog::put_group))
        .routes(routes!(catalog::get_group, catalog::delete_group))
        .routes(routes!(admin::list_tenants, admin::create_tenant))
        .routes(routes!(admin::list_tokens, admin::create_token))
        .routes(routes!(admin::delete_token))
        .split_for_parts()
}

/// The OpenAPI document, as served.
pub fn openapi_json() -> String {
    api_routes()
        .1
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
}

/// The whole HTTP surface: `/healthz` open, everything else behind a bearer token.
pub fn router(state: ApiState) -> Router {
    let (api, openapi) = api_routes();
    let openapi = Arc::new(openapi.to_pretty_json().unwrap_or_else(|_| "{}".to_owned()));
    let protected = api
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], (*doc).clone()) }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), auth::authenticate));
    Router::new()
        .route("/healthz", get(healthz))
        .method_not_allowed_fallback(method_not_allowed)
        .merge(protected)
        .layer(from_fn(telemetry::record))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
        .with_state(state)
}

async fn healthz(State(st): State<ApiState>) -> impl IntoResponse {
    match st.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "reason": "store"})),
            )
        }
    }
}

async fn metrics(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(rampart_core::Role::Viewer)?;
    let body = st
        .metrics
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "the route does not support this method",
    )
}
