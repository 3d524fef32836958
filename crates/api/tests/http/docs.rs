use serde_json::Value;

use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// 6. Metrics and OpenAPI
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn metrics_and_openapi_document() {
    let app = App::sqlite().await;

    let r = app.send(get("/metrics").auth(ROOT)).await;
    r.expect(200);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );

    let r = app.send(get("/api/v1/openapi.json").auth(ROOT)).await;
    r.expect(200);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    let doc: Value = serde_json::from_str(&r.text).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with('3'),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/devices", &["get", "post"][..]),
        ("/api/v1/devices/{id}", &["get", "put", "patch", "delete"]),
        ("/api/v1/sims", &["get", "post"]),
        ("/api/v1/sims/{key}", &["get", "patch", "delete"]),
        ("/api/v1/tokens", &["get", "post"]),
        ("/api/v1/tokens/{id}", &["delete"]),
        ("/api/v1/tenants", &["get", "post"]),
        ("/api/v1/incidents", &["get"]),
        ("/api/v1/incidents/{id}", &["get", "patch"]),
        ("/api/v1/incidents/{id}/undo", &["post"]),
        ("/api/v1/playbooks", &["get"]),
        ("/api/v1/playbooks/{name}", &["put", "delete"]),
        ("/api/v1/playbooks/{name}/dry-run", &["post"]),
        ("/api/v1/approvals", &["get"]),
        ("/api/v1/approvals/{id}/approve", &["post"]),
        ("/api/v1/approvals/{id}/deny", &["post"]),
        ("/api/v1/mass-actions", &["get", "post"]),
        ("/api/v1/mass-actions/{id}", &["get"]),
        ("/api/v1/mass-actions/{id}/approve", &["post"]),
        ("/api/v1/mass-actions/{id}/abort", &["post"]),
        ("/api/v1/mass-actions/{id}/undo", &["post"]),
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from {:?}", paths.keys()));
        for m in methods {
            assert!(item.get(*m).is_some(), "{path} lacks {m}");
        }
    }
    // Incident response is documented under its own tag, with its request bodies.
    assert_eq!(
        paths["/api/v1/incidents/{id}"]["patch"]["tags"],
        serde_json::json!(["response"])
    );
    assert!(
        doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "response"),
        "{}",
        doc["tags"]
    );
    let toml = &paths["/api/v1/playbooks/{name}"]["put"]["requestBody"]["content"];
    assert!(toml.get("application/toml").is_some(), "{toml}");
    assert!(toml.get("text/plain").is_some(), "{toml}");
    assert!(
        doc["components"]["schemas"]["IncidentUpdate"].is_object(),
        "{}",
        doc["components"]["schemas"]
    );
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"].as_str().unwrap().to_lowercase(), "bearer");
    assert!(
        doc["security"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.get("bearer").is_some()),
        "{}",
        doc["security"]
    );
    // The document served is the one the library renders.
    let rendered: Value = serde_json::from_str(&rampart_api::openapi_json()).unwrap();
    assert_eq!(rendered, doc);
}
