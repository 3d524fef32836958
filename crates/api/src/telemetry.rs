//! The API's metrics. Names follow `rampart_<component>_<what>`; labels are low-cardinality
//! (method, matched route, status), never a device or token id.

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::Instant;

/// Requests served, by method, route and status.
pub const HTTP_REQUESTS: &str = "rampart_http_requests_total";
/// Request latency in seconds, by method and route.
pub const HTTP_DURATION: &str = "rampart_http_request_duration_seconds";
/// Requests refused before reaching a handler (bad or missing token), by status.
pub const AUTH_REFUSED: &str = "rampart_api_auth_refused_total";

/// Middleware recording [`HTTP_REQUESTS`] and [`HTTP_DURATION`].
pub async fn record(req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let start = Instant::now();
    let resp = next.run(req).await;
    observe(&method, &route, resp.status(), start.elapsed());
    resp
}

fn observe(method: &str, route: &str, status: StatusCode, took: Duration) {
    metrics::counter!(HTTP_REQUESTS, "method" => method.to_owned(), "route" => route.to_owned(),
        "status" => status.as_u16().to_string())
    .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method.to_owned(), "route" => route.to_owned())
        .record(took.as_secs_f64());
}

/// Counts a refused request.
pub(crate) fn auth_refused(status: StatusCode) {
    metrics::counter!(AUTH_REFUSED, "status" => status.as_u16().to_string()).increment(1);
}
