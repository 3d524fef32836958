//! Helpers for the identity tests: the binary, openssl, curl and a Mosquitto with dynamic
//! security, each run as a separate process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_rampart");
pub(crate) const ADMIN_PW: &str = "dynsec-admin-pw-1";

// Not every test file that includes these helpers uses all of them.
#[allow(unused_imports)]
pub(crate) use crate::support::free_tcp as free_port;
#[allow(unused_imports)]
pub(crate) use crate::support::{dynsec_plugin, have, mode, require, set_mode, skip};

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a program in `dir`.
pub(crate) fn run(dir: &Path, prog: &str, args: &[&str]) -> Output {
    Command::new(prog)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"))
}

/// Runs a program that must succeed; its stdout.
pub(crate) fn ok(dir: &Path, prog: &str, args: &[&str]) -> String {
    let o = run(dir, prog, args);
    assert!(o.status.success(), "{prog} {args:?} failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn rampart_cmd(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args(args)
        .env_remove("RAMPART_CONFIG")
        .env_remove("RAMPART_DATA_DIR")
        .env_remove("RAMPART_DATABASE_URL")
        .env_remove("RAMPART_CA_DIR")
        .env("RAMPART_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub(crate) fn rampart(dir: &Path, args: &[&str]) -> Output {
    rampart_cmd(dir, args, &[]).output().unwrap()
}

pub(crate) fn rampart_ok(dir: &Path, args: &[&str]) -> String {
    let o = rampart(dir, args);
    assert!(o.status.success(), "rampart {args:?} failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Certificates recorded in the CA's index, as `rampart ca show --json` reports them.
pub(crate) fn issued_count(dir: &Path, args: &[&str]) -> u64 {
    let mut a = vec!["ca", "show", "--json"];
    a.extend_from_slice(args);
    let v: serde_json::Value = serde_json::from_str(&rampart_ok(dir, &a)).unwrap();
    v["certificates"].as_u64().unwrap()
}

/// A running `rampart serve`; stopped with SIGTERM on drop.
pub(crate) struct Serve {
    pub(crate) child: Child,
    pub(crate) api: String,
    pub(crate) log: Arc<Mutex<String>>,
}

impl Serve {
    pub(crate) fn start(dir: &Path, want_est: bool) -> Self {
        let mut child = rampart_cmd(
            dir,
            &[
                "serve",
                "--config",
                "rampart.toml",
                "--listen",
                "127.0.0.1:0",
                "--radius-listen",
                "off",
                "--netflow-listen",
                "off",
            ],
            &[("RAMPART_LOG", "info")],
        )
        .env_remove("RAMPART_ADMIN_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let (mut api, mut est) = (None, !want_est);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
                if line.contains("http api listening") {
                    let addr = line.split("addr=").nth(1).unwrap_or_default();
                    api = Some(addr.chars().take_while(|c| !c.is_whitespace()).collect());
                }
                est |= line.contains("est listening");
                if est && let Some(a) = api.take() {
                    let _sent = tx.send(a);
                }
            }
        });
        let api: String = match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(a) => a,
            Err(_) => {
                child.kill().ok();
                panic!("serve did not start:\n{}", log.lock().unwrap());
            }
        };
        Self { child, api, log }
    }

    /// Fetches `path` from the API listener into `dir/out` with curl.
    pub(crate) fn fetch(&self, dir: &Path, path: &str, out: &str) {
        ok(
            dir,
            "curl",
            &[
                "-sS",
                "-f",
                "-o",
                out,
                &format!("http://{}{path}", self.api),
            ],
        );
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _status = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A P-256 key and base64 DER CSR made by openssl: `<name>.key`, `<name>.csr.b64`.
pub(crate) fn p256_csr(dir: &Path, name: &str, cn: &str) {
    csr(
        dir,
        name,
        cn,
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
}

pub(crate) fn csr(dir: &Path, name: &str, cn: &str, newkey: &[&str]) {
    let (key, der) = (format!("{name}.key"), format!("{name}.csr.der"));
    let subj = format!("/CN={cn}");
    let mut args = vec!["req", "-new"];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&[
        "-nodes", "-keyout", &key, "-subj", &subj, "-outform", "DER", "-out", &der,
    ]);
    ok(dir, "openssl", &args);
    ok(
        dir,
        "openssl",
        &["base64", "-in", &der, "-out", &format!("{name}.csr.b64")],
    );
}

/// `simpleenroll` with curl over HTTPS, verifying the server against the CA root, with the
/// token as HTTP Basic password. Returns the HTTP status and the body (written to `<name>.p7.b64`).
pub(crate) fn enroll(dir: &Path, est_port: u16, token: &str, name: &str) -> (u16, String) {
    let body = format!("{name}.p7.b64");
    let code = ok(
        dir,
        "curl",
        &[
            "-sS",
            "--cacert",
            "data/ca/root.pem",
            "--user",
            &format!("device:{token}"),
            "-H",
            "Content-Type: application/pkcs10",
            "--data-binary",
            &format!("@{name}.csr.b64"),
            "-o",
            &body,
            "-w",
            "%{http_code}",
            &format!("https://127.0.0.1:{est_port}/.well-known/est/simpleenroll"),
        ],
    );
    let text = std::fs::read_to_string(dir.join(&body)).unwrap_or_default();
    (code.trim().parse().unwrap(), text)
}

/// Unwraps the certs-only PKCS#7 answer into `<name>.pem`.
pub(crate) fn unwrap_p7(dir: &Path, name: &str) {
    ok(
        dir,
        "openssl",
        &[
            "base64",
            "-d",
            "-in",
            &format!("{name}.p7.b64"),
            "-out",
            &format!("{name}.p7.der"),
        ],
    );
    ok(
        dir,
        "openssl",
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            &format!("{name}.p7.der"),
            "-print_certs",
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// `openssl verify -crl_check` of `cert` against the CA chain and `crl`.
pub(crate) fn verify_with_crl(dir: &Path, cert: &str, crl: &str) -> (bool, String) {
    let o = run(
        dir,
        "openssl",
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "data/ca/chain.pem",
            "-CRLfile",
            crl,
            cert,
        ],
    );
    (o.status.success(), text(&o))
}

pub(crate) struct Mosquitto {
    pub(crate) child: Child,
    pub(crate) log: PathBuf,
}

impl Mosquitto {
    pub(crate) fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            f.read_to_string(&mut s).ok();
        }
        s
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

pub(crate) fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Mosquitto with a plain admin listener (dynamic security) and a mutual-TLS device listener
/// using the CA's chain and CRL, the device's certificate CN as its user name.
pub(crate) fn start_mosquitto(
    dir: &Path,
    plugin: &Path,
    admin_port: u16,
    tls_port: u16,
) -> Mosquitto {
    let dynsec = dir.join("dynsec.json");
    ok(
        dir,
        "mosquitto_ctrl",
        &[
            "dynsec",
            "init",
            dynsec.to_str().unwrap(),
            "admin",
            ADMIN_PW,
        ],
    );
    let ca = dir.join("data/ca");
    let log = dir.join("mosquitto.log");
    let conf = format!(
        "per_listener_settings false\n\
         user {user}\n\
         persistence false\n\
         log_dest file {log}\n\
         log_type all\n\
         allow_anonymous false\n\
         plugin {plugin}\n\
         plugin_opt_config_file {dynsec}\n\
         listener {admin_port} 127.0.0.1\n\
         listener {tls_port} 127.0.0.1\n\
         cafile {chain}\n\
         certfile {cert}\n\
         keyfile {key}\n\
         crlfile {crl}\n\
         require_certificate true\n\
         use_identity_as_username true\n",
        user = std::env::var("USER").unwrap_or_else(|_| "root".into()),
        log = log.display(),
        plugin = plugin.display(),
        dynsec = dynsec.display(),
        chain = ca.join("chain.pem").display(),
        cert = dir.join("broker.pem").display(),
        key = dir.join("broker.key").display(),
        crl = ca.join("crl.pem").display(),
    );
    std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
    set_mode(&dynsec, 0o600);
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let m = Mosquitto { child, log };
    wait_port(admin_port, "mosquitto");
    wait_port(tls_port, "mosquitto");
    m
}

pub(crate) fn dynsec(dir: &Path, admin_port: u16, args: &[&str]) {
    let port = admin_port.to_string();
    let mut a = vec![
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-u",
        "admin",
        "-P",
        ADMIN_PW,
        "dynsec",
    ];
    a.extend_from_slice(args);
    ok(dir, "mosquitto_ctrl", &a);
}

/// Local ports of this host's established IPv4 connections to `port` (from /proc/net/tcp, so
/// the moment the broker closes a session can be seen without a client library).
pub(crate) fn established_to(port: u16) -> Vec<u16> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            let remote = u16::from_str_radix(f.get(2)?.rsplit(':').next()?, 16).ok()?;
            (remote == port && *f.get(3)? == "01").then_some(local)
        })
        .collect()
}

pub(crate) fn mqtt_tls_args(tls_port: &str) -> Vec<&str> {
    vec![
        "-h",
        "127.0.0.1",
        "-p",
        tls_port,
        "--cafile",
        "data/ca/chain.pem",
        "--cert",
        "dev.pem",
        "--key",
        "dev.key",
    ]
}

/// A throwaway CA made by openssl (`<name>-ca.pem`) and a client certificate it signed for
/// `cn` (`<name>.pem`, `<name>.key`): a manufacturer's IDevID, or a stranger's certificate.
pub(crate) fn openssl_ca_and_client(dir: &Path, name: &str, cn: &str) {
    let (ca_key, ca) = (format!("{name}-ca.key"), format!("{name}-ca.pem"));
    let ca_subj = format!("/CN={name} CA");
    ok(
        dir,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &ca_key,
            "-subj",
            &ca_subj,
            "-days",
            "2",
            "-out",
            &ca,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let (key, req, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
    );
    let subj = format!("/CN={cn}");
    ok(
        dir,
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-subj",
            &subj,
            "-out",
            &req,
        ],
    );
    std::fs::write(
        dir.join(&ext),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    ok(
        dir,
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &req,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// `simpleenroll` presenting a client certificate instead of a token.
pub(crate) fn enroll_with_cert(dir: &Path, est_port: u16, cert: &str, name: &str) -> (u16, String) {
    let body = format!("{name}.p7.b64");
    let key = cert.replace(".pem", ".key");
    let code = ok(
        dir,
        "curl",
        &[
            "-sS",
            "--cacert",
            "data/ca/root.pem",
            "--cert",
            cert,
            "--key",
            &key,
            "-H",
            "Content-Type: application/pkcs10",
            "--data-binary",
            &format!("@{name}.csr.b64"),
            "-o",
            &body,
            "-w",
            "%{http_code}",
            &format!("https://127.0.0.1:{est_port}/.well-known/est/simpleenroll"),
        ],
    );
    let text = std::fs::read_to_string(dir.join(&body)).unwrap_or_default();
    (code.trim().parse().unwrap(), text)
}
