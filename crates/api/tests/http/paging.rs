use serde_json::json;

use crate::harness::*;

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
