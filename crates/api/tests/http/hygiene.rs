use std::sync::Arc;
use std::sync::Mutex;

use async_trait::async_trait;
use rampart_api::hygiene::IdentityAudit;
use rampart_api::response::{ResponseError, Visibility};
use serde_json::{Value, json};

use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// 9. Identity hygiene audit
// ---------------------------------------------------------------------------------------------

/// An audit that answers with the visibility it was asked for, and remembers its runs.
#[derive(Default)]
struct FakeAudit {
    ran: Mutex<Vec<String>>,
}

fn seen(vis: &Visibility) -> Value {
    match vis {
        Visibility::Tenant(t) => json!({"visibility": t.as_str()}),
        Visibility::Platform => json!({"visibility": "platform"}),
    }
}

#[async_trait]
impl IdentityAudit for FakeAudit {
    async fn last_report(&self, vis: &Visibility) -> Result<Option<Value>, ResponseError> {
        let ran = !self.ran.lock().unwrap().is_empty();
        Ok(ran.then(|| seen(vis)))
    }

    async fn run_now(&self, vis: &Visibility, actor: &str) -> Result<Value, ResponseError> {
        self.ran.lock().unwrap().push(actor.to_owned());
        Ok(seen(vis))
    }
}

#[tokio::test]
async fn audit_routes_need_the_audit_roles_and_scope_the_report() {
    let none = App::sqlite().await;
    none.send(get("/api/v1/identity/audit").auth(ROOT))
        .await
        .expect_error(503, "unavailable");
    none.cleanup().await;

    let fake = Arc::new(FakeAudit::default());
    let f: Arc<dyn IdentityAudit> = fake.clone();
    let app = App::sqlite_with(|state| state.with_hygiene(f)).await;
    app.tenant("acme").await;
    let (_, acme_viewer) = app.token(ROOT, "viewer", Some("acme")).await;
    let (_, acme_operator) = app.token(ROOT, "operator", Some("acme")).await;
    let (_, platform_viewer) = app.token(ROOT, "viewer", None).await;

    app.send(get("/api/v1/identity/audit").auth(ROOT))
        .await
        .expect_error(404, "not_found");
    // A run raises findings for every tenant: platform operators only.
    app.send(req(axum::http::Method::POST, "/api/v1/identity/audit").auth(&acme_operator))
        .await
        .expect(403);
    app.send(req(axum::http::Method::POST, "/api/v1/identity/audit").auth(&platform_viewer))
        .await
        .expect(403);
    assert!(fake.ran.lock().unwrap().is_empty());
    let r = app
        .send(req(axum::http::Method::POST, "/api/v1/identity/audit").auth(ROOT))
        .await;
    r.expect(200);
    assert_eq!(r.json["visibility"], "platform");
    assert_eq!(fake.ran.lock().unwrap().len(), 1);

    // Reading it: a tenant token sees its tenant; a platform token addressing one sees that.
    let r = app
        .send(get("/api/v1/identity/audit").auth(&acme_viewer))
        .await;
    r.expect(200);
    assert_eq!(r.json["visibility"], "acme");
    let r = app
        .send(
            get("/api/v1/identity/audit")
                .auth(&platform_viewer)
                .tenant("acme"),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["visibility"], "acme");
    let r = app
        .send(get("/api/v1/identity/audit").auth(&platform_viewer))
        .await;
    assert_eq!(r.json["visibility"], "platform");

    let r = app.send(get("/api/v1/openapi.json").auth(ROOT)).await;
    let doc: Value = serde_json::from_str(&r.text).unwrap();
    let item = &doc["paths"]["/api/v1/identity/audit"];
    assert!(
        item["get"].is_object() && item["post"].is_object(),
        "{item}"
    );
    assert_eq!(item["post"]["tags"], json!(["identity"]));
    app.cleanup().await;
}
