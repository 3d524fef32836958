//! Rules and suppression windows: who may do what, what reaches the serving process's
//! detection control, and how its refusals come back.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::Method;
use rampart_api::detection::{DetectionControl, DetectionError};
use rampart_api::response::Visibility;
use rampart_core::TenantId;
use serde_json::{Value, json};

use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// 8. Detection rules and suppression windows
// ---------------------------------------------------------------------------------------------

/// One call the control received.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    op: &'static str,
    vis: Option<Visibility>,
    /// Rule name or window id; for a new window, its tenant.
    target: String,
    payload: Value,
    actor: Option<String>,
}

/// Records every call; answers by target: `missing` (not found), `bad` (invalid, with
/// details), `config-rule` (conflict), `theirs` (forbidden), `boom` (internal), `new`
/// (created), else canned JSON.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<Call>>,
}

const SECRET_CAUSE: &str = "database is locked at /var/lib/rampart/rampart.db";

impl Recorder {
    fn answer(
        &self,
        op: &'static str,
        vis: Option<&Visibility>,
        target: &str,
        payload: Value,
        actor: Option<&str>,
    ) -> Result<Value, DetectionError> {
        self.calls.lock().unwrap().push(Call {
            op,
            vis: vis.cloned(),
            target: target.to_owned(),
            payload: payload.clone(),
            actor: actor.map(str::to_owned),
        });
        let key = payload["reason"].as_str().unwrap_or(target);
        match key {
            "missing" => Err(DetectionError::NotFound(format!("rule {target} not found"))),
            "bad" => Err(DetectionError::Invalid {
                message: "rule bad refused: 2 problems".into(),
                details: vec![
                    "threshold.value: must be finite".into(),
                    "duration_s: applies to counter metrics only".into(),
                ],
            }),
            "config-rule" => Err(DetectionError::Conflict(
                "rule config-rule is defined in the configuration file".into(),
            )),
            "theirs" => Err(DetectionError::Forbidden(
                "the window applies to every tenant".into(),
            )),
            "boom" => Err(DetectionError::Internal(SECRET_CAUSE.into())),
            _ => Ok(json!({"op": op, "target": target})),
        }
    }

    fn last(&self) -> Call {
        self.calls.lock().unwrap().last().cloned().unwrap()
    }

    fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

#[async_trait]
impl DetectionControl for Recorder {
    async fn list_rules(&self) -> Result<Value, DetectionError> {
        self.answer("list_rules", None, "", Value::Null, None)
    }
    async fn get_rule(&self, name: &str) -> Result<Value, DetectionError> {
        self.answer("get_rule", None, name, Value::Null, None)
    }
    async fn put_rule(
        &self,
        name: &str,
        rule: Value,
        actor: &str,
    ) -> Result<(Value, bool), DetectionError> {
        let v = self.answer("put_rule", None, name, rule, Some(actor))?;
        Ok((v, name == "new"))
    }
    async fn delete_rule(&self, name: &str, actor: &str) -> Result<(), DetectionError> {
        self.answer("delete_rule", None, name, Value::Null, Some(actor))
            .map(drop)
    }
    async fn list_suppressions(
        &self,
        vis: &Visibility,
        ended: bool,
    ) -> Result<Value, DetectionError> {
        self.answer("list_suppressions", Some(vis), "", json!(ended), None)
    }
    async fn get_suppression(&self, vis: &Visibility, id: &str) -> Result<Value, DetectionError> {
        self.answer("get_suppression", Some(vis), id, Value::Null, None)
    }
    async fn create_suppression(
        &self,
        tenant: Option<&TenantId>,
        request: Value,
        actor: &str,
    ) -> Result<Value, DetectionError> {
        let target = tenant.map(|t| t.to_string()).unwrap_or_default();
        self.answer("create_suppression", None, &target, request, Some(actor))
    }
    async fn delete_suppression(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<(), DetectionError> {
        self.answer(
            "delete_suppression",
            Some(vis),
            id,
            Value::Null,
            Some(actor),
        )
        .map(drop)
    }
}

async fn app_with_control() -> (App, Arc<Recorder>) {
    let control = Arc::new(Recorder::default());
    let dyn_control: Arc<dyn DetectionControl> = control.clone();
    let app = App::sqlite_with(|state| state.with_detection(dyn_control)).await;
    (app, control)
}

fn put(uri: &str, body: &Value) -> Req {
    req(Method::PUT, uri).json(body)
}

fn window() -> Value {
    json!({"selector": {"rule": "exfil"}, "until": "2099-01-01T00:00:00Z", "reason": "maintenance"})
}

/// Every route, the operation it reaches and the status a platform admin gets.
fn every_route() -> Vec<(Req, &'static str, u16)> {
    let rule = json!({"metric": "bytes_out", "comparison": "gt", "threshold": {"value": 1.0}});
    vec![
        (get("/api/v1/rules"), "list_rules", 200),
        (get("/api/v1/rules/exfil"), "get_rule", 200),
        (put("/api/v1/rules/exfil", &rule), "put_rule", 200),
        (put("/api/v1/rules/new", &rule), "put_rule", 201),
        (delete("/api/v1/rules/exfil"), "delete_rule", 204),
        (get("/api/v1/suppressions"), "list_suppressions", 200),
        (
            post("/api/v1/suppressions", &window()),
            "create_suppression",
            201,
        ),
        (get("/api/v1/suppressions/sup-1"), "get_suppression", 200),
        (
            delete("/api/v1/suppressions/sup-1"),
            "delete_suppression",
            204,
        ),
    ]
}

#[tokio::test]
async fn every_route_reaches_the_control() {
    let (app, control) = app_with_control().await;
    for (request, op, status) in every_route() {
        let what = format!("{} {}", request.method, request.uri);
        let before = control.count();
        let r = app.send(request.auth(ROOT)).await;
        assert_eq!(r.status.as_u16(), status, "{what}: {}", r.text);
        assert_eq!(control.count(), before + 1, "{what}");
        let call = control.last();
        assert_eq!(call.op, op, "{what}");
        if let Some(actor) = &call.actor {
            assert_eq!(actor, "bootstrap", "{what}");
        }
        if let Some(vis) = &call.vis {
            assert_eq!(*vis, Visibility::Platform, "{what}");
        }
    }
    // What the routes pass on.
    app.send(put("/api/v1/rules/exfil", &json!({"metric": "bytes_in"})).auth(ROOT))
        .await
        .expect(200);
    assert_eq!(control.last().target, "exfil");
    assert_eq!(control.last().payload, json!({"metric": "bytes_in"}));
    app.send(get("/api/v1/suppressions?ended=true").auth(ROOT))
        .await
        .expect(200);
    assert_eq!(control.last().payload, json!(true));
    app.send(get("/api/v1/suppressions").auth(ROOT))
        .await
        .expect(200);
    assert_eq!(control.last().payload, json!(false));
    // A platform token addressing no tenant opens a window over every tenant.
    app.send(post("/api/v1/suppressions", &window()).auth(ROOT))
        .await
        .expect(201);
    assert_eq!(control.last().target, "");
    assert_eq!(control.last().payload, window());
}

#[tokio::test]
async fn rules_are_changed_by_platform_admins_only() {
    let (app, control) = app_with_control().await;
    let (_, viewer) = app.token(ROOT, "viewer", Some("default")).await;
    let (_, tenant_admin) = app.token(ROOT, "admin", Some("default")).await;
    let (_, platform_operator) = app.token(ROOT, "operator", None).await;
    let rule = json!({"metric": "bytes_out"});
    // Everyone reads.
    for secret in [&viewer, &tenant_admin, &platform_operator] {
        app.send(get("/api/v1/rules").auth(secret))
            .await
            .expect(200);
        app.send(get("/api/v1/rules/exfil").auth(secret))
            .await
            .expect(200);
    }
    let calls = control.count();
    for secret in [&viewer, &tenant_admin, &platform_operator] {
        for r in [
            put("/api/v1/rules/exfil", &rule),
            delete("/api/v1/rules/exfil"),
        ] {
            let what = format!("{} {}", r.method, r.uri);
            let resp = app.send(r.auth(secret)).await;
            assert_eq!(resp.status.as_u16(), 403, "{what}: {}", resp.text);
        }
    }
    let message = app
        .send(put("/api/v1/rules/exfil", &rule).auth(&tenant_admin))
        .await
        .expect_error(403, "forbidden")
        .to_owned();
    assert!(message.contains("platform"), "{message}");
    assert_eq!(
        control.count(),
        calls,
        "a refused request reached the control"
    );
}

#[tokio::test]
async fn suppression_windows_belong_to_the_callers_tenant() {
    let (app, control) = app_with_control().await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    let acme = TenantId::parse("acme").unwrap();
    let (_, viewer) = app.token(ROOT, "viewer", Some("acme")).await;
    let (_, operator) = app.token(ROOT, "operator", Some("acme")).await;

    // Viewers read, and change nothing.
    app.send(get("/api/v1/suppressions").auth(&viewer))
        .await
        .expect(200);
    assert_eq!(control.last().vis, Some(Visibility::Tenant(acme.clone())));
    let calls = control.count();
    app.send(post("/api/v1/suppressions", &window()).auth(&viewer))
        .await
        .expect_error(403, "forbidden");
    app.send(delete("/api/v1/suppressions/sup-1").auth(&viewer))
        .await
        .expect_error(403, "forbidden");
    // No other tenant, however asked.
    app.send(
        post("/api/v1/suppressions", &window())
            .tenant("globex")
            .auth(&operator),
    )
    .await
    .expect_error(403, "forbidden");
    assert_eq!(control.count(), calls);

    // Operators open windows in their tenant, and see and delete through it.
    app.send(post("/api/v1/suppressions", &window()).auth(&operator))
        .await
        .expect(201);
    assert_eq!(control.last().target, "acme");
    assert_eq!(
        control.last().actor.as_deref(),
        Some("operator of Some(\"acme\")")
    );
    for r in [
        get("/api/v1/suppressions/sup-1"),
        delete("/api/v1/suppressions/sup-1"),
    ] {
        app.send(r.auth(&operator)).await;
        assert_eq!(control.last().vis, Some(Visibility::Tenant(acme.clone())));
    }
    // A platform token addressing a tenant acts in it.
    app.send(
        post("/api/v1/suppressions", &window())
            .tenant("globex")
            .auth(ROOT),
    )
    .await
    .expect(201);
    assert_eq!(control.last().target, "globex");
    app.send(get("/api/v1/suppressions").tenant("globex").auth(ROOT))
        .await
        .expect(200);
    assert_eq!(
        control.last().vis,
        Some(Visibility::Tenant(TenantId::parse("globex").unwrap()))
    );
}

#[tokio::test]
async fn refusals_map_to_statuses() {
    let (app, control) = app_with_control().await;
    let r = app.send(get("/api/v1/rules/missing").auth(ROOT)).await;
    r.expect_error(404, "not_found");
    let r = app
        .send(put("/api/v1/rules/bad", &json!({"metric": "bytes_out"})).auth(ROOT))
        .await;
    let message = r.expect_error(422, "invalid");
    assert_eq!(message, "rule bad refused: 2 problems");
    assert_eq!(
        r.json["error"]["details"],
        json!([
            "threshold.value: must be finite",
            "duration_s: applies to counter metrics only"
        ])
    );
    app.send(put("/api/v1/rules/config-rule", &json!({})).auth(ROOT))
        .await
        .expect_error(409, "conflict");
    app.send(delete("/api/v1/rules/config-rule").auth(ROOT))
        .await
        .expect_error(409, "conflict");
    app.send(
        delete("/api/v1/suppressions/theirs")
            .tenant("default")
            .auth(ROOT),
    )
    .await
    .expect_error(403, "forbidden");
    let mut w = window();
    w["reason"] = json!("bad");
    app.send(post("/api/v1/suppressions", &w).auth(ROOT))
        .await
        .expect_error(422, "invalid");
    // Internal failures are logged, not told.
    let r = app.send(get("/api/v1/suppressions/boom").auth(ROOT)).await;
    r.expect_error(500, "internal");
    assert!(!r.text.contains(SECRET_CAUSE), "{}", r.text);
    let calls = control.count();

    // Bodies: JSON objects only, within the house limit.
    for body in [json!(["a"]), json!("rule"), json!(7)] {
        app.send(put("/api/v1/rules/x", &body).auth(ROOT))
            .await
            .expect_error(422, "invalid");
        app.send(post("/api/v1/suppressions", &body).auth(ROOT))
            .await
            .expect_error(422, "invalid");
    }
    app.send(
        req(Method::PUT, "/api/v1/rules/x")
            .raw(Some("application/json"), "{\"metric\": ")
            .auth(ROOT),
    )
    .await
    .expect_error(400, "bad_request");
    app.send(
        req(Method::PUT, "/api/v1/rules/x")
            .raw(Some("text/plain"), "{}")
            .auth(ROOT),
    )
    .await
    .expect_error(415, "unsupported_media_type");
    let big = json!({"name": "x".repeat(rampart_api::MAX_BODY_BYTES)});
    app.send(put("/api/v1/rules/x", &big).auth(ROOT))
        .await
        .expect_error(413, "payload_too_large");
    app.send(get("/api/v1/suppressions?ended=perhaps").auth(ROOT))
        .await
        .expect_error(400, "bad_request");
    app.send(get("/api/v1/suppressions?colour=red").auth(ROOT))
        .await
        .expect_error(400, "bad_request");
    assert_eq!(control.count(), calls, "a refused body reached the control");
}

#[tokio::test]
async fn without_live_detection_the_routes_are_unavailable() {
    let app = App::sqlite().await;
    for (request, ..) in every_route() {
        let what = format!("{} {}", request.method, request.uri);
        let r = app.send(request.auth(ROOT)).await;
        assert_eq!(r.status.as_u16(), 503, "{what}: {}", r.text);
        r.expect_error(503, "unavailable");
    }
    app.send(get("/api/v1/rules"))
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test]
async fn rules_and_windows_are_documented() {
    let app = App::sqlite().await;
    let doc = app.send(get("/api/v1/openapi.json").auth(ROOT)).await.json;
    let paths = &doc["paths"];
    for (path, methods) in [
        ("/api/v1/rules", &["get"][..]),
        ("/api/v1/rules/{name}", &["get", "put", "delete"]),
        ("/api/v1/suppressions", &["get", "post"]),
        ("/api/v1/suppressions/{id}", &["get", "delete"]),
    ] {
        for m in methods {
            assert_eq!(paths[path][m]["tags"], json!(["detection"]), "{path} {m}");
        }
    }
    assert!(
        doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "detection")
    );
}
