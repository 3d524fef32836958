use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::Method;
use rampart_api::audit::AuditTrail;
use rampart_api::identity::{
    CertificateView, IdentityControl, IdentityControlError, RevocationOutcome, RevokeReason,
    StepOutcome,
};
use rampart_core::{DeviceId, TenantId};
use serde_json::{Value, json};

use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// 8. Device certificates
// ---------------------------------------------------------------------------------------------

/// An authority holding a few certificates, recording the revocations asked of it.
#[derive(Default)]
struct FakeAuthority {
    certs: Mutex<Vec<CertificateView>>,
    revoked: Mutex<Vec<(String, RevokeReason, bool, String)>>,
    broker: bool,
}

fn cert(serial: &str, tenant: &str, device: &str, usage: &str) -> CertificateView {
    CertificateView {
        serial: serial.to_owned(),
        tenant: tenant.to_owned(),
        device: device.to_owned(),
        profile: "device".to_owned(),
        usage: usage.to_owned(),
        issuer: "issuing-1".to_owned(),
        not_before: "2026-01-01T00:00:00Z".to_owned(),
        not_after: "2027-01-01T00:00:00Z".to_owned(),
        fingerprint_sha256: "ab".repeat(32),
        revoked: false,
        revoked_at: None,
        revocation_reason: None,
        status: "valid".to_owned(),
    }
}

impl FakeAuthority {
    fn with_certs() -> Self {
        Self {
            certs: Mutex::new(vec![
                cert("0a01", "acme", "meter-1", "client"),
                cert("0a02", "acme", "meter-1", "client"),
                cert("0b01", "globex", "meter-1", "client"),
                cert("0c01", "default", "broker", "server"),
            ]),
            ..Self::default()
        }
    }

    fn revoke(&self, pick: impl Fn(&CertificateView) -> bool, reason: RevokeReason) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.certs.lock().unwrap().iter_mut().filter(|c| pick(c)) {
            if !c.revoked {
                c.revoked = true;
                c.revocation_reason = Some(reason);
                c.status = "revoked".to_owned();
                out.push(c.serial.clone());
            }
        }
        out
    }

    fn outcome(
        &self,
        tenant: &str,
        device: &str,
        revoked: Vec<String>,
        reason: RevokeReason,
        cut: bool,
    ) -> RevocationOutcome {
        let step = |s: &str| StepOutcome {
            status: s.to_owned(),
            detail: None,
        };
        RevocationOutcome {
            tenant: tenant.to_owned(),
            device: device.to_owned(),
            revoked,
            reason,
            crl_number: 7,
            crl_reload: step("not_configured"),
            session_cut: step(if cut { "disabled" } else { "not_requested" }),
        }
    }
}

#[async_trait]
impl IdentityControl for FakeAuthority {
    async fn device_certificates(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> Result<Vec<CertificateView>, IdentityControlError> {
        Ok(self
            .certs
            .lock()
            .unwrap()
            .iter()
            .filter(|c| {
                c.tenant == tenant.as_str() && c.device == device.as_str() && c.usage == "client"
            })
            .cloned()
            .collect())
    }

    async fn certificate(
        &self,
        serial: &str,
    ) -> Result<Option<CertificateView>, IdentityControlError> {
        Ok(self
            .certs
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.serial == serial)
            .cloned())
    }

    fn can_cut_sessions(&self) -> bool {
        self.broker
    }

    async fn revoke_device(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        reason: RevokeReason,
        cut_sessions: bool,
        actor: &str,
    ) -> Result<RevocationOutcome, IdentityControlError> {
        let serials = self.revoke(
            |c| c.tenant == tenant.as_str() && c.device == device.as_str() && c.usage == "client",
            reason,
        );
        self.revoked.lock().unwrap().push((
            format!("{tenant}/{device}"),
            reason,
            cut_sessions,
            actor.to_owned(),
        ));
        Ok(self.outcome(
            tenant.as_str(),
            device.as_str(),
            serials,
            reason,
            cut_sessions,
        ))
    }

    async fn revoke_certificate(
        &self,
        serial: &str,
        reason: RevokeReason,
        cut_sessions: bool,
        actor: &str,
    ) -> Result<RevocationOutcome, IdentityControlError> {
        let c = self
            .certificate(serial)
            .await?
            .ok_or_else(|| IdentityControlError::NotFound(serial.to_owned()))?;
        let serials = self.revoke(|x| x.serial == serial, reason);
        self.revoked.lock().unwrap().push((
            serial.to_owned(),
            reason,
            cut_sessions,
            actor.to_owned(),
        ));
        Ok(self.outcome(&c.tenant, &c.device, serials, reason, cut_sessions))
    }
}

#[derive(Default)]
struct Trail(Mutex<Vec<Value>>);

impl AuditTrail for Trail {
    fn record(&self, record: &Value) {
        self.0.lock().unwrap().push(record.clone());
    }
}

struct Setup {
    app: App,
    authority: Arc<FakeAuthority>,
    trail: Arc<Trail>,
}

async fn setup(authority: FakeAuthority) -> Setup {
    let authority = Arc::new(authority);
    let trail = Arc::new(Trail::default());
    let (a, t): (Arc<dyn IdentityControl>, Arc<dyn AuditTrail>) =
        (authority.clone(), trail.clone());
    let app = App::sqlite_with(|state| state.with_identity(a).with_audit(t)).await;
    app.tenant("acme").await;
    app.tenant("globex").await;
    Setup {
        app,
        authority,
        trail,
    }
}

fn post_empty(uri: &str) -> Req {
    req(Method::POST, uri)
}

fn revocations(trail: &Trail) -> Vec<Value> {
    trail
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r["event"] == "certificate.revoked")
        .cloned()
        .collect()
}

#[tokio::test]
async fn listing_is_scoped_to_the_callers_tenant() {
    let s = setup(FakeAuthority::with_certs()).await;
    let (_, acme) = s.app.token(ROOT, "viewer", Some("acme")).await;
    let (_, globex) = s.app.token(ROOT, "viewer", Some("globex")).await;

    let r = s
        .app
        .send(get("/api/v1/devices/meter-1/certificates").auth(&acme))
        .await;
    r.expect(200);
    assert_eq!(r.json["tenant"], "acme");
    let serials: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, ["0a01", "0a02"]);
    let first = &r.json["items"][0];
    for field in [
        "not_before",
        "not_after",
        "fingerprint_sha256",
        "revoked",
        "status",
    ] {
        assert!(!first[field].is_null(), "{field} missing: {first}");
    }

    // Another tenant's token sees its own device of that name, never acme's certificates.
    let r = s
        .app
        .send(get("/api/v1/devices/meter-1/certificates").auth(&globex))
        .await;
    r.expect(200);
    assert_eq!(r.json["items"][0]["serial"], "0b01");
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);

    // Unknown to both the registry and the CA in this tenant: 404.
    s.app
        .send(get("/api/v1/devices/meter-9/certificates").auth(&acme))
        .await
        .expect_error(404, "not_found");
    // Registered but never enrolled: an empty list.
    s.app
        .send(
            post("/api/v1/devices", &json!({"id": "meter-9"}))
                .auth(ROOT)
                .tenant("acme"),
        )
        .await
        .expect(201);
    let r = s
        .app
        .send(get("/api/v1/devices/meter-9/certificates").auth(&acme))
        .await;
    r.expect(200);
    assert_eq!(r.json["items"], json!([]));
    // A platform token addressing acme sees acme's certificates.
    let r = s
        .app
        .send(
            get("/api/v1/devices/meter-1/certificates")
                .auth(ROOT)
                .tenant("acme"),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["items"].as_array().unwrap().len(), 2);
    // A malformed device id is a 400.
    s.app
        .send(get("/api/v1/devices/bad%20id/certificates").auth(&acme))
        .await
        .expect_error(400, "bad_request");
}

#[tokio::test]
async fn revoking_a_device_needs_an_operator_and_is_audited() {
    let s = setup(FakeAuthority::with_certs()).await;
    let (_, viewer) = s.app.token(ROOT, "viewer", Some("acme")).await;
    let (_, operator) = s.app.token(ROOT, "operator", Some("acme")).await;
    let (_, globex_op) = s.app.token(ROOT, "operator", Some("globex")).await;

    let body = json!({"reason": "key_compromise"});
    s.app
        .send(post("/api/v1/devices/meter-1/revoke", &body).auth(&viewer))
        .await
        .expect_error(403, "forbidden");
    s.app
        .send(post("/api/v1/devices/meter-1/revoke", &body))
        .await
        .expect_error(401, "unauthorized");
    assert!(s.authority.revoked.lock().unwrap().is_empty());

    let r = s
        .app
        .send(post("/api/v1/devices/meter-1/revoke", &body).auth(&operator))
        .await;
    r.expect(200);
    assert_eq!(r.json["revoked"], json!(["0a01", "0a02"]));
    assert_eq!(r.json["reason"], "key_compromise");
    assert_eq!(r.json["crl_number"], 7);
    assert_eq!(r.json["session_cut"]["status"], "not_requested");
    {
        let seen = s.authority.revoked.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "acme/meter-1");
        assert_eq!(seen[0].1, RevokeReason::KeyCompromise);
        assert!(!seen[0].2);
    }
    let audit = revocations(&s.trail);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["tenant"], "acme");
    assert_eq!(audit[0]["device"], "meter-1");
    assert_eq!(audit[0]["serials"], json!(["0a01", "0a02"]));
    assert_eq!(audit[0]["reason"], "key_compromise");
    assert!(
        audit[0]["actor"].as_str().unwrap().starts_with("token:"),
        "{}",
        audit[0]
    );

    // The listing shows them revoked; revoking again changes nothing and says so.
    let r = s
        .app
        .send(get("/api/v1/devices/meter-1/certificates").auth(&viewer))
        .await;
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["revoked"] == true && c["revocation_reason"] == "key_compromise"),
        "{}",
        r.text
    );
    let r = s
        .app
        .send(post_empty("/api/v1/devices/meter-1/revoke").auth(&operator))
        .await;
    r.expect(200);
    assert_eq!(r.json["revoked"], json!([]));
    assert_eq!(r.json["reason"], "unspecified");

    // globex's operator cannot reach acme's device (its own meter-1 is another device).
    let r = s
        .app
        .send(post_empty("/api/v1/devices/meter-1/revoke").auth(&globex_op))
        .await;
    r.expect(200);
    assert_eq!(r.json["tenant"], "globex");
    assert_eq!(r.json["revoked"], json!(["0b01"]));
    // A device without certificates in the caller's tenant is a 404.
    s.app
        .send(post_empty("/api/v1/devices/meter-2/revoke").auth(&operator))
        .await
        .expect_error(404, "not_found");
    // The server certificate named like a device is not a device certificate.
    s.app
        .send(
            post_empty("/api/v1/devices/broker/revoke")
                .auth(ROOT)
                .tenant("default"),
        )
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn bad_revocation_requests_are_refused_with_every_problem() {
    let s = setup(FakeAuthority::with_certs()).await;
    let (_, operator) = s.app.token(ROOT, "operator", Some("acme")).await;
    let uri = "/api/v1/devices/meter-1/revoke";

    let r = s
        .app
        .send(post(uri, &json!({"reason": "stolen", "cut_sessions": true})).auth(&operator))
        .await;
    r.expect_error(422, "invalid");
    let details = r.json["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 2, "{}", r.text);
    assert!(
        details[0].as_str().unwrap().contains("key_compromise"),
        "{}",
        r.text
    );
    assert!(
        details[1].as_str().unwrap().starts_with("cut_sessions"),
        "{}",
        r.text
    );

    // Unknown fields and wrong types are refused by name.
    let r = s
        .app
        .send(post(uri, &json!({"reasn": "superseded"})).auth(&operator))
        .await;
    assert_eq!(r.expect_client_error(), "invalid");
    assert!(r.text.contains("reasn"), "{}", r.text);
    let r = s
        .app
        .send(post(uri, &json!({"cut_sessions": "yes"})).auth(&operator))
        .await;
    assert_eq!(r.expect_client_error(), "invalid");
    s.app
        .send(
            req(Method::POST, uri)
                .raw(Some("text/plain"), "reason=superseded")
                .auth(&operator),
        )
        .await
        .expect_error(415, "unsupported_media_type");
    s.app
        .send(req(Method::POST, uri).raw(None, "{}").auth(&operator))
        .await
        .expect_error(415, "unsupported_media_type");
    s.app
        .send(
            req(Method::POST, uri)
                .raw(Some("application/json"), "{not json")
                .auth(&operator),
        )
        .await
        .expect_client_error();
    // Nothing was revoked by any of them.
    assert!(s.authority.revoked.lock().unwrap().is_empty());
    assert!(revocations(&s.trail).is_empty());

    // Both spellings of a reason work.
    let r = s
        .app
        .send(post(uri, &json!({"reason": "cessation-of-operation"})).auth(&operator))
        .await;
    r.expect(200);
    assert_eq!(r.json["reason"], "cessation_of_operation");
}

#[tokio::test]
async fn sessions_are_cut_only_where_a_broker_is_configured() {
    let s = setup(FakeAuthority {
        broker: true,
        ..FakeAuthority::with_certs()
    })
    .await;
    let (_, operator) = s.app.token(ROOT, "operator", Some("acme")).await;
    let r = s
        .app
        .send(
            post(
                "/api/v1/devices/meter-1/revoke",
                &json!({"reason": "key-compromise", "cut_sessions": true}),
            )
            .auth(&operator),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["session_cut"]["status"], "disabled");
    assert!(s.authority.revoked.lock().unwrap()[0].2);
    assert_eq!(revocations(&s.trail)[0]["cut_sessions"], true);
}

#[tokio::test]
async fn revoking_by_serial_respects_tenants_and_server_certificates() {
    let s = setup(FakeAuthority::with_certs()).await;
    let (_, acme_op) = s.app.token(ROOT, "operator", Some("acme")).await;
    let (_, acme_viewer) = s.app.token(ROOT, "viewer", Some("acme")).await;
    let (_, default_op) = s.app.token(ROOT, "operator", Some("default")).await;

    // Another tenant's serial does not exist for this caller.
    s.app
        .send(post_empty("/api/v1/certificates/0b01/revoke").auth(&acme_op))
        .await
        .expect_error(404, "not_found");
    s.app
        .send(post_empty("/api/v1/certificates/0a01/revoke").auth(&acme_viewer))
        .await
        .expect_error(403, "forbidden");
    for bad in ["xyz", "0x01", &"a".repeat(41)] {
        s.app
            .send(post_empty(&format!("/api/v1/certificates/{bad}/revoke")).auth(&acme_op))
            .await
            .expect_error(400, "bad_request");
    }
    // Colons, case and leading zero octets as openssl prints serials.
    let r = s
        .app
        .send(
            post(
                "/api/v1/certificates/00:0A:01/revoke",
                &json!({"reason": "superseded"}),
            )
            .auth(&acme_op),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["revoked"], json!(["0a01"]));
    assert_eq!(r.json["device"], "meter-1");
    let audit = revocations(&s.trail);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["by"], "serial");
    assert_eq!(audit[0]["serials"], json!(["0a01"]));

    // Server certificates: not for a tenant operator, even in their tenant.
    s.app
        .send(post_empty("/api/v1/certificates/0c01/revoke").auth(&default_op))
        .await
        .expect_error(403, "forbidden");
    let r = s
        .app
        .send(post_empty("/api/v1/certificates/0c01/revoke").auth(ROOT))
        .await;
    r.expect(200);
    assert_eq!(r.json["revoked"], json!(["0c01"]));
    // A platform token that addresses no tenant reaches any tenant's certificate.
    let r = s
        .app
        .send(post_empty("/api/v1/certificates/0b01/revoke").auth(ROOT))
        .await;
    r.expect(200);
    assert_eq!(r.json["tenant"], "globex");
    // ...and one that addresses a tenant only that tenant's.
    s.app
        .send(
            post_empty("/api/v1/certificates/0a02/revoke")
                .auth(ROOT)
                .tenant("globex"),
        )
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn without_an_authority_the_routes_answer_503() {
    let app = App::sqlite().await;
    app.send(get("/api/v1/devices/meter-1/certificates").auth(ROOT))
        .await
        .expect_error(503, "unavailable");
    app.send(post_empty("/api/v1/devices/meter-1/revoke").auth(ROOT))
        .await
        .expect_error(503, "unavailable");
    app.send(post_empty("/api/v1/certificates/0a01/revoke").auth(ROOT))
        .await
        .expect_error(503, "unavailable");
}

#[tokio::test]
async fn certificate_routes_are_in_the_openapi_document() {
    let app = App::sqlite().await;
    let r = app.send(get("/api/v1/openapi.json").auth(ROOT)).await;
    r.expect(200);
    let doc: Value = serde_json::from_str(&r.text).unwrap();
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/v1/devices/{id}/certificates", "get"),
        ("/api/v1/devices/{id}/revoke", "post"),
        ("/api/v1/certificates/{serial}/revoke", "post"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{path} {method} missing");
        assert_eq!(op["tags"], json!(["identity"]), "{path}");
    }
    assert!(
        doc["components"]["schemas"]["RevokeRequest"].is_object(),
        "{}",
        doc["components"]["schemas"]
    );
}
