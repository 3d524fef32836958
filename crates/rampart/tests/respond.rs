//! Containment end to end with real peers: `rampart serve` with the playbook "SIM in an
//! unauthorised IMEI: disconnect and quarantine"; radclient sends an Accounting-Start for a
//! registered SIM in an IMEI its policy does not allow; a Disconnect-Request reaches
//! FreeRADIUS acting as the NAS's Dynamic Authorization Server (which drops requests whose
//! authenticators do not verify), its ACK is recorded; the device's client is disabled on a
//! real Mosquitto (its open connection dropped, reconnects refused); the incident shows both
//! actions; `rampart audit verify` passes; undo through the API restores the client.
//!
//! Skips visibly when radclient, freeradius, mosquitto, mosquitto_ctrl or the dynamic-security
//! plugin is missing; fails then when `RAMPART_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{Killed, dynsec_plugin, free_tcp, free_udp, have, set_mode, skip};

/// The end-to-end test's name, for skip messages.
const TEST: &str = "sim_in_foreign_imei_is_disconnected_and_quarantined_then_undone";
const BIN: &str = env!("CARGO_BIN_EXE_rampart");
const ACCT_SECRET: &str = "acct-secret-1";
const DAE_SECRET: &str = "dae-secret-1";
const ADMIN_PW: &str = "admin-pw-1";
const DEVICE_PW: &str = "device-pw-1";
const TOKEN: &str = "respond-test-token-0123456789abcdef";
const SYSTEM_DICT: &str = "/usr/share/freeradius";

/// FreeRADIUS as a NAS's DAS: ACKs a Disconnect-Request that carries Event-Timestamp and
/// Message-Authenticator (and whose authenticators verify, or it would drop it).
fn freeradius(dir: &Path, port: u16) -> (Killed, PathBuf) {
    let d = dir.display();
    let conf = format!(
        r#"
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {d}
raddbdir = {d}
radacctdir = {d}
name = freeradius
confdir = {d}
run_dir = {d}
db_dir = {d}
libdir = /usr/lib/freeradius
pidfile = {d}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
  destination = stderr
}}
security {{
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}}
modules {{
  always reject {{
    rcode = reject
  }}
  always ok {{
    rcode = ok
  }}
}}
client local {{
  ipaddr = 127.0.0.1
  secret = {DAE_SECRET}
}}
server coa {{
  listen {{
    type = coa
    ipaddr = 127.0.0.1
    port = {port}
  }}
  recv-coa {{
    if (&request:Packet-Type == Disconnect-Request && &request:Event-Timestamp && &request:Message-Authenticator && &request:Acct-Session-Id == "5f3a9c01-0001") {{
      ok
    }}
    else {{
      update reply {{
        &Error-Cause := Invalid-Request
      }}
      reject
    }}
  }}
  send-coa {{
    ok
  }}
}}
"#
    );
    std::fs::write(dir.join("radiusd.conf"), conf).unwrap();
    let log = dir.join("radiusd.log");
    let child = Command::new("freeradius")
        .args(["-X", "-n", "radiusd", "-l", "stdout", "-d"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    for _ in 0..100 {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Ready to process requests")
        {
            return (child, log);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "freeradius did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

fn ctrl(port: u16, args: &[&str]) {
    let o = Command::new("mosquitto_ctrl")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            "admin",
            "-P",
            ADMIN_PW,
        ])
        .arg("dynsec")
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "mosquitto_ctrl {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Mosquitto with dynamic security; the device has a client that may publish.
fn mosquitto(dir: &Path, plugin: &Path, device: &str) -> (Killed, u16) {
    let dynsec = dir.join("dynsec.json");
    let init = Command::new("mosquitto_ctrl")
        .args(["dynsec", "init"])
        .arg(&dynsec)
        .args(["admin", ADMIN_PW])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let port = free_tcp();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "per_listener_settings false\npersistence false\nlog_dest stderr\n\
             allow_anonymous false\nlistener {port} 127.0.0.1\nplugin {}\n\
             plugin_opt_config_file {}\n",
            plugin.display(),
            dynsec.display()
        ),
    )
    .unwrap();
    set_mode(dir, 0o777);
    set_mode(&dynsec, 0o666);
    set_mode(&conf, 0o644);
    let child = Killed(
        Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("mosquitto.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    ctrl(port, &["createClient", device, "-p", DEVICE_PW]);
    ctrl(port, &["setDefaultACLAccess", "publishClientSend", "allow"]);
    ctrl(port, &["setDefaultACLAccess", "subscribe", "allow"]);
    (child, port)
}

fn publish(port: u16, device: &str) -> bool {
    Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            device,
            "-P",
            DEVICE_PW,
        ])
        .args([
            "-i",
            &format!("{device}-pub"),
            "-t",
            "telemetry/x",
            "-m",
            "1",
            "-q",
            "1",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default();
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

fn radclient(dir: &Path, port: u16, attrs: &str) {
    let dict = dir.join("dict");
    std::fs::create_dir_all(&dict).unwrap();
    let mut text = String::new();
    for rfc in ["2865", "2866", "2869", "3162"] {
        text.push_str(&format!("$INCLUDE {SYSTEM_DICT}/dictionary.rfc{rfc}\n"));
    }
    text.push_str(&format!("$INCLUDE {SYSTEM_DICT}/dictionary.3gpp\n"));
    std::fs::write(dict.join("dictionary"), text).unwrap();
    std::fs::write(dir.join("req.txt"), attrs).unwrap();
    let o = Command::new("radclient")
        .args([
            "-d",
            dict.to_str().unwrap(),
            "-x",
            "-r",
            "3",
            "-t",
            "2",
            "-f",
        ])
        .arg(dir.join("req.txt"))
        .arg(format!("127.0.0.1:{port}"))
        .args(["acct", ACCT_SECRET])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("Accounting-Response"),
        "radclient: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A registered device whose SIM is locked to IMEIs; (device, imsi).
fn fleet(dir: &Path) -> (String, String) {
    let o = Command::new(BIN)
        .current_dir(dir)
        .args([
            "devices",
            "generate",
            "--count",
            "40",
            "--seed",
            "11",
            "--output",
            "fleet.csv",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(dir.join("fleet.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (id, imsi, policy) = (col("device_id"), col("imsi"), col("imei_policy"));
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f.get(policy) == Some(&"fixed") && !f[imsi].is_empty() {
            return (f[id].to_owned(), f[imsi].to_owned());
        }
    }
    panic!("no device with a fixed IMEI policy in {text}");
}

#[test]
fn sim_in_foreign_imei_is_disconnected_and_quarantined_then_undone() {
    for tool in [
        "radclient",
        "freeradius",
        "mosquitto",
        "mosquitto_ctrl",
        "mosquitto_pub",
        "mosquitto_sub",
    ] {
        if !have(tool) {
            skip(TEST, &format!("{tool} is not installed"));
            return;
        }
    }
    let Some(plugin) = dynsec_plugin() else {
        skip(
            TEST,
            "the mosquitto dynamic security plugin is not installed",
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (device, imsi) = fleet(dir);

    let das_dir = dir.join("das");
    std::fs::create_dir(&das_dir).unwrap();
    let das_port = free_udp();
    let (_das, das_log) = freeradius(&das_dir, das_port);
    let mq_dir = dir.join("mq");
    std::fs::create_dir(&mq_dir).unwrap();
    let (_broker, mq_port) = mosquitto(&mq_dir, &plugin, &device);
    assert!(
        publish(mq_port, &device),
        "device cannot publish before containment"
    );
    // A live connection of the device, to see it dropped.
    let mut sub = Killed(
        Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &mq_port.to_string(),
                "-u",
                &device,
                "-P",
                DEVICE_PW,
            ])
            .args(["-i", &device, "-t", "cmd/#"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let secret_file = dir.join("broker.pw");
    std::fs::write(&secret_file, ADMIN_PW).unwrap();
    set_mode(&secret_file, 0o600);
    let acct = free_udp();
    // The SIEM: a syslog receiver on UDP.
    let siem = UdpSocket::bind("127.0.0.1:0").unwrap();
    siem.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let siem_addr = siem.local_addr().unwrap();
    std::fs::write(
        dir.join("rampart.toml"),
        format!(
            "version = 1\n[store]\ndata_dir = \"data\"\n\
             [radius]\nlisten = \"127.0.0.1:{acct}\"\n\
             [[radius.clients]]\nname = \"pgw\"\naddress = \"127.0.0.1\"\nsecret_env = \"ACCT_SECRET\"\n\
             [respond]\n\
             [[respond.nas]]\nname = \"pgw-lab-1\"\naddr = \"127.0.0.1:{das_port}\"\n\
             sessions_from = [\"192.0.2.10\", \"pgw-lab-1\"]\nsecret_env = \"DAE_SECRET\"\n\
             [respond.broker]\nhost = \"127.0.0.1\"\nport = {mq_port}\nusername = \"admin\"\n\
             secret_file = {secret_file:?}\n\
             [respond.siem]\naddr = \"{siem_addr}\"\n"
        ),
    )
    .unwrap();
    let o = Command::new(BIN)
        .current_dir(dir)
        .args(["devices", "import", "--config", "rampart.toml", "fleet.csv"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let playbooks = dir.join("data/playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::write(
        playbooks.join("sim-in-foreign-imei.toml"),
        "name = \"sim-in-foreign-imei\"\n\
         description = \"SIM in an unauthorised IMEI: disconnect and quarantine\"\n\
         [match]\nkinds = [\"sim_imei_mismatch\"]\nmin_severity = \"medium\"\n\
         [[steps]]\naction = \"radius_disconnect\"\n\
         [[steps]]\naction = \"broker_disable\"\n\
         [[steps]]\naction = \"registry_quarantine\"\n",
    )
    .unwrap();

    let mut server = Command::new(BIN)
        .current_dir(dir)
        .args([
            "serve",
            "--config",
            "rampart.toml",
            "--listen",
            "127.0.0.1:0",
            "--netflow-listen",
            "off",
        ])
        .env("RAMPART_ADMIN_TOKEN", TOKEN)
        .env("ACCT_SECRET", ACCT_SECRET)
        .env("DAE_SECRET", DAE_SECRET)
        .env("RAMPART_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = server.stderr.take().unwrap();
    let server = Killed(server);
    let (tx, rx) = std::sync::mpsc::channel();
    let log_lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let keep = log_lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("http api listening") {
                let addr = line.split("addr=").nth(1).unwrap_or_default();
                let _sent = tx.send(
                    addr.chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect::<String>(),
                );
            }
            keep.lock().unwrap().push(line);
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server did not start");

    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sent = Instant::now();
    radclient(
        dir,
        acct,
        &format!(
            "Acct-Status-Type = Start\nAcct-Session-Id = \"5f3a9c01-0001\"\n\
             User-Name = \"{device}\"\nNAS-IP-Address = 192.0.2.10\nNAS-Identifier = \"pgw-lab-1\"\n\
             Framed-IP-Address = 10.45.0.7\nCalled-Station-Id = \"iot.rampart.example\"\n\
             Event-Timestamp = {t}\n3GPP-IMSI = \"{imsi}\"\n\
             3GPP-IMEISV = \"3548990123456701\"\n3GPP-RAT-Type = EUTRAN\n"
        ),
    );

    // The Disconnect-Request reached the DAS and was ACKed.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(&das_log)
        .unwrap_or_default()
        .contains("Disconnect-ACK")
    {
        assert!(
            Instant::now() < deadline,
            "no Disconnect-ACK at the DAS:\n{}\nserver:\n{}",
            std::fs::read_to_string(&das_log).unwrap_or_default(),
            log_lines.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = sent.elapsed();
    eprintln!("accounting answered -> Disconnect-ACK seen at the DAS: {took:?}");

    // The incident shows both actions.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (incident, timeline) = loop {
        let (code, list) = http(
            &addr,
            "GET",
            &format!("/api/v1/incidents?device={device}"),
            None,
        );
        assert_eq!(code, 200, "{list}");
        if let Some(id) = list["incidents"][0]["id"].as_str() {
            let (_, full) = http(&addr, "GET", &format!("/api/v1/incidents/{id}"), None);
            let tl = full["timeline"].as_array().cloned().unwrap_or_default();
            let applied = |name: &str| {
                tl.iter()
                    .map(|e| &e["event"])
                    .any(|e| e["type"] == "action" && e["name"] == name && e["status"] == "applied")
            };
            if applied("radius_disconnect")
                && applied("broker_disable")
                && applied("registry_quarantine")
            {
                break (id.to_owned(), tl);
            }
        }
        assert!(
            Instant::now() < deadline,
            "incident without both actions: {list}\n{}",
            log_lines.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // The SIEM got the incident (CEF over RFC 5424) and the actions.
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while !got
        .iter()
        .any(|m: &String| m.contains("incident:device") && m.contains(&incident))
    {
        let n = siem.recv(&mut buf).expect("no incident event at the SIEM");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(
        got.iter()
            .all(|m| m.starts_with('<') && m.contains("CEF:0|")),
        "{got:?}"
    );
    let ack = timeline
        .iter()
        .find(|e| e["event"]["name"] == "radius_disconnect")
        .unwrap();
    assert!(ack.to_string().contains("ack"), "no ACK recorded: {ack}");

    // The device's live connection is gone and it cannot come back.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sub.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the device's connection was not dropped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !publish(mq_port, &device),
        "a disabled device can still publish"
    );
    let (_, dev) = http(&addr, "GET", &format!("/api/v1/devices/{device}"), None);
    assert_eq!(dev["state"], "quarantined", "{dev}");

    // The CLI shows it, and undoes it: the broker client and the registry state come back.
    let cli = |args: &[&str]| {
        let o = Command::new(BIN)
            .args(args)
            .args(["--api", &format!("http://{addr}"), "--token", TOKEN])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let shown = cli(&["incidents", "show", &incident]);
    assert_eq!(shown["incident"]["status"], "contained", "{shown}");
    let undone = cli(&["incidents", "undo", &incident]);
    assert!(
        publish(mq_port, &device),
        "undo did not restore the client: {undone}"
    );
    let (_, dev) = http(&addr, "GET", &format!("/api/v1/devices/{device}"), None);
    assert_eq!(dev["state"], "active", "{dev}");

    // A wrong token is refused; a token made from a shell while the server runs lands in the
    // same audit chain as the server's records.
    let refused = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["-H", "Authorization: Bearer rmp_not-a-token"])
        .arg(format!("http://{addr}/api/v1/devices"))
        .output();
    if let Ok(o) = refused {
        assert_eq!(String::from_utf8_lossy(&o.stdout), "401");
    }
    let o = Command::new(BIN)
        .current_dir(dir)
        .args([
            "tokens",
            "create",
            "--config",
            "rampart.toml",
            "--name",
            "ci-bot",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    drop(server);
    let o = Command::new(BIN)
        .current_dir(dir)
        .args(["audit", "verify", "--config", "rampart.toml"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&o.stdout));
    let log = dir.join("data/audit.log");
    let text = std::fs::read_to_string(&log).unwrap();
    for event in ["auth.sign_in", "token.created", "incident.undo"] {
        assert!(
            text.contains(&format!(r#""event":"{event}""#)),
            "no {event} in the audit log"
        );
    }
    assert!(
        !text.contains(TOKEN),
        "a token secret reached the audit log"
    );
    if have("curl") {
        assert!(
            text.contains(r#""event":"auth.refused""#),
            "refusal not audited"
        );
    }
    // Tampering is found.
    std::fs::write(&log, text.replacen("broker_disable", "broker_enable", 1)).unwrap();
    let o = Command::new(BIN)
        .current_dir(dir)
        .args(["audit", "verify", "--config", "rampart.toml"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "an altered audit log verifies");
}
