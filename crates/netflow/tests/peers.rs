//! Real exporters and a real collector as peers: softflowd exports a capture as NetFlow v5,
//! v9 and IPFIX to this crate's UDP listener and, separately, to nfcapd; both must count the
//! same flows and bytes (nfcapd's figures read back with nfdump). nfreplay then replays the
//! nfcapd file to the listener.
//!
//! Skips (with a message) when a tool is missing, unless `RAMPART_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rampart_core::FlowRecord;
use rampart_netflow::NetflowConfig;
use tokio::sync::{mpsc, oneshot};

const PCAP: &str = "pcap/slips/test-cc-capture-2.pcap";

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The listener on an ephemeral loopback port, collecting everything it hands over.
struct Listener {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    flows: tokio::task::JoinHandle<Vec<FlowRecord>>,
}

fn start_listener() -> Listener {
    let config = NetflowConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..NetflowConfig::default()
    };
    let (tx, mut rx) = mpsc::channel::<Vec<FlowRecord>>(1024);
    let (stop, stopped) = oneshot::channel::<()>();
    let built = config
        .build(tx, async move {
            stopped.await.ok();
        })
        .unwrap();
    let addr = built.local_addrs[0];
    let task = tokio::spawn(built.task);
    let flows = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(batch) = rx.recv().await {
            all.extend(batch);
        }
        all
    });
    Listener {
        addr,
        stop,
        task,
        flows,
    }
}

impl Listener {
    async fn finish(self) -> Vec<FlowRecord> {
        // Let the last datagrams in the socket be read.
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.stop.send(()).unwrap();
        self.task.await.unwrap();
        self.flows.await.unwrap()
    }
}

fn softflowd(pcap: &Path, to: SocketAddr, version: &str, dir: &Path) {
    let mut child = Command::new(common::tool_path("softflowd"))
        .args(["-d", "-r"])
        .arg(pcap)
        .args(["-n", &to.to_string(), "-v", version, "-p"])
        .arg(dir.join("softflowd.pid"))
        // No control socket: with one, softflowd may wait on it after the capture's end.
        .args(["-c", "none"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("softflowd did not finish reading {}", pcap.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "softflowd failed: {status}");
}

fn nfcapd(port: u16, dir: &Path) -> Child {
    let child = Command::new(common::tool_path("nfcapd"))
        .args([
            "-b",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "3600",
            "-w",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    child
}

/// Stops nfcapd with SIGTERM (it then closes its file) and waits for it.
fn stop(mut child: Child) {
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .ok();
    child.wait().ok();
}

/// nfdump's totals of every file in `dir`: (flows, bytes).
fn nfdump_totals(dir: &Path) -> (u64, u64) {
    let out = Command::new(common::tool_path("nfdump"))
        .arg("-R")
        .arg(dir)
        .arg("-I")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or_else(|| panic!("no {name} in nfdump -I output: {text}"))
    };
    (field("Flows:"), field("Bytes:"))
}

fn have_peers() -> bool {
    ["softflowd", "nfcapd", "nfdump", "nfreplay"]
        .iter()
        .all(|t| common::have_tool(t))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn softflowd_exports_match_nfcapd() {
    let Some(data) = common::shared_data("") else {
        return;
    };
    if !have_peers() {
        return;
    }
    // softflowd stalls on long capture paths: give it the shortest one.
    let pcap = std::fs::canonicalize(data.join(PCAP)).unwrap();
    for version in ["5", "9", "10"] {
        let dir = tempfile::tempdir().unwrap();
        let capd_dir = dir.path().join("nfcapd");
        std::fs::create_dir(&capd_dir).unwrap();
        let port = free_port();
        let capd = nfcapd(port, &capd_dir);
        softflowd(
            &pcap,
            SocketAddr::from(([127, 0, 0, 1], port)),
            version,
            dir.path(),
        );
        stop(capd);
        let (nf_flows, nf_bytes) = nfdump_totals(&capd_dir);
        assert!(
            nf_flows > 100,
            "v{version}: nfcapd saw only {nf_flows} flows"
        );

        let listener = start_listener();
        let to = listener.addr;
        let d = dir.path().to_owned();
        let p = pcap.clone();
        let v = version.to_owned();
        tokio::task::spawn_blocking(move || softflowd(&p, to, &v, &d))
            .await
            .unwrap();
        let flows = listener.finish().await;
        let bytes: u64 = flows.iter().map(|f| f.bytes).sum();
        eprintln!(
            "v{version}: ours {} flows {bytes} bytes, nfdump {nf_flows} flows {nf_bytes} bytes",
            flows.len()
        );
        assert_eq!(
            (flows.len() as u64, bytes),
            (nf_flows, nf_bytes),
            "v{version}"
        );
        let expected = match version {
            "5" => rampart_core::SignalSource::NetflowV5,
            "9" => rampart_core::SignalSource::NetflowV9,
            _ => rampart_core::SignalSource::Ipfix,
        };
        assert!(flows.iter().all(|f| f.source == expected));
        assert!(
            flows
                .iter()
                .all(|f| f.exporter.as_deref() == Some("127.0.0.1"))
        );
        // The capture is from 2026-11-03 (its own clock): event times come from the export,
        // not from the receive time.
        let first = flows.iter().map(|f| f.start.0).min().unwrap();
        assert!(first > 1_700_000_000_000, "start {first}");

        // nfreplay sends nfcapd's file again, as v5 and as v9.
        for replay_version in ["5", "9"] {
            let listener = start_listener();
            let to_port = listener.addr.port().to_string();
            let capd_dir2 = capd_dir.clone();
            let rv = replay_version.to_owned();
            tokio::task::spawn_blocking(move || {
                let file = std::fs::read_dir(&capd_dir2)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .find(|p| {
                        p.file_name()
                            .unwrap()
                            .to_string_lossy()
                            .starts_with("nfcapd.2")
                    })
                    .unwrap();
                let status = Command::new(common::tool_path("nfreplay"))
                    .arg("-r")
                    .arg(file)
                    .args(["-H", "127.0.0.1", "-p", &to_port, "-v", &rv, "-d", "100"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success());
            })
            .await
            .unwrap();
            let replayed = listener.finish().await;
            let rbytes: u64 = replayed.iter().map(|f| f.bytes).sum();
            eprintln!(
                "nfreplay v{replay_version} of v{version}: {} flows {rbytes} bytes",
                replayed.len()
            );
            assert_eq!(
                (replayed.len() as u64, rbytes),
                (nf_flows, nf_bytes),
                "nfreplay v{replay_version} of the v{version} file"
            );
        }
    }
}
