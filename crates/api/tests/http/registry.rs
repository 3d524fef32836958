use serde_json::json;

use crate::harness::*;

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
