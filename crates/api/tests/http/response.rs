mod engine;

use std::sync::Arc;

use axum::http::Method;
use rampart_api::response::{IncidentQuery, MAX_PLAYBOOK_BYTES, ResponseControl, Visibility};
use rampart_core::TenantId;
use serde_json::{Value, json};

use self::engine::Recorder;
use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// 7. Incident response
// ---------------------------------------------------------------------------------------------

async fn app_with_engine() -> (App, Arc<Recorder>) {
    let engine = Arc::new(Recorder::default());
    let dyn_engine: Arc<dyn ResponseControl> = engine.clone();
    let app = App::sqlite_with(|state| state.with_response(dyn_engine)).await;
    (app, engine)
}

fn put_text(uri: &str, content_type: &str, text: impl Into<Vec<u8>>) -> Req {
    req(Method::PUT, uri).raw(Some(content_type), text)
}

fn post_empty(uri: &str) -> Req {
    req(Method::POST, uri)
}

const PLAYBOOK: &str = "[trigger]\nseverity = \"high\"\n";

/// One request per route with the engine operation it reaches, the status it answers with
/// a platform admin, and the target the engine sees.
fn every_route() -> Vec<(Req, &'static str, u16, &'static str)> {
    vec![
        (get("/api/v1/incidents"), "list_incidents", 200, ""),
        (get("/api/v1/incidents/inc-1"), "get_incident", 200, "inc-1"),
        (
            patch(
                "/api/v1/incidents/inc-1",
                &json!({"status": "acknowledged"}),
            ),
            "update_incident",
            200,
            "inc-1",
        ),
        (
            post_empty("/api/v1/incidents/inc-1/undo"),
            "undo_incident",
            200,
            "inc-1",
        ),
        (get("/api/v1/playbooks"), "list_playbooks", 200, ""),
        (
            put_text("/api/v1/playbooks/pb-1", "application/toml", PLAYBOOK),
            "put_playbook",
            200,
            "pb-1",
        ),
        (
            delete("/api/v1/playbooks/pb-1"),
            "delete_playbook",
            204,
            "pb-1",
        ),
        (
            post(
                "/api/v1/playbooks/pb-1/dry-run",
                &json!({"devices": ["dev-1"]}),
            ),
            "dry_run_playbook",
            200,
            "pb-1",
        ),
        (get("/api/v1/approvals"), "list_approvals", 200, ""),
        (
            post_empty("/api/v1/approvals/ap-1/approve"),
            "decide_approval",
            200,
            "ap-1",
        ),
        (
            post_empty("/api/v1/approvals/ap-1/deny"),
            "decide_approval",
            200,
            "ap-1",
        ),
        (
            post(
                "/api/v1/mass-actions?tenant=default",
                &json!({"action": "quarantine"}),
            ),
            "create_mass_action",
            201,
            "ok",
        ),
        (get("/api/v1/mass-actions"), "list_mass_actions", 200, ""),
        (
            get("/api/v1/mass-actions/ma-1"),
            "get_mass_action",
            200,
            "ma-1",
        ),
        (
            post_empty("/api/v1/mass-actions/ma-1/approve"),
            "approve_mass_action",
            200,
            "ma-1",
        ),
        (
            post_empty("/api/v1/mass-actions/ma-1/abort"),
            "abort_mass_action",
            200,
            "ma-1",
        ),
        (
            post_empty("/api/v1/mass-actions/ma-1/undo"),
            "undo_mass_action",
            200,
            "ma-1",
        ),
    ]
}

#[tokio::test]
async fn every_route_reaches_the_engine() {
    let (app, engine) = app_with_engine().await;
    for (request, op, status, target) in every_route() {
        let what = format!("{} {}", request.method, request.uri);
        let before = engine.count();
        let r = app.send(request.auth(ROOT)).await;
        assert_eq!(r.status.as_u16(), status, "{what}: {}", r.text);
        assert_eq!(engine.count(), before + 1, "{what}");
        let call = engine.last();
        assert_eq!(call.op, op, "{what}");
        assert_eq!(call.target, target, "{what}");
        if status != 204 {
            assert_eq!(r.json, json!({"op": op, "target": target}), "{what}");
        }
        // Writes are recorded under the token's name.
        if call.actor.is_some() {
            assert_eq!(call.actor.as_deref(), Some("bootstrap"), "{what}");
        }
        // A platform token that addresses no tenant sees every tenant's objects.
        if let Some(vis) = call.vis {
            assert_eq!(vis, Visibility::Platform, "{what}");
        }
    }

    // What the routes pass on.
    let calls = engine.calls();
    let find = |op: &str| {
        calls
            .iter()
            .filter(|c| c.op == op)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        find("update_incident")[0].payload,
        json!({"status": "acknowledged", "assignee": null, "note": null})
    );
    assert_eq!(find("put_playbook")[0].payload, json!(PLAYBOOK));
    assert_eq!(
        find("dry_run_playbook")[0].payload,
        json!({"devices": ["dev-1"]})
    );
    let decisions: Vec<Value> = find("decide_approval")
        .into_iter()
        .map(|c| c.payload)
        .collect();
    assert_eq!(decisions, [json!(true), json!(false)]);
    assert_eq!(
        find("create_mass_action")[0].payload,
        json!({"tenant": "default", "plan": {"action": "quarantine"}, "dry_run": false})
    );
}

#[tokio::test]
async fn incident_listing_parses_its_filters() {
    let (app, engine) = app_with_engine().await;
    app.send(
        get("/api/v1/incidents?status=open,acknowledged&device=dev-1&limit=5&before=c-9")
            .auth(ROOT),
    )
    .await
    .expect(200);
    let query: IncidentQuery = serde_json::from_value(engine.last().payload).unwrap();
    assert_eq!(query.status, ["open", "acknowledged"]);
    assert_eq!(query.device.as_deref(), Some("dev-1"));
    assert_eq!(query.limit, 5);
    assert_eq!(query.before.as_deref(), Some("c-9"));

    app.send(get("/api/v1/incidents").auth(ROOT))
        .await
        .expect(200);
    let query: IncidentQuery = serde_json::from_value(engine.last().payload).unwrap();
    assert!(query.status.is_empty());
    assert_eq!(query.device, None);
    assert_eq!(query.limit, 100);
    assert_eq!(query.before, None);

    let calls = engine.count();
    for uri in [
        "/api/v1/incidents?limit=0",
        "/api/v1/incidents?limit=1001",
        "/api/v1/incidents?limit=many",
        "/api/v1/incidents?device=has%20space",
        "/api/v1/incidents?colour=red",
    ] {
        let r = app.send(get(uri).auth(ROOT)).await;
        assert_eq!(r.status.as_u16(), 400, "{uri}: {}", r.text);
        r.expect_error(400, "bad_request");
    }
    assert_eq!(engine.count(), calls, "refused queries reach the engine");
}

#[tokio::test]
async fn roles_are_enforced() {
    let (app, engine) = app_with_engine().await;
    let (_, viewer) = app.token(ROOT, "viewer", Some("default")).await;
    let (_, operator) = app.token(ROOT, "operator", Some("default")).await;
    let (_, tenant_admin) = app.token(ROOT, "admin", Some("default")).await;
    let (_, platform_operator) = app.token(ROOT, "operator", None).await;

    // The viewer reads incidents, playbooks and mass actions...
    for uri in [
        "/api/v1/incidents",
        "/api/v1/incidents/inc-1",
        "/api/v1/playbooks",
        "/api/v1/mass-actions",
        "/api/v1/mass-actions/ma-1",
    ] {
        app.send(get(uri).auth(&viewer)).await.expect(200);
    }
    // ... and changes nothing, nor sees pending approvals.
    let operator_only = || {
        vec![
            patch(
                "/api/v1/incidents/inc-1",
                &json!({"status": "acknowledged"}),
            ),
            post_empty("/api/v1/incidents/inc-1/undo"),
            post(
                "/api/v1/playbooks/pb-1/dry-run",
                &json!({"devices": ["dev-1"]}),
            ),
            get("/api/v1/approvals"),
            post_empty("/api/v1/approvals/ap-1/approve"),
            post_empty("/api/v1/approvals/ap-1/deny"),
            post("/api/v1/mass-actions", &json!({"action": "quarantine"})),
            post_empty("/api/v1/mass-actions/ma-1/abort"),
            post_empty("/api/v1/mass-actions/ma-1/undo"),
        ]
    };
    let admin_only = || {
        vec![
            put_text("/api/v1/playbooks/pb-1", "application/toml", PLAYBOOK),
            delete("/api/v1/playbooks/pb-1"),
            post_empty("/api/v1/mass-actions/ma-1/approve"),
        ]
    };
    let platform_admin_only = || {
        vec![
            put_text("/api/v1/playbooks/pb-1", "text/plain", PLAYBOOK),
            delete("/api/v1/playbooks/pb-1"),
        ]
    };
    let calls = engine.count();
    for r in operator_only().into_iter().chain(admin_only()) {
        let what = format!("{} {}", r.method, r.uri);
        let resp = app.send(r.auth(&viewer)).await;
        assert_eq!(resp.status.as_u16(), 403, "viewer {what}: {}", resp.text);
        resp.expect_error(403, "forbidden");
    }
    // Operators (tenant or platform) neither load playbooks nor approve past the blast radius.
    for secret in [&operator, &platform_operator] {
        for r in admin_only() {
            let what = format!("{} {}", r.method, r.uri);
            let resp = app.send(r.auth(secret)).await;
            assert_eq!(resp.status.as_u16(), 403, "operator {what}: {}", resp.text);
            resp.expect_error(403, "forbidden");
        }
    }
    // Playbooks are platform-wide: a tenant's admin cannot change them.
    for r in platform_admin_only() {
        let what = format!("{} {}", r.method, r.uri);
        let resp = app.send(r.auth(&tenant_admin)).await;
        let message = resp.expect_error(403, "forbidden");
        assert!(message.contains("platform"), "{what}: {message}");
    }
    assert_eq!(
        engine.count(),
        calls,
        "a refused request reached the engine"
    );

    // What the operator may do, it does.
    for r in operator_only() {
        let what = format!("{} {}", r.method, r.uri);
        let resp = app.send(r.auth(&operator)).await;
        assert!(resp.status.is_success(), "operator {what}: {}", resp.text);
        // Changes are recorded under the token's name (reads carry no actor).
        if let Some(actor) = engine.last().actor {
            assert_eq!(actor, "operator of Some(\"default\")", "{what}");
        }
    }
    // A tenant admin approves its tenant's mass actions.
    app.send(post_empty("/api/v1/mass-actions/ma-1/approve").auth(&tenant_admin))
        .await
        .expect(200);
    assert_eq!(
        engine.last().vis,
        Some(Visibility::Tenant(TenantId::default_tenant()))
    );
}

#[tokio::test]
async fn tenant_tokens_are_confined_to_their_tenant() {
    let (app, engine) = app_with_engine().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = TenantId::parse("acme").unwrap();
    let globex = TenantId::parse("globex").unwrap();
    let (_, acme_op) = app.token(ROOT, "operator", Some("acme")).await;
    let (_, acme_admin) = app.token(ROOT, "admin", Some("acme")).await;

    // Every route hands the engine the token's tenant, never Platform.
    for (request, op, status, _) in every_route() {
        let what = format!("{} {}", request.method, request.uri);
        if what.contains("/api/v1/playbooks/pb-1") && request.method != Method::POST {
            continue; // platform admins only (see roles_are_enforced)
        }
        if what.contains("tenant=default") {
            continue; // another tenant (below)
        }
        let r = app.send(request.auth(&acme_admin)).await;
        assert_eq!(r.status.as_u16(), status, "{what}: {}", r.text);
        let call = engine.last();
        assert_eq!(call.op, op, "{what}");
        if let Some(vis) = call.vis {
            assert_eq!(vis, Visibility::Tenant(acme.clone()), "{what}");
        }
    }

    // Mass actions start in the token's tenant...
    app.send(post("/api/v1/mass-actions", &json!({"action": "quarantine"})).auth(&acme_op))
        .await
        .expect(201);
    assert_eq!(engine.last().payload["tenant"], "acme");
    app.send(
        post(
            "/api/v1/mass-actions?tenant=acme&dry_run=true",
            &json!({"action": "quarantine"}),
        )
        .auth(&acme_op),
    )
    .await
    .expect(200);
    assert_eq!(engine.last().payload["tenant"], "acme");
    assert_eq!(engine.last().payload["dry_run"], true);
    // ... and in no other, however asked.
    let calls = engine.count();
    let r = app
        .send(
            post(
                "/api/v1/mass-actions?tenant=globex",
                &json!({"action": "quarantine"}),
            )
            .auth(&acme_op),
        )
        .await;
    let message = r.expect_error(403, "forbidden");
    assert!(message.contains("acme"), "{message}");
    app.send(
        post("/api/v1/mass-actions", &json!({"action": "quarantine"}))
            .tenant("globex")
            .auth(&acme_op),
    )
    .await
    .expect_error(403, "forbidden");
    app.send(get("/api/v1/incidents").tenant("globex").auth(&acme_op))
        .await
        .expect_error(403, "forbidden");
    assert_eq!(
        engine.count(),
        calls,
        "a refused request reached the engine"
    );

    // A platform token addressing a tenant sees that tenant only.
    app.send(get("/api/v1/incidents").tenant("globex").auth(ROOT))
        .await
        .expect(200);
    assert_eq!(engine.last().vis, Some(Visibility::Tenant(globex.clone())));
    app.send(get("/api/v1/mass-actions/ma-1").tenant("acme").auth(ROOT))
        .await
        .expect(200);
    assert_eq!(engine.last().vis, Some(Visibility::Tenant(acme.clone())));
    // Without one it sees all.
    app.send(get("/api/v1/approvals").auth(ROOT))
        .await
        .expect(200);
    assert_eq!(engine.last().vis, Some(Visibility::Platform));

    // A platform token must say where a mass action runs.
    let plan = json!({"action": "quarantine"});
    let calls = engine.count();
    let message = app
        .send(post("/api/v1/mass-actions", &plan).auth(ROOT))
        .await
        .expect_error(400, "bad_request")
        .to_owned();
    assert!(message.contains("tenant"), "{message}");
    app.send(post("/api/v1/mass-actions?tenant=initech", &plan).auth(ROOT))
        .await
        .expect_error(404, "not_found");
    app.send(post("/api/v1/mass-actions?tenant=Not%20A%20Tenant", &plan).auth(ROOT))
        .await
        .expect_error(400, "bad_request");
    app.send(
        post("/api/v1/mass-actions?tenant=acme", &plan)
            .tenant("globex")
            .auth(ROOT),
    )
    .await
    .expect_error(400, "bad_request");
    assert_eq!(
        engine.count(),
        calls,
        "a refused request reached the engine"
    );
    app.send(post("/api/v1/mass-actions?tenant=globex", &plan).auth(ROOT))
        .await
        .expect(201);
    assert_eq!(engine.last().payload["tenant"], "globex");
    app.send(
        post("/api/v1/mass-actions?dry_run=true", &plan)
            .tenant("acme")
            .auth(ROOT),
    )
    .await
    .expect(200);
    assert_eq!(engine.last().payload["tenant"], "acme");
    assert_eq!(engine.last().payload["dry_run"], true);
}

#[tokio::test]
async fn engine_errors_map_to_statuses() {
    let (app, engine) = app_with_engine().await;

    let r = app.send(get("/api/v1/incidents/missing").auth(ROOT)).await;
    let message = r.expect_error(404, "not_found");
    assert_eq!(message, "no such thing missing");
    assert!(r.json["error"].get("details").is_none(), "{}", r.text);

    let r = app
        .send(put_text("/api/v1/playbooks/bad", "application/toml", "x = ").auth(ROOT))
        .await;
    let message = r.expect_error(422, "invalid");
    assert_eq!(message, "playbook bad refused: 2 problems");
    assert_eq!(
        r.json["error"]["details"],
        json!([
            "bad.toml:3:1: trigger.severity: unknown severity \"loud\"",
            "bad.toml:7:9: steps[0].action: unknown action \"explode\"",
        ])
    );

    let r = app
        .send(patch("/api/v1/incidents/busy", &json!({"status": "acknowledged"})).auth(ROOT))
        .await;
    let message = r.expect_error(409, "conflict");
    assert!(message.contains("resolved"), "{message}");

    // Internal failures are logged, not told.
    for request in [
        post_empty("/api/v1/mass-actions/boom/undo"),
        post(
            "/api/v1/mass-actions?tenant=default",
            &json!({"outcome": "boom"}),
        ),
    ] {
        let r = app.send(request.auth(ROOT)).await;
        let message = r.expect_error(500, "internal");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!r.text.contains("hunter2"), "{}", r.text);
        assert!(!r.text.contains(engine::SECRET_CAUSE), "{}", r.text);
        assert!(!r.text.contains("postgres"), "{}", r.text);
    }

    // Deleting reports the same way.
    app.send(delete("/api/v1/playbooks/missing").auth(ROOT))
        .await
        .expect_error(404, "not_found");
    app.send(
        post(
            "/api/v1/mass-actions?tenant=default&dry_run=true",
            &json!({"outcome": "bad"}),
        )
        .auth(ROOT),
    )
    .await
    .expect_error(422, "invalid");
    assert_eq!(engine.count(), 7);
}

#[tokio::test]
async fn without_an_engine_the_routes_are_unavailable() {
    let app = App::sqlite().await;
    for (request, ..) in every_route() {
        let what = format!("{} {}", request.method, request.uri);
        let r = app.send(request.auth(ROOT)).await;
        assert_eq!(r.status.as_u16(), 503, "{what}: {}", r.text);
        r.expect_error(503, "unavailable");
    }
    // Authorisation still comes first.
    let (_, viewer) = app.token(ROOT, "viewer", Some("default")).await;
    app.send(
        patch(
            "/api/v1/incidents/inc-1",
            &json!({"status": "acknowledged"}),
        )
        .auth(&viewer),
    )
    .await
    .expect_error(403, "forbidden");
    app.send(get("/api/v1/incidents"))
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn bodies_are_bounded_and_checked() {
    let (app, engine) = app_with_engine().await;

    // A playbook of exactly the limit is read; one byte more is not.
    let fits = format!("# {}\n", "x".repeat(MAX_PLAYBOOK_BYTES - 3));
    assert_eq!(fits.len(), MAX_PLAYBOOK_BYTES);
    app.send(put_text("/api/v1/playbooks/big", "text/plain; charset=utf-8", fits).auth(ROOT))
        .await
        .expect(200);
    assert_eq!(
        engine.last().payload.as_str().unwrap().len(),
        MAX_PLAYBOOK_BYTES
    );
    let calls = engine.count();
    let too_big = "x".repeat(MAX_PLAYBOOK_BYTES + 1);
    app.send(put_text("/api/v1/playbooks/big", "application/toml", too_big).auth(ROOT))
        .await
        .expect_error(413, "payload_too_large");
    // Only TOML text.
    app.send(put_text("/api/v1/playbooks/pb", "application/json", "{}").auth(ROOT))
        .await
        .expect_error(415, "unsupported_media_type");
    app.send(
        req(Method::PUT, "/api/v1/playbooks/pb")
            .raw(None, PLAYBOOK)
            .auth(ROOT),
    )
    .await
    .expect_error(415, "unsupported_media_type");
    app.send(put_text("/api/v1/playbooks/pb", "text/plain", vec![0xff, 0xfe, b'x']).auth(ROOT))
        .await
        .expect_error(400, "bad_request");

    // JSON bodies: the house limit, the house errors.
    let big_plan = json!({"action": "quarantine", "note": "x".repeat(rampart_api::MAX_BODY_BYTES)});
    app.send(post("/api/v1/mass-actions?tenant=default", &big_plan).auth(ROOT))
        .await
        .expect_error(413, "payload_too_large");
    app.send(
        post(
            "/api/v1/mass-actions?tenant=default",
            &json!(["quarantine"]),
        )
        .auth(ROOT),
    )
    .await
    .expect_error(422, "invalid");
    app.send(
        req(Method::POST, "/api/v1/mass-actions?tenant=default")
            .raw(Some("application/json"), "{\"action\": ")
            .auth(ROOT),
    )
    .await
    .expect_error(400, "bad_request");
    app.send(
        post(
            "/api/v1/mass-actions?tenant=default&dry_run=perhaps",
            &json!({}),
        )
        .auth(ROOT),
    )
    .await
    .expect_error(400, "bad_request");
    let r = app
        .send(
            patch(
                "/api/v1/incidents/inc-1",
                &json!({"status": "open", "colour": "red"}),
            )
            .auth(ROOT),
        )
        .await;
    assert!(r.expect_client_error() == "invalid" || r.status.as_u16() == 400);
    assert!(r.text.contains("colour"), "{}", r.text);
    app.send(
        post(
            "/api/v1/playbooks/pb/dry-run",
            &json!({"devices": ["has space"]}),
        )
        .auth(ROOT),
    )
    .await
    .expect_error(422, "invalid");
    let r = app
        .send(
            post(
                "/api/v1/playbooks/pb/dry-run",
                &json!({"device": ["dev-1"]}),
            )
            .auth(ROOT),
        )
        .await;
    r.expect_client_error();
    assert_eq!(engine.count(), calls, "a refused body reached the engine");
}
