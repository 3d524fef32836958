//! FreeRADIUS' `radclient` (freeradius-utils) with the 3GPP dictionary drives the accounting
//! server: Start / Interim-Update / Stop with every attribute of a packet gateway, checked
//! field by field through the API. A wrong secret gets no answer and is counted.
//!
//! Needs `radclient` on PATH; without it the test prints a skip notice, unless
//! `RAMPART_REQUIRE_PEERS=1` (CI), where it fails.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{DEVICE, Harness, IMSI, SECRET, counter};

const SHARED_3GPP: &str = "/work/shared/data/radius/freeradius-3.2.1_dictionary.3gpp";
const SYSTEM_DICT: &str = "/usr/share/freeradius";

fn radclient_available() -> bool {
    let found = Command::new("radclient").arg("-h").output().is_ok();
    if !found {
        assert!(
            std::env::var("RAMPART_REQUIRE_PEERS").as_deref() != Ok("1"),
            "radclient is not installed but RAMPART_REQUIRE_PEERS=1 (apt-get install freeradius-utils)"
        );
        eprintln!("SKIPPED: radclient not on PATH (install freeradius-utils to run this test)");
    }
    found
}

/// A dictionary directory: the RFC dictionaries of the installed FreeRADIUS and the 3GPP
/// vendor dictionary kept in the shared data (the system copy when that is absent).
fn dictionary_dir(dir: &Path) -> PathBuf {
    let tgpp = if Path::new(SHARED_3GPP).is_file() {
        SHARED_3GPP.to_owned()
    } else {
        assert!(
            std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
            "{SHARED_3GPP} missing but RAMPART_REQUIRE_SHARED_DATA=1"
        );
        format!("{SYSTEM_DICT}/dictionary.3gpp")
    };
    let mut text = String::new();
    for rfc in ["2865", "2866", "2869", "3162", "3576"] {
        text.push_str(&format!("$INCLUDE {SYSTEM_DICT}/dictionary.rfc{rfc}\n"));
    }
    text.push_str(&format!("$INCLUDE {tgpp}\n"));
    std::fs::write(dir.join("dictionary"), text).unwrap();
    dir.to_owned()
}

/// Sends one request with radclient; true when it was answered.
fn radclient(dict: &Path, addr: std::net::SocketAddr, secret: &str, attrs: &str) -> bool {
    let file = dict.join("request.txt");
    std::fs::write(&file, attrs).unwrap();
    let out = Command::new("radclient")
        .args([
            "-d",
            dict.to_str().unwrap(),
            "-x",
            "-r",
            "1",
            "-t",
            "1",
            "-f",
        ])
        .arg(&file)
        .arg(addr.to_string())
        .arg("acct")
        .arg(secret)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        eprintln!(
            "radclient: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success() && stdout.contains("Accounting-Response")
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn common_attrs(status: &str, t: u64) -> String {
    format!(
        "Acct-Status-Type = {status}\n\
         Acct-Session-Id = \"5f3a9c01-0001\"\n\
         Acct-Multi-Session-Id = \"multi-1\"\n\
         User-Name = \"iot-meter-0042\"\n\
         NAS-IP-Address = 192.0.2.10\n\
         NAS-Identifier = \"pgw-lab-1\"\n\
         Framed-IP-Address = 10.45.0.7\n\
         Framed-IPv6-Prefix = 2001:db8:45::/64\n\
         Called-Station-Id = \"iot.rampart.example\"\n\
         Calling-Station-Id = \"491701234567\"\n\
         Event-Timestamp = {t}\n\
         3GPP-IMSI = \"{IMSI}\"\n\
         3GPP-IMEISV = \"3548990123456701\"\n\
         3GPP-RAT-Type = EUTRAN\n\
         3GPP-IMSI-MCC-MNC = \"26201\"\n\
         3GPP-SGSN-MCC-MNC = \"26202\"\n\
         3GPP-GGSN-MCC-MNC = \"26201\"\n\
         3GPP-Charging-ID = 305419896\n\
         3GPP-Selection-Mode = \"0\"\n\
         3GPP-Charging-Characteristics = \"0800\"\n\
         3GPP-User-Location-Info = 0x8262f2101a2b62f21001234567\n\
         3GPP-MS-Time-Zone = 0x4001\n\
         3GPP-NSAPI = \"5\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radclient_start_interim_stop_through_the_api() {
    if !radclient_available() {
        return;
    }
    let h = Harness::start(|_| {}).await;
    let tmp = tempfile::tempdir().unwrap();
    let dict = dictionary_dir(tmp.path());
    let t0 = now_secs() - 120;

    let start =
        common_attrs("Start", t0) + "Acct-Authentic = RADIUS\nNAS-Port-Type = Wireless-Other\n";
    assert!(radclient(&dict, h.addr, SECRET, &start), "start answered");
    let interim = common_attrs("Interim-Update", t0 + 60)
        + "Acct-Input-Octets = 1000\nAcct-Input-Gigawords = 1\nAcct-Output-Octets = 2000\n\
           Acct-Input-Packets = 10\nAcct-Output-Packets = 20\nAcct-Session-Time = 60\n\
           Message-Authenticator = 0x00\n";
    assert!(
        radclient(&dict, h.addr, SECRET, &interim),
        "interim answered"
    );

    // Acknowledged means journaled; the API shows it once folded, milliseconds later.
    h.folded().await;
    let (status, v) = h.get(&format!("/api/v1/devices/{DEVICE}")).await;
    assert_eq!(status, 200, "{v}");
    let s = &v["session"];
    assert_eq!(s["imsi"], IMSI);
    assert_eq!(s["imeisv"], "3548990123456701");
    assert_eq!(s["ip"], "10.45.0.7");
    assert_eq!(s["ipv6_prefix"], "2001:db8:45::/64");
    assert_eq!(s["apn"], "iot.rampart.example");
    assert_eq!(s["msisdn"], "491701234567");
    assert_eq!(s["nas"], "pgw-lab-1");
    assert_eq!(s["session_id"], "5f3a9c01-0001");
    assert_eq!(s["rat"], "EUTRAN");
    assert_eq!(s["location"]["kind"], "TAI+ECGI");
    assert_eq!(s["location"]["mcc_mnc"], "262-01");
    assert_eq!(s["location"]["tac"], 0x1a2b);
    assert_eq!(s["location"]["eci"], 0x0123_4567);
    assert_eq!(s["tenant"], "default");
    assert_eq!(s["device_id"], DEVICE);
    assert_eq!(s["input_octets"], (1u64 << 32) + 1000);
    assert_eq!(s["output_octets"], 2000);
    let start_time = rampart_core::Timestamp(i64::try_from(t0).unwrap() * 1000).to_rfc3339();
    assert_eq!(s["started_at"], start_time);
    assert_eq!(v["usage"]["total_up"], (1u64 << 32) + 1000);
    assert_eq!(v["usage"]["total_down"], 2000);
    assert_eq!(v["last_imei"]["imeisv"], "3548990123456701");
    assert_eq!(v["last_location"]["location"]["eci"], 0x0123_4567);

    let (status, list) = h.get("/api/v1/sessions?ip=10.45.0.7").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let (_, list) = h.get("/api/v1/sessions?ip=2001:db8:45::99").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let (_, list) = h.get(&format!("/api/v1/sessions?imsi={IMSI}")).await;
    assert_eq!(list[0]["imsi"], IMSI);

    // A wrong secret: no answer, nothing stored, counted.
    let before = counter("rampart_radius_requests_total{result=\"bad_authenticator\"}");
    h.folded().await;
    let records_before = h.store.count_accounting_records().await.unwrap();
    assert!(
        !radclient(&dict, h.addr, "wrong-secret", &interim),
        "wrong secret refused"
    );
    assert!(counter("rampart_radius_requests_total{result=\"bad_authenticator\"}") > before);
    h.folded().await;
    assert_eq!(
        h.store.count_accounting_records().await.unwrap(),
        records_before
    );

    let stop = common_attrs("Stop", t0 + 90)
        + "Acct-Input-Octets = 5000\nAcct-Input-Gigawords = 1\nAcct-Output-Octets = 2500\n\
           Acct-Session-Time = 90\nAcct-Terminate-Cause = User-Request\n";
    assert!(radclient(&dict, h.addr, SECRET, &stop), "stop answered");
    h.folded().await;
    let (_, v) = h.get(&format!("/api/v1/devices/{DEVICE}")).await;
    assert!(v.get("session").is_none(), "session ended: {v}");
    assert_eq!(v["usage"]["total_up"], (1u64 << 32) + 5000);
    assert_eq!(v["usage"]["total_down"], 2500);
    let (_, u) = h
        .get(&format!("/api/v1/devices/{DEVICE}/usage?hours=48"))
        .await;
    assert_eq!(u["total_up"], (1u64 << 32) + 5000);

    let records = h.store.records_for_session("5f3a9c01-0001").await.unwrap();
    let statuses: Vec<&str> = records.iter().map(|r| r.record.status.as_str()).collect();
    assert_eq!(statuses, ["Start", "Interim-Update", "Stop"]);
    assert_eq!(
        records[2].record.terminate_cause.as_deref(),
        Some("UserRequest")
    );
    assert!(h.sessions.read().unwrap().is_empty());
    h.stop().await;
}
