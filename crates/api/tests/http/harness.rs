//! The test harness: an in-process router over a fresh store, request and response helpers.

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use rampart_api::ApiState;
use rampart_core::{ApiToken, Role, Tenant, TenantId, Timestamp, luhn_check_digit};
use rampart_store::{PostgresStore, SqliteStore, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Secret of the platform admin token every test starts with.
pub(crate) const ROOT: &str = "rmp_test_platform_admin_secret";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// What keeps a backend's scratch space alive.
pub(crate) enum Scratch {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema { url: String, schema: String },
}

/// A router over a fresh store holding only the bootstrap admin token and the default tenant.
pub(crate) struct App {
    pub(crate) router: axum::Router,
    pub(crate) scratch: Scratch,
}

impl App {
    pub(crate) async fn over(store: Arc<dyn Store>, scratch: Scratch) -> Self {
        Self::over_with(store, scratch, |state| state).await
    }

    /// Like [`App::over`], with `extend` adding to the state (a response engine, say).
    pub(crate) async fn over_with(
        store: Arc<dyn Store>,
        scratch: Scratch,
        extend: impl FnOnce(ApiState) -> ApiState,
    ) -> Self {
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
            router: rampart_api::router(extend(ApiState::new(store, None))),
            scratch,
        }
    }

    pub(crate) async fn sqlite() -> Self {
        Self::sqlite_with(|state| state).await
    }

    /// A SQLite-backed app whose state `extend` adds to.
    pub(crate) async fn sqlite_with(extend: impl FnOnce(ApiState) -> ApiState) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_dir(dir.path()).await.unwrap();
        Self::over_with(Arc::new(store), Scratch::Dir(dir), extend).await
    }

    pub(crate) async fn postgres() -> Option<Self> {
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
    pub(crate) async fn cleanup(self) {
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

    pub(crate) async fn send(&self, req: Req) -> Resp {
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
    pub(crate) async fn token(
        &self,
        admin: &str,
        role: &str,
        tenant: Option<&str>,
    ) -> (String, String) {
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

    pub(crate) async fn tenant(&self, id: &str) {
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
    pub(crate) async fn device_ids(&self, secret: &str, query: &str) -> Vec<String> {
        let r = self
            .send(get(&format!("/api/v1/devices?{query}")).auth(secret))
            .await;
        r.expect(200);
        assert!(r.json["next_cursor"].is_null(), "{}", r.text);
        ids(&r.json["items"])
    }
}

pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) uri: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

pub(crate) fn req(method: Method, uri: &str) -> Req {
    Req {
        method,
        uri: uri.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

pub(crate) fn get(uri: &str) -> Req {
    req(Method::GET, uri)
}

pub(crate) fn delete(uri: &str) -> Req {
    req(Method::DELETE, uri)
}

pub(crate) fn post(uri: &str, body: &Value) -> Req {
    req(Method::POST, uri).json(body)
}

pub(crate) fn patch(uri: &str, body: &Value) -> Req {
    req(Method::PATCH, uri).json(body)
}

impl Req {
    pub(crate) fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub(crate) fn auth(self, secret: &str) -> Self {
        self.header("authorization", &format!("Bearer {secret}"))
    }

    pub(crate) fn tenant(self, tenant: &str) -> Self {
        self.header("x-rampart-tenant", tenant)
    }

    pub(crate) fn raw(mut self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Self {
        if let Some(ct) = content_type {
            self = self.header("content-type", ct);
        }
        self.body = body.into();
        self
    }

    pub(crate) fn json(self, body: &Value) -> Self {
        self.raw(Some("application/json"), serde_json::to_vec(body).unwrap())
    }
}

pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) content_type: String,
    pub(crate) headers: header::HeaderMap,
    pub(crate) text: String,
    pub(crate) json: Value,
}

impl Resp {
    #[track_caller]
    pub(crate) fn expect(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
    }

    /// Asserts a JSON error answer with this status and code; returns its message.
    #[track_caller]
    pub(crate) fn expect_error(&self, status: u16, code: &str) -> &str {
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
    pub(crate) fn expect_client_error(&self) -> &str {
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

pub(crate) fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn iccid(n: u64) -> String {
    let base = format!("8934071{n:011}");
    format!("{base}{}", luhn_check_digit(&base).unwrap())
}

/// The same ICCID with its check digit off by one.
pub(crate) fn bad_iccid(n: u64) -> String {
    let base = format!("8934071{n:011}");
    format!("{base}{}", (luhn_check_digit(&base).unwrap() + 1) % 10)
}

pub(crate) fn imsi(n: u64) -> String {
    format!("21407{n:010}")
}

pub(crate) fn imei(n: u64) -> String {
    let base = format!("35693803{n:06}");
    format!("{base}{}", luhn_check_digit(&base).unwrap())
}

pub(crate) fn bad_imei(n: u64) -> String {
    let base = format!("35693803{n:06}");
    format!("{base}{}", (luhn_check_digit(&base).unwrap() + 1) % 10)
}

pub(crate) fn sim_body(n: u64, device: Option<&str>) -> Value {
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
