//! The HTTP surface end to end, in process: requests go through the real router (auth
//! middleware, extractors, handlers, error mapping) into a real store. SQLite in a temporary
//! directory always; the tenant-isolation scenario also on PostgreSQL when
//! `RAMPART_TEST_POSTGRES_URL` names a server (in a private schema).

#![allow(clippy::unwrap_used)]

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use rampart_api::{ApiState, MAX_BODY_BYTES};
use rampart_core::{ApiToken, Role, Tenant, TenantId, Timestamp, luhn_check_digit};
use rampart_store::{PostgresStore, SqliteStore, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Secret of the platform admin token every test starts with.
const ROOT: &str = "rmp_test_platform_admin_secret";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// What keeps a backend's scratch space alive.
enum Scratch {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema { url: String, schema: String },
}

/// A router over a fresh store holding only the bootstrap admin token and the default tenant.
struct App {
    router: axum::Router,
    scratch: Scratch,
}

impl App {
    async fn over(store: Arc<dyn Store>, scratch: Scratch) -> Self {
        let now = Timestamp::now();
        store
            .put_token(
                &ApiToken {
                    id: "tok_bootstrap".to_owned(),
                    name: "bootstrap".to_owned(),
                    role: Role::Admin,
                    tenant: None,
                    created_at: now,
                },
                &rampart_api::auth::hash_token(ROOT),
            )
            .await
            .unwrap();
        store
            .put_tenant(&Tenant {
                id: TenantId::default_tenant(),
                name: "Default".to_owned(),
                created_at: now,
            })
            .await
            .unwrap();
        Self {
            router: rampart_api::router(ApiState::new(store, None)),
            scratch,
        }
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_dir(dir.path()).await.unwrap();
        Self::over(Arc::new(store), Scratch::Dir(dir)).await
    }

    async fn postgres() -> Option<Self> {
        let Ok(url) = std::env::var("RAMPART_TEST_POSTGRES_URL") else {
            eprintln!("skipping postgres api test: RAMPART_TEST_POSTGRES_URL is not set");
            return None;
        };
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url)
            .await
            .expect("connect to postgres");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let schema = format!("apitest_{}_{}", std::process::id(), nanos);
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut c)
            .await
            .expect("create schema");
        let options = sqlx::postgres::PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let store = PostgresStore::connect_with(options)
            .await
            .expect("open postgres");
        Some(Self::over(Arc::new(store), Scratch::Schema { url, schema }).await)
    }

    /// Drops a PostgreSQL scratch schema (a temporary directory goes away on its own).
    async fn cleanup(self) {
        drop(self.router);
        if let Scratch::Schema { url, schema } = self.scratch {
            use sqlx::Connection;
            if let Ok(mut c) = sqlx::PgConnection::connect(&url).await {
                let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut c).await {
                    eprintln!("could not drop test schema {schema}: {e}");
                }
            }
        }
    }

    async fn send(&self, req: Req) -> Resp {
        let mut b = Request::builder().method(req.method).uri(&req.uri);
        for (k, v) in &req.headers {
            b = b.header(*k, v);
        }
        let request = b.body(Body::from(req.body)).unwrap();
        let resp = self.router.clone().oneshot(request).await.unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            content_type,
            headers,
            text,
            json,
        }
    }

    /// Creates a token through the API as `admin` (optionally addressing `as_tenant`); returns
    /// its id and secret.
    async fn token(&self, admin: &str, role: &str, tenant: Option<&str>) -> (String, String) {
        let mut body = json!({"name": format!("{role} of {tenant:?}"), "role": role});
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        let r = self.send(post("/api/v1/tokens", &body).auth(admin)).await;
        r.expect(201);
        assert_eq!(r.json["token"]["role"], role);
        assert_eq!(r.json["token"]["tenant"], json!(tenant));
        let secret = r.json["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("rmp_"), "{secret}");
        assert!(r.json["token"].get("secret").is_none(), "{}", r.text);
        (r.json["token"]["id"].as_str().unwrap().to_owned(), secret)
    }

    async fn tenant(&self, id: &str) {
        let r = self
            .send(
                post(
                    "/api/v1/tenants",
                    &json!({"id": id, "name": format!("Tenant {id}")}),
                )
                .auth(ROOT),
            )
            .await;
        r.expect(201);
        assert_eq!(r.json["id"], id);
    }

    /// Lists device ids matching `query` (e.g. `tag=x`) as `secret`.
    async fn device_ids(&self, secret: &str, query: &str) -> Vec<String> {
        let r = self
            .send(get(&format!("/api/v1/devices?{query}")).auth(secret))
            .await;
        r.expect(200);
        assert!(r.json["next_cursor"].is_null(), "{}", r.text);
        ids(&r.json["items"])
    }
}

struct Req {
    method: Method,
    uri: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn req(method: Method, uri: &str) -> Req {
    Req {
        method,
        uri: uri.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn get(uri: &str) -> Req {
    req(Method::GET, uri)
}

fn delete(uri: &str) -> Req {
    req(Method::DELETE, uri)
}

fn post(uri: &str, body: &Value) -> Req {
    req(Method::POST, uri).json(body)
}

fn patch(uri: &str, body: &Value) -> Req {
    req(Method::PATCH, uri).json(body)
}

impl Req {
    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn auth(self, secret: &str) -> Self {
        self.header("authorization", &format!("Bearer {secret}"))
    }

    fn tenant(self, tenant: &str) -> Self {
        self.header("x-rampart-tenant", tenant)
    }

    fn raw(mut self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Self {
        if let Some(ct) = content_type {
            self = self.header("content-type", ct);
        }
        self.body = body.into();
        self
    }

    fn json(self, body: &Value) -> Self {
        self.raw(Some("application/json"), serde_json::to_vec(body).unwrap())
    }
}

struct Resp {
    status: StatusCode,
    content_type: String,
    headers: header::HeaderMap,
    text: String,
    json: Value,
}

impl Resp {
    #[track_caller]
    fn expect(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
    }

    /// Asserts a JSON error answer with this status and code; returns its message.
    #[track_caller]
    fn expect_error(&self, status: u16, code: &str) -> &str {
        self.expect(status);
        assert!(
            self.content_type.starts_with("application/json"),
            "content type {:?}, body {}",
            self.content_type,
            self.text
        );
        assert_eq!(self.json["error"]["code"], code, "body: {}", self.text);
        let message = self.json["error"]["message"].as_str().unwrap();
        assert!(!message.is_empty(), "body: {}", self.text);
        message
    }

    /// Asserts a 4xx JSON error (whatever its exact status); returns its code.
    #[track_caller]
    fn expect_client_error(&self) -> &str {
        assert!(
            self.status.is_client_error(),
            "{} {}",
            self.status,
            self.text
        );
        assert!(
            self.content_type.starts_with("application/json"),
            "content type {:?}, body {}",
            self.content_type,
            self.text
        );
        assert!(self.json["error"]["message"].is_string(), "{}", self.text);
        self.json["error"]["code"].as_str().unwrap()
    }
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

fn iccid(n: u64) -> String {
    let base = format!("8934071{n:011}");
    format!("{base}{}", luhn_check_digit(&base).unwrap())
}

/// The same ICCID with its check digit off by one.
fn bad_iccid(n: u64) -> String {
    let base = format!("8934071{n:011}");
    format!("{base}{}", (luhn_check_digit(&base).unwrap() + 1) % 10)
}

fn imsi(n: u64) -> String {
    format!("21407{n:010}")
}

fn imei(n: u64) -> String {
    let base = format!("35693803{n:06}");
    format!("{base}{}", luhn_check_digit(&base).unwrap())
}

fn bad_imei(n: u64) -> String {
    let base = format!("35693803{n:06}");
    format!("{base}{}", (luhn_check_digit(&base).unwrap() + 1) % 10)
}

fn sim_body(n: u64, device: Option<&str>) -> Value {
    let mut body = json!({
        "iccid": iccid(n),
        "imsi": imsi(n),
        "imei_policy": "fixed",
        "allowed_imeis": [imei(n)],
    });
    if let Some(d) = device {
        body["device_id"] = json!(d);
    }
    body
}

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

// ---------------------------------------------------------------------------------------------
// 2. Devices and SIMs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn device_and_sim_lifecycle() {
    let app = App::sqlite().await;

    let r = app
        .send(
            post(
                "/api/v1/devices",
                &json!({
                    "id": "meter-0001",
                    "name": "Meter 1",
                    "profile": "smart-meter",
                    "tags": ["site-a", "prod"],
                    "ips": ["10.0.0.5", "10.0.1.0/24"],
                }),
            )
            .auth(ROOT),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json["id"], "meter-0001");
    assert_eq!(r.json["tenant"], "default");
    assert_eq!(r.json["name"], "Meter 1");
    assert_eq!(r.json["profile"], "smart-meter");
    assert_eq!(r.json["state"], "active");
    assert_eq!(r.json["tags"], json!(["prod", "site-a"]));
    assert_eq!(r.json["ips"], json!(["10.0.0.5/32", "10.0.1.0/24"]));
    assert!(r.json.get("sims").is_none(), "{}", r.text);
    let created_at = r.json["created_at"].as_str().unwrap().to_owned();

    // A second device that every search below must leave out.
    app.send(
        post(
            "/api/v1/devices",
            &json!({"id": "cam-0001", "profile": "camera", "tags": ["site-b", "prod"],
                    "ips": ["10.0.2.7"]}),
        )
        .auth(ROOT),
    )
    .await
    .expect(201);
    app.send(post("/api/v1/sims", &sim_body(2, Some("cam-0001"))).auth(ROOT))
        .await
        .expect(201);

    let r = app
        .send(post("/api/v1/sims", &sim_body(1, Some("meter-0001"))).auth(ROOT))
        .await;
    r.expect(201);
    assert_eq!(r.json["iccid"], iccid(1));
    assert_eq!(r.json["imsi"], imsi(1));
    assert_eq!(r.json["tenant"], "default");
    assert_eq!(r.json["imei_policy"], "fixed");
    assert_eq!(r.json["allowed_imeis"], json!([imei(1)]));
    assert_eq!(r.json["device_id"], "meter-0001");

    // Searches.
    let meter = vec!["meter-0001".to_owned()];
    assert_eq!(
        app.device_ids(ROOT, &format!("imsi={}", imsi(1))).await,
        meter
    );
    assert_eq!(
        app.device_ids(ROOT, &format!("iccid={}", iccid(1))).await,
        meter
    );
    assert_eq!(app.device_ids(ROOT, "ip=10.0.0.5").await, meter);
    assert_eq!(app.device_ids(ROOT, "ip=10.0.1.77").await, meter);
    assert_eq!(app.device_ids(ROOT, "ip=10.0.2.7").await, ["cam-0001"]);
    assert!(app.device_ids(ROOT, "ip=10.0.3.1").await.is_empty());
    assert_eq!(app.device_ids(ROOT, "tag=site-a").await, meter);
    assert_eq!(app.device_ids(ROOT, "profile=smart-meter").await, meter);
    assert_eq!(
        app.device_ids(ROOT, "tag=prod").await,
        ["cam-0001", "meter-0001"]
    );
    assert_eq!(
        app.device_ids(ROOT, &format!("tag=prod&imsi={}", imsi(1)))
            .await,
        meter
    );
    assert!(
        app.device_ids(ROOT, "tag=site-a&profile=camera")
            .await
            .is_empty()
    );
    assert!(
        app.device_ids(ROOT, &format!("imsi={}", imsi(99)))
            .await
            .is_empty()
    );

    // One device shows its SIMs.
    let r = app.send(get("/api/v1/devices/meter-0001").auth(ROOT)).await;
    r.expect(200);
    let sims = r.json["sims"].as_array().unwrap();
    assert_eq!(sims.len(), 1, "{}", r.text);
    assert_eq!(sims[0]["iccid"], iccid(1));
    assert_eq!(sims[0]["imsi"], imsi(1));

    // PATCH changes only what is given.
    let r = app
        .send(
            patch(
                "/api/v1/devices/meter-0001",
                &json!({"state": "quarantined", "tags": ["site-a", "prod", "suspect"]}),
            )
            .auth(ROOT),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["state"], "quarantined");
    assert_eq!(r.json["tags"], json!(["prod", "site-a", "suspect"]));
    assert_eq!(r.json["name"], "Meter 1");
    assert_eq!(r.json["profile"], "smart-meter");
    assert_eq!(r.json["created_at"], created_at.as_str());
    let r = app.send(get("/api/v1/devices/meter-0001").auth(ROOT)).await;
    r.expect(200);
    assert_eq!(r.json["state"], "quarantined");
    assert_eq!(r.json["tags"], json!(["prod", "site-a", "suspect"]));
    assert_eq!(r.json["ips"], json!(["10.0.0.5/32", "10.0.1.0/24"]));
    assert_eq!(app.device_ids(ROOT, "state=quarantined").await, meter);
    assert_eq!(app.device_ids(ROOT, "tag=suspect").await, meter);
    assert_eq!(app.device_ids(ROOT, "state=active").await, ["cam-0001"]);

    // A body id that disagrees with the path is refused.
    let r = app
        .send(patch("/api/v1/devices/meter-0001", &json!({"id": "cam-0001"})).auth(ROOT))
        .await;
    assert_eq!(
        r.expect_error(400, "bad_request"),
        r#"body id "cam-0001" does not match the path id "meter-0001""#
    );
    // PATCH of a device that does not exist.
    app.send(patch("/api/v1/devices/ghost", &json!({"name": "x"})).auth(ROOT))
        .await
        .expect_error(404, "not_found");

    // SIM addressed by IMSI: change the IMEI policy.
    let r = app
        .send(
            patch(
                &format!("/api/v1/sims/{}", imsi(1)),
                &json!({"imei_policy": "learn"}),
            )
            .auth(ROOT),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["imei_policy"], "learn");
    assert_eq!(r.json["iccid"], iccid(1));
    assert_eq!(r.json["device_id"], "meter-0001");
    let r = app
        .send(get(&format!("/api/v1/sims/{}", iccid(1))).auth(ROOT))
        .await;
    r.expect(200);
    assert_eq!(r.json["imei_policy"], "learn");
    assert_eq!(r.json["allowed_imeis"], json!([imei(1)]));
    // The ICCID of a SIM cannot change.
    app.send(
        patch(
            &format!("/api/v1/sims/{}", imsi(1)),
            &json!({"iccid": iccid(3)}),
        )
        .auth(ROOT),
    )
    .await
    .expect_error(400, "bad_request");
    // Neither a SIM key of the wrong length.
    app.send(get("/api/v1/sims/12345").auth(ROOT))
        .await
        .expect_error(400, "bad_request");
    app.send(get(&format!("/api/v1/sims/{}", imsi(77))).auth(ROOT))
        .await
        .expect_error(404, "not_found");

    // Delete the device: its SIM stays, unbound.
    let r = app
        .send(delete("/api/v1/devices/meter-0001").auth(ROOT))
        .await;
    r.expect(204);
    assert!(r.text.is_empty(), "{}", r.text);
    app.send(get("/api/v1/devices/meter-0001").auth(ROOT))
        .await
        .expect_error(404, "not_found");
    app.send(delete("/api/v1/devices/meter-0001").auth(ROOT))
        .await
        .expect_error(404, "not_found");
    let r = app
        .send(get(&format!("/api/v1/sims/{}", imsi(1))).auth(ROOT))
        .await;
    r.expect(200);
    assert_eq!(r.json["iccid"], iccid(1));
    assert!(r.json["device_id"].is_null(), "{}", r.text);
    assert_eq!(r.json["imei_policy"], "learn");
    let r = app.send(get("/api/v1/sims?unbound=true").auth(ROOT)).await;
    r.expect(200);
    let unbound: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["iccid"].as_str().unwrap())
        .collect();
    assert_eq!(unbound, [iccid(1).as_str()]);
    assert!(
        app.device_ids(ROOT, &format!("imsi={}", imsi(1)))
            .await
            .is_empty()
    );
    assert_eq!(app.device_ids(ROOT, "").await, ["cam-0001"]);

    // Rebinding and deleting a SIM.
    let r = app
        .send(
            patch(
                &format!("/api/v1/sims/{}", iccid(1)),
                &json!({"device_id": "cam-0001"}),
            )
            .auth(ROOT),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json["device_id"], "cam-0001");
    app.send(
        patch(
            &format!("/api/v1/sims/{}", iccid(1)),
            &json!({"device_id": "ghost"}),
        )
        .auth(ROOT),
    )
    .await
    .expect_error(404, "not_found");
    app.send(delete(&format!("/api/v1/sims/{}", imsi(1))).auth(ROOT))
        .await
        .expect(204);
    app.send(get(&format!("/api/v1/sims/{}", iccid(1))).auth(ROOT))
        .await
        .expect_error(404, "not_found");
}

// ---------------------------------------------------------------------------------------------
// 3. Validation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_identifiers_are_422_naming_the_field() {
    let app = App::sqlite().await;
    app.send(post("/api/v1/devices", &json!({"id": "dev-1"})).auth(ROOT))
        .await
        .expect(201);

    let cases: [(Value, &[&str]); 8] = [
        (
            json!({"iccid": iccid(1), "imsi": "2140701234567"}),
            &["imsi", "14 or 15 digits"],
        ),
        (
            json!({"iccid": iccid(1), "imsi": "2140701234567890"}),
            &["imsi", "14 or 15 digits"],
        ),
        (
            json!({"iccid": iccid(1), "imsi": "100070123456789"}),
            &["imsi", "country code"],
        ),
        (
            json!({"iccid": iccid(1), "imsi": "21407012345678x"}),
            &["imsi", "digits"],
        ),
        (
            json!({"iccid": bad_iccid(1), "imsi": imsi(1)}),
            &["iccid", "luhn"],
        ),
        (
            json!({"iccid": iccid(1), "imsi": imsi(1), "imei_policy": "fixed",
                   "allowed_imeis": [bad_imei(1)]}),
            &["imei", "luhn"],
        ),
        (
            json!({"iccid": iccid(1), "imsi": imsi(1), "imei_policy": "fixed",
                   "allowed_imeis": []}),
            &["imei_policy"],
        ),
        (
            json!({"iccid": iccid(1), "imsi": imsi(1), "imei_policy": "sometimes"}),
            &["imei_policy"],
        ),
    ];
    for (body, words) in cases {
        let r = app.send(post("/api/v1/sims", &body).auth(ROOT)).await;
        let message = r.expect_error(422, "invalid");
        for w in words {
            assert!(message.contains(w), "{body}: {message:?} lacks {w:?}");
        }
    }
    // None of them landed.
    let r = app.send(get("/api/v1/sims").auth(ROOT)).await;
    r.expect(200);
    assert_eq!(r.json["items"], json!([]));

    // The same rules on PATCH.
    app.send(post("/api/v1/sims", &sim_body(1, Some("dev-1"))).auth(ROOT))
        .await
        .expect(201);
    let path = format!("/api/v1/sims/{}", iccid(1));
    let message = app
        .send(patch(&path, &json!({"allowed_imeis": [bad_imei(2)]})).auth(ROOT))
        .await
        .expect_error(422, "invalid")
        .to_owned();
    assert!(message.contains("imei"), "{message}");
    let message = app
        .send(patch(&path, &json!({"imsi": "999"})).auth(ROOT))
        .await
        .expect_error(422, "invalid")
        .to_owned();
    assert!(message.contains("imsi"), "{message}");
    let r = app.send(get(&path).auth(ROOT)).await;
    r.expect(200);
    assert_eq!(r.json["allowed_imeis"], json!([imei(1)]));
    assert_eq!(r.json["imsi"], imsi(1));

    // Device fields.
    let device_cases: [(Value, &str); 6] = [
        (json!({"name": "no id"}), "id"),
        (json!({"id": "has space"}), "device_id"),
        (json!({"id": "dev-2", "ips": ["10.0.0.300"]}), "ips"),
        (json!({"id": "dev-2", "tags": ["a;b"]}), "tags"),
        (json!({"id": "dev-2", "state": "gone"}), "state"),
        (json!({"id": "dev-2", "mac": "zz:zz"}), "mac"),
    ];
    for (body, field) in device_cases {
        let r = app.send(post("/api/v1/devices", &body).auth(ROOT)).await;
        let message = r.expect_error(422, "invalid");
        assert!(
            message.contains(field),
            "{body}: {message:?} lacks {field:?}"
        );
    }
    assert_eq!(app.device_ids(ROOT, "").await, ["dev-1"]);
}

#[tokio::test]
async fn duplicates_are_409() {
    let app = App::sqlite().await;
    app.send(post("/api/v1/devices", &json!({"id": "dev-1", "name": "first"})).auth(ROOT))
        .await
        .expect(201);
    app.send(post("/api/v1/devices", &json!({"id": "dev-1", "name": "second"})).auth(ROOT))
        .await
        .expect_error(409, "conflict");
    let r = app.send(get("/api/v1/devices/dev-1").auth(ROOT)).await;
    r.expect(200);
    assert_eq!(r.json["name"], "first");

    app.send(post("/api/v1/sims", &sim_body(1, Some("dev-1"))).auth(ROOT))
        .await
        .expect(201);
    // Same ICCID, other IMSI.
    let mut body = sim_body(2, None);
    body["iccid"] = json!(iccid(1));
    app.send(post("/api/v1/sims", &body).auth(ROOT))
        .await
        .expect_error(409, "conflict");
    // Same IMSI, other ICCID.
    let mut body = sim_body(2, None);
    body["imsi"] = json!(imsi(1));
    app.send(post("/api/v1/sims", &body).auth(ROOT))
        .await
        .expect_error(409, "conflict");
    // A SIM for a device that does not exist.
    app.send(post("/api/v1/sims", &sim_body(3, Some("ghost"))).auth(ROOT))
        .await
        .expect_error(404, "not_found");
    // Moving a SIM onto another SIM's IMSI.
    app.send(post("/api/v1/sims", &sim_body(2, None)).auth(ROOT))
        .await
        .expect(201);
    app.send(
        patch(
            &format!("/api/v1/sims/{}", iccid(2)),
            &json!({"imsi": imsi(1)}),
        )
        .auth(ROOT),
    )
    .await
    .expect_error(409, "conflict");

    let r = app.send(get("/api/v1/sims").auth(ROOT)).await;
    r.expect(200);
    let sims = r.json["items"].as_array().unwrap();
    assert_eq!(sims.len(), 2, "{}", r.text);
    assert_eq!(sims[0]["imsi"], imsi(1));
    assert_eq!(sims[0]["device_id"], "dev-1");
    assert_eq!(sims[1]["imsi"], imsi(2));
}

#[tokio::test]
async fn malformed_bodies_are_json_errors() {
    let app = App::sqlite().await;

    // Unknown field.
    let r = app
        .send(post("/api/v1/devices", &json!({"id": "dev-1", "colour": "red"})).auth(ROOT))
        .await;
    r.expect_client_error();
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{}",
        r.text
    );
    // Wrong type.
    let r = app
        .send(post("/api/v1/devices", &json!({"id": "dev-1", "tags": "prod"})).auth(ROOT))
        .await;
    r.expect_client_error();
    // Syntax error.
    app.send(
        req(Method::POST, "/api/v1/devices")
            .raw(Some("application/json"), r#"{"id": "dev-1", "#)
            .auth(ROOT),
    )
    .await
    .expect_error(400, "bad_request");
    // Not JSON at all.
    app.send(
        req(Method::POST, "/api/v1/devices")
            .raw(Some("text/plain"), r#"{"id": "dev-1"}"#)
            .auth(ROOT),
    )
    .await
    .expect_error(415, "unsupported_media_type");
    app.send(
        req(Method::POST, "/api/v1/sims")
            .raw(None, r#"{"iccid": "1"}"#)
            .auth(ROOT),
    )
    .await
    .expect_error(415, "unsupported_media_type");
    // Too large: a syntactically fine body just over the limit.
    let big = format!(
        r#"{{"id": "dev-1", "name": "{}"}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    assert_eq!(MAX_BODY_BYTES, 256 * 1024);
    app.send(
        req(Method::POST, "/api/v1/devices")
            .raw(Some("application/json"), big)
            .auth(ROOT),
    )
    .await
    .expect_error(413, "payload_too_large");
    // Another route, same limit.
    let big = format!(r#"{{"id": "t", "name": "{}"}}"#, "x".repeat(300 * 1024));
    app.send(
        req(Method::POST, "/api/v1/tenants")
            .raw(Some("application/json"), big)
            .auth(ROOT),
    )
    .await
    .expect_error(413, "payload_too_large");

    // Nothing was created by any of them.
    assert!(app.device_ids(ROOT, "").await.is_empty());
    let r = app.send(get("/api/v1/tenants").auth(ROOT)).await;
    r.expect(200);
    assert_eq!(r.json.as_array().unwrap().len(), 1, "{}", r.text);
}

#[tokio::test]
async fn invalid_query_parameters_are_json_errors() {
    let app = App::sqlite().await;
    let cases: [(&str, u16, &str); 11] = [
        ("/api/v1/devices?limit=0", 400, "bad_request"),
        ("/api/v1/devices?limit=1001", 400, "bad_request"),
        ("/api/v1/devices?limit=ten", 400, "bad_request"),
        ("/api/v1/devices?limit=-1", 400, "bad_request"),
        ("/api/v1/devices?state=gone", 422, "invalid"),
        ("/api/v1/devices?colour=red", 400, "bad_request"),
        ("/api/v1/devices?imsi=12345", 422, "invalid"),
        ("/api/v1/devices?ip=10.0.0", 400, "bad_request"),
        ("/api/v1/devices?tag=a%3Bb", 422, "invalid"),
        ("/api/v1/sims?unbound=maybe", 400, "bad_request"),
        ("/api/v1/sims?limit=0", 400, "bad_request"),
    ];
    for (uri, status, code) in cases {
        let r = app.send(get(uri).auth(ROOT)).await;
        assert_eq!(r.status.as_u16(), status, "{uri}: {}", r.text);
        r.expect_error(status, code);
    }
    // The bounds themselves are fine.
    app.send(get("/api/v1/devices?limit=1").auth(ROOT))
        .await
        .expect(200);
    app.send(get("/api/v1/devices?limit=1000").auth(ROOT))
        .await
        .expect(200);
    app.send(get("/api/v1/devices?state=Quarantined").auth(ROOT))
        .await
        .expect(200);
}

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

// ---------------------------------------------------------------------------------------------
// 5. Pagination
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pagination_returns_every_device_once_in_order() {
    let app = App::sqlite().await;
    // Created out of order; listed by id.
    let mut expected: Vec<String> = (0..25)
        .map(|i| format!("dev-{:03}", (i * 7) % 25))
        .collect();
    for id in &expected {
        app.send(post("/api/v1/devices", &json!({"id": id})).auth(ROOT))
            .await
            .expect(201);
    }
    expected.sort();

    let mut seen: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            None => "/api/v1/devices?limit=10".to_owned(),
            Some(c) => format!("/api/v1/devices?limit=10&cursor={c}"),
        };
        let r = app.send(get(&uri).auth(ROOT)).await;
        r.expect(200);
        let page = ids(&r.json["items"]);
        sizes.push(page.len());
        seen.extend(page);
        match r.json["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), seen.last().map(String::as_str));
                cursor = Some(next.to_owned());
            }
            None => break,
        }
        assert!(sizes.len() < 10, "pagination does not end: {sizes:?}");
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(seen, expected);

    // A page that ends exactly at the last device has no cursor.
    let r = app.send(get("/api/v1/devices?limit=25").auth(ROOT)).await;
    r.expect(200);
    assert_eq!(ids(&r.json["items"]).len(), 25);
    assert!(r.json["next_cursor"].is_null(), "{}", r.text);
    // Filters and paging combine.
    for id in ["dev-003", "dev-011", "dev-017"] {
        app.send(patch(&format!("/api/v1/devices/{id}"), &json!({"tags": ["odd"]})).auth(ROOT))
            .await
            .expect(200);
    }
    let r = app
        .send(get("/api/v1/devices?tag=odd&limit=2").auth(ROOT))
        .await;
    r.expect(200);
    assert_eq!(ids(&r.json["items"]), ["dev-003", "dev-011"]);
    let next = r.json["next_cursor"].as_str().unwrap();
    let r = app
        .send(get(&format!("/api/v1/devices?tag=odd&limit=2&cursor={next}")).auth(ROOT))
        .await;
    r.expect(200);
    assert_eq!(ids(&r.json["items"]), ["dev-017"]);
    assert!(r.json["next_cursor"].is_null());
}

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
