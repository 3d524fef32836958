use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// 1. Authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn healthz_is_open_and_everything_else_needs_a_valid_token() {
    let app = App::sqlite().await;

    let r = app.send(get("/healthz")).await;
    r.expect(200);
    assert_eq!(r.json, json!({"status": "ok"}));

    let routes = [
        get("/api/v1/devices"),
        get("/api/v1/devices/meter-1"),
        get("/api/v1/sims"),
        get("/api/v1/tenants"),
        get("/api/v1/tokens"),
        get("/metrics"),
        get("/api/v1/openapi.json"),
        get("/nope"),
        get("/api/v1/nope"),
        req(Method::PUT, "/api/v1/sims"),
        post("/api/v1/devices", &json!({"id": "sneaky"})),
        post("/api/v1/tokens", &json!({"name": "x", "role": "admin"})),
        delete("/api/v1/tokens/tok_bootstrap"),
    ];
    let credentials: [Option<&str>; 8] = [
        None,
        Some("Bearer rmp_wrong"),
        Some("Bearer rmp_test_platform_admin_secreT"),
        Some("Basic dXNlcjpwYXNz"),
        Some(ROOT),
        Some("Bearer"),
        Some("Bearer    "),
        Some("Token rmp_test_platform_admin_secret"),
    ];
    for route in routes {
        for cred in credentials {
            let mut r = req(route.method.clone(), &route.uri);
            r.headers.clone_from(&route.headers);
            r.body.clone_from(&route.body);
            if let Some(c) = cred {
                r = r.header("authorization", c);
            }
            let resp = app.send(r).await;
            assert_eq!(
                resp.status,
                StatusCode::UNAUTHORIZED,
                "{} {} with {cred:?}: {}",
                route.method,
                route.uri,
                resp.text
            );
            resp.expect_error(401, "unauthorized");
        }
    }

    // Nothing was written by the refused requests; the real token still works.
    let r = app.send(get("/api/v1/devices").auth(ROOT)).await;
    r.expect(200);
    assert_eq!(r.json["items"], json!([]));
    let r = app.send(get("/api/v1/tokens").auth(ROOT)).await;
    r.expect(200);
    assert_eq!(r.json.as_array().unwrap().len(), 1);

    // An unknown route with a valid token is a JSON 404, not a 401.
    app.send(get("/nope").auth(ROOT))
        .await
        .expect_error(404, "not_found");

    // A known route with a method it does not have: JSON 405 with Allow, after authentication.
    let r = app.send(req(Method::PUT, "/api/v1/sims").auth(ROOT)).await;
    r.expect_error(405, "method_not_allowed");
    let allow = r.headers[header::ALLOW].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    app.send(post("/healthz", &json!({})))
        .await
        .expect_error(405, "method_not_allowed");

    // /healthz does not care about credentials.
    app.send(get("/healthz").header("authorization", "Bearer rmp_wrong"))
        .await
        .expect(200);
}
