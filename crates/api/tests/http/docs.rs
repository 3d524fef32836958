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
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from {:?}", paths.keys()));
        for m in methods {
            assert!(item.get(*m).is_some(), "{path} lacks {m}");
        }
    }
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
