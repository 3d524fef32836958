use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// 4. Authorisation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn roles_are_enforced() {
    let app = App::sqlite().await;
    let (_, viewer) = app.token(ROOT, "viewer", Some("default")).await;
    let (_, operator) = app.token(ROOT, "operator", Some("default")).await;
    app.send(post("/api/v1/devices", &json!({"id": "dev-1"})).auth(ROOT))
        .await
        .expect(201);
    app.send(post("/api/v1/sims", &sim_body(1, Some("dev-1"))).auth(ROOT))
        .await
        .expect(201);

    // The viewer reads...
    assert_eq!(app.device_ids(&viewer, "").await, ["dev-1"]);
    app.send(get("/api/v1/devices/dev-1").auth(&viewer))
        .await
        .expect(200);
    app.send(get("/api/v1/sims").auth(&viewer))
        .await
        .expect(200);
    app.send(get(&format!("/api/v1/sims/{}", imsi(1))).auth(&viewer))
        .await
        .expect(200);
    app.send(get("/api/v1/profiles").auth(&viewer))
        .await
        .expect(200);
    app.send(get("/metrics").auth(&viewer)).await.expect(200);
    app.send(get("/api/v1/openapi.json").auth(&viewer))
        .await
        .expect(200);
    // ... and writes nothing.
    let refused = [
        post("/api/v1/devices", &json!({"id": "dev-2"})),
        patch("/api/v1/devices/dev-1", &json!({"state": "disabled"})),
        delete("/api/v1/devices/dev-1"),
        post("/api/v1/sims", &sim_body(2, None)),
        patch(
            &format!("/api/v1/sims/{}", imsi(1)),
            &json!({"imei_policy": "none"}),
        ),
        delete(&format!("/api/v1/sims/{}", imsi(1))),
        post("/api/v1/profiles", &json!({"name": "camera"})),
        post("/api/v1/tokens", &json!({"name": "mine", "role": "viewer"})),
        get("/api/v1/tokens"),
        post("/api/v1/tenants", &json!({"id": "mine"})),
        get("/api/v1/tenants"),
    ];
    for r in refused {
        let what = format!("{} {}", r.method, r.uri);
        let resp = app.send(r.auth(&viewer)).await;
        assert_eq!(
            resp.status,
            StatusCode::FORBIDDEN,
            "viewer {what}: {}",
            resp.text
        );
        resp.expect_error(403, "forbidden");
    }
    let r = app.send(get("/api/v1/devices/dev-1").auth(ROOT)).await;
    assert_eq!(r.json["state"], "active");
    assert_eq!(r.json["sims"].as_array().unwrap().len(), 1);

    // The operator writes the registry...
    app.send(post("/api/v1/devices", &json!({"id": "dev-2"})).auth(&operator))
        .await
        .expect(201);
    let r = app
        .send(patch("/api/v1/devices/dev-2", &json!({"state": "disabled"})).auth(&operator))
        .await;
    r.expect(200);
    assert_eq!(r.json["state"], "disabled");
    app.send(post("/api/v1/sims", &sim_body(2, Some("dev-2"))).auth(&operator))
        .await
        .expect(201);
    app.send(post("/api/v1/profiles", &json!({"name": "camera"})).auth(&operator))
        .await
        .expect(201);
    app.send(delete("/api/v1/devices/dev-2").auth(&operator))
        .await
        .expect(204);
    // ... but not who may use it.
    let refused = [
        post("/api/v1/tokens", &json!({"name": "mine", "role": "viewer"})),
        post("/api/v1/tokens", &json!({"name": "mine", "role": "admin"})),
        get("/api/v1/tokens"),
        delete("/api/v1/tokens/tok_bootstrap"),
        post("/api/v1/tenants", &json!({"id": "mine"})),
        get("/api/v1/tenants"),
    ];
    for r in refused {
        let what = format!("{} {}", r.method, r.uri);
        let resp = app.send(r.auth(&operator)).await;
        assert_eq!(
            resp.status,
            StatusCode::FORBIDDEN,
            "operator {what}: {}",
            resp.text
        );
        resp.expect_error(403, "forbidden");
    }
    let r = app.send(get("/api/v1/tokens").auth(ROOT)).await;
    r.expect(200);
    assert_eq!(r.json.as_array().unwrap().len(), 3, "{}", r.text);
    let r = app.send(get("/api/v1/tenants").auth(ROOT)).await;
    assert_eq!(r.json.as_array().unwrap().len(), 1, "{}", r.text);

    // Token input is checked.
    app.send(post("/api/v1/tokens", &json!({"name": "x", "role": "root"})).auth(ROOT))
        .await
        .expect_error(422, "invalid");
    app.send(
        post(
            "/api/v1/tokens",
            &json!({"name": "x", "role": "viewer", "tenant": "nosuch"}),
        )
        .auth(ROOT),
    )
    .await
    .expect_error(404, "not_found");
    app.send(post("/api/v1/tokens", &json!({"name": "", "role": "viewer"})).auth(ROOT))
        .await
        .expect_error(400, "bad_request");
}

/// A platform admin that addresses a tenant gets tokens for that tenant by default, so a
/// "viewer for tenant X" made that way cannot read other tenants.
#[tokio::test]
async fn platform_admin_addressing_a_tenant_creates_tokens_for_it() {
    let app = App::sqlite().await;
    for t in ["x", "y"] {
        app.send(post("/api/v1/tenants", &json!({"id": t})).auth(ROOT))
            .await
            .expect(201);
    }
    let r = app
        .send(
            post(
                "/api/v1/tokens",
                &json!({"name": "x viewer", "role": "viewer"}),
            )
            .auth(ROOT)
            .tenant("x"),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json["token"]["tenant"], "x", "{}", r.text);
    let viewer = r.json["secret"].as_str().unwrap().to_owned();
    app.send(get("/api/v1/devices").auth(&viewer).tenant("y"))
        .await
        .expect_error(403, "forbidden");
    // Without the header and without a tenant field: a platform token, as asked.
    let r = app
        .send(
            post(
                "/api/v1/tokens",
                &json!({"name": "platform viewer", "role": "viewer"}),
            )
            .auth(ROOT),
        )
        .await;
    r.expect(201);
    assert!(r.json["token"]["tenant"].is_null(), "{}", r.text);
}

#[tokio::test]
async fn deleted_token_stops_working_at_once() {
    let app = App::sqlite().await;
    let (id, secret) = app.token(ROOT, "operator", Some("default")).await;
    // Used once, so it is in the verification cache.
    app.send(get("/api/v1/devices").auth(&secret))
        .await
        .expect(200);
    app.send(get("/api/v1/devices").auth(&secret))
        .await
        .expect(200);

    app.send(delete(&format!("/api/v1/tokens/{id}")).auth(ROOT))
        .await
        .expect(204);
    app.send(get("/api/v1/devices").auth(&secret))
        .await
        .expect_error(401, "unauthorized");
    app.send(post("/api/v1/devices", &json!({"id": "late"})).auth(&secret))
        .await
        .expect_error(401, "unauthorized");
    app.send(delete(&format!("/api/v1/tokens/{id}")).auth(ROOT))
        .await
        .expect_error(404, "not_found");
    let r = app.send(get("/api/v1/tokens").auth(ROOT)).await;
    assert_eq!(ids(&r.json), ["tok_bootstrap"]);
    assert!(app.device_ids(ROOT, "").await.is_empty());
}

/// Two tenants, tokens confined to each, and what each can reach.
async fn tenant_isolation(app: &App) {
    app.tenant("a").await;
    app.tenant("b").await;
    let (admin_a_id, admin_a) = app.token(ROOT, "admin", Some("a")).await;
    let (op_a_id, op_a) = app.token(ROOT, "operator", Some("a")).await;
    let (op_b_id, op_b) = app.token(ROOT, "operator", Some("b")).await;

    // Tenant B's fleet.
    let r = app
        .send(
            post(
                "/api/v1/devices",
                &json!({"id": "dev-b1", "tags": ["shared-tag"],
                                               "ips": ["192.168.7.0/24"]}),
            )
            .auth(&op_b),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json["tenant"], "b");
    let r = app
        .send(post("/api/v1/sims", &sim_body(1, Some("dev-b1"))).auth(&op_b))
        .await;
    r.expect(201);
    assert_eq!(r.json["tenant"], "b");
    assert_eq!(app.device_ids(&op_b, "").await, ["dev-b1"]);

    // Tenant A sees none of it.
    app.send(get("/api/v1/devices/dev-b1").auth(&op_a))
        .await
        .expect_error(404, "not_found");
    assert!(app.device_ids(&op_a, "").await.is_empty());
    assert!(
        app.device_ids(&op_a, &format!("imsi={}", imsi(1)))
            .await
            .is_empty()
    );
    assert!(
        app.device_ids(&op_a, &format!("iccid={}", iccid(1)))
            .await
            .is_empty()
    );
    assert!(app.device_ids(&op_a, "tag=shared-tag").await.is_empty());
    assert!(app.device_ids(&op_a, "ip=192.168.7.9").await.is_empty());
    app.send(get(&format!("/api/v1/sims/{}", imsi(1))).auth(&op_a))
        .await
        .expect_error(404, "not_found");
    app.send(get(&format!("/api/v1/sims/{}", iccid(1))).auth(&op_a))
        .await
        .expect_error(404, "not_found");
    let r = app.send(get("/api/v1/sims").auth(&op_a)).await;
    r.expect(200);
    assert_eq!(r.json["items"], json!([]));
    // Nor can it change or delete it.
    app.send(patch("/api/v1/devices/dev-b1", &json!({"state": "disabled"})).auth(&op_a))
        .await
        .expect_error(404, "not_found");
    app.send(delete("/api/v1/devices/dev-b1").auth(&op_a))
        .await
        .expect_error(404, "not_found");
    app.send(
        patch(
            &format!("/api/v1/sims/{}", imsi(1)),
            &json!({"device_id": ""}),
        )
        .auth(&op_a),
    )
    .await
    .expect_error(404, "not_found");
    app.send(delete(&format!("/api/v1/sims/{}", imsi(1))).auth(&op_a))
        .await
        .expect_error(404, "not_found");
    // Nor bind its own SIM to B's device.
    app.send(post("/api/v1/sims", &sim_body(2, Some("dev-b1"))).auth(&op_a))
        .await
        .expect_error(404, "not_found");
    // Nor address tenant B through the header; its own tenant is fine.
    for r in [
        get("/api/v1/devices/dev-b1"),
        get("/api/v1/devices"),
        delete("/api/v1/devices/dev-b1"),
    ] {
        app.send(r.auth(&op_a).tenant("b"))
            .await
            .expect_error(403, "forbidden");
    }
    app.send(get("/api/v1/devices").auth(&op_a).tenant("a"))
        .await
        .expect(200);
    app.send(get("/api/v1/devices").auth(&op_a).tenant("nosuch"))
        .await
        .expect_error(403, "forbidden");

    // Ids are per tenant: A can have its own dev-b1. ICCIDs and IMSIs are global.
    let r = app
        .send(post("/api/v1/devices", &json!({"id": "dev-b1", "name": "A's"})).auth(&op_a))
        .await;
    r.expect(201);
    assert_eq!(r.json["tenant"], "a");
    let mut body = sim_body(3, None);
    body["iccid"] = json!(iccid(1));
    app.send(post("/api/v1/sims", &body).auth(&op_a))
        .await
        .expect_error(409, "conflict");
    let r = app.send(get("/api/v1/devices/dev-b1").auth(&op_a)).await;
    r.expect(200);
    assert_eq!(r.json["name"], "A's");
    assert_eq!(r.json["sims"], json!([]));
    let r = app.send(get("/api/v1/devices/dev-b1").auth(&op_b)).await;
    r.expect(200);
    assert_eq!(r.json["tenant"], "b");
    assert_eq!(r.json["name"], "");
    assert_eq!(r.json["sims"].as_array().unwrap().len(), 1);

    // A tenant admin manages its own tenant only.
    app.send(
        post(
            "/api/v1/tokens",
            &json!({"name": "x", "role": "viewer", "tenant": "b"}),
        )
        .auth(&admin_a),
    )
    .await
    .expect_error(403, "forbidden");
    app.send(
        post(
            "/api/v1/tokens",
            &json!({"name": "x", "role": "admin", "tenant": "b"}),
        )
        .auth(&admin_a),
    )
    .await
    .expect_error(403, "forbidden");
    let (own_id, own) = app.token(&admin_a, "viewer", Some("a")).await;
    // Omitting the tenant confines the new token to the admin's tenant, never the platform.
    let r = app
        .send(
            post(
                "/api/v1/tokens",
                &json!({"name": "implicit", "role": "admin"}),
            )
            .auth(&admin_a),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json["token"]["tenant"], "a");
    let implicit_id = r.json["token"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.device_ids(&own, "").await, ["dev-b1"]);
    let r = app.send(get("/api/v1/tokens").auth(&admin_a)).await;
    r.expect(200);
    let listed = r.json.as_array().unwrap();
    assert!(listed.iter().all(|t| t["tenant"] == "a"), "{}", r.text);
    let mut listed_ids = ids(&r.json);
    listed_ids.sort();
    let mut expected = vec![admin_a_id.clone(), op_a_id, own_id, implicit_id];
    expected.sort();
    assert_eq!(listed_ids, expected, "{}", r.text);
    assert!(!listed_ids.contains(&op_b_id));
    assert!(!listed_ids.contains(&"tok_bootstrap".to_owned()));
    // It cannot delete B's token or the platform token (they look absent), nor touch tenants.
    app.send(delete(&format!("/api/v1/tokens/{op_b_id}")).auth(&admin_a))
        .await
        .expect_error(404, "not_found");
    app.send(delete("/api/v1/tokens/tok_bootstrap").auth(&admin_a))
        .await
        .expect_error(404, "not_found");
    app.send(get("/api/v1/devices").auth(&op_b))
        .await
        .expect(200);
    app.send(post("/api/v1/tenants", &json!({"id": "c"})).auth(&admin_a))
        .await
        .expect_error(403, "forbidden");
    app.send(get("/api/v1/tenants").auth(&admin_a))
        .await
        .expect_error(403, "forbidden");

    // A platform admin addresses either tenant with the header, the default tenant without.
    let r = app
        .send(get("/api/v1/devices/dev-b1").auth(ROOT).tenant("b"))
        .await;
    r.expect(200);
    assert_eq!(r.json["tenant"], "b");
    let r = app
        .send(get("/api/v1/devices/dev-b1").auth(ROOT).tenant("a"))
        .await;
    r.expect(200);
    assert_eq!(r.json["tenant"], "a");
    app.send(get("/api/v1/devices/dev-b1").auth(ROOT))
        .await
        .expect_error(404, "not_found");
    let r = app
        .send(
            get(&format!("/api/v1/devices?imsi={}", imsi(1)))
                .auth(ROOT)
                .tenant("b"),
        )
        .await;
    r.expect(200);
    assert_eq!(ids(&r.json["items"]), ["dev-b1"]);
    assert_eq!(r.json["items"][0]["tenant"], "b");
    let r = app
        .send(
            post("/api/v1/devices", &json!({"id": "dev-b2"}))
                .auth(ROOT)
                .tenant("b"),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json["tenant"], "b");
    assert_eq!(app.device_ids(&op_b, "").await, ["dev-b1", "dev-b2"]);
    assert_eq!(app.device_ids(&op_a, "").await, ["dev-b1"]);
    app.send(get("/api/v1/devices").auth(ROOT).tenant("nosuch"))
        .await
        .expect_error(404, "not_found");
    app.send(get("/api/v1/devices").auth(ROOT).tenant("not a tenant!"))
        .await
        .expect_error(400, "bad_request");
    let r = app.send(get("/api/v1/tokens").auth(ROOT)).await;
    r.expect(200);
    let all = ids(&r.json);
    assert!(
        all.contains(&op_b_id) && all.contains(&admin_a_id),
        "{}",
        r.text
    );
    let r = app.send(get("/api/v1/tenants").auth(ROOT)).await;
    r.expect(200);
    let mut tenants = ids(&r.json);
    tenants.sort();
    assert_eq!(tenants, ["a", "b", "default"]);

    // Deleting B's operator token cuts it off at once.
    app.send(delete(&format!("/api/v1/tokens/{op_b_id}")).auth(ROOT))
        .await
        .expect(204);
    app.send(get("/api/v1/devices").auth(&op_b))
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn tenants_are_isolated_sqlite() {
    let app = App::sqlite().await;
    tenant_isolation(&app).await;
    app.cleanup().await;
}

#[tokio::test]
async fn tenants_are_isolated_postgres() {
    let Some(app) = App::postgres().await else {
        return;
    };
    let app = Arc::new(app);
    // Run in a task so that the schema is dropped even when an assertion fails.
    let outcome = tokio::spawn({
        let app = app.clone();
        async move { tenant_isolation(&app).await }
    })
    .await;
    match Arc::try_unwrap(app) {
        Ok(app) => app.cleanup().await,
        Err(_) => eprintln!("postgres api test: scratch schema still in use, not dropped"),
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
