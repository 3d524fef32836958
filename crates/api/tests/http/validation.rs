use axum::http::Method;
use rampart_api::MAX_BODY_BYTES;
use serde_json::{Value, json};

use crate::harness::*;

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
