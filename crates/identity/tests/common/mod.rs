//! Helpers for tests that drive real peer tools (openssl, curl, mosquitto).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

/// Whether `tool` is on PATH. Missing tools skip the test visibly, or fail it when
/// `RAMPART_REQUIRE_PEERS=1`.
pub fn require_tools(test: &str, tools: &[&str]) -> bool {
    for tool in tools {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            if std::env::var("RAMPART_REQUIRE_PEERS").as_deref() == Ok("1") {
                panic!("{test}: peer tool {tool} is missing and RAMPART_REQUIRE_PEERS=1");
            }
            eprintln!("SKIPPED {test}: peer tool {tool} is not installed");
            return false;
        }
    }
    true
}

/// Runs a command in `dir`, returning its output.
pub fn run(dir: &Path, prog: &str, args: &[&str]) -> Output {
    Command::new(prog)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"))
}

/// Runs a command that must succeed; returns stdout.
pub fn ok(dir: &Path, prog: &str, args: &[&str]) -> String {
    let out = run(dir, prog, args);
    assert!(
        out.status.success(),
        "{prog} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A device key and base64 DER CSR made by openssl: `<name>.key`, `<name>.csr.der`,
/// `<name>.csr.b64`.
pub fn openssl_csr(dir: &Path, name: &str, subj: &str, newkey: &[&str]) {
    let key = format!("{name}.key");
    let der = format!("{name}.csr.der");
    let mut args = vec!["req", "-new"];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&[
        "-nodes", "-keyout", &key, "-subj", subj, "-outform", "DER", "-out", &der,
    ]);
    ok(dir, "openssl", &args);
    ok(
        dir,
        "openssl",
        &["base64", "-in", &der, "-out", &format!("{name}.csr.b64")],
    );
}

/// A P-256 device key and CSR, the way the recipe in docs/est-enrolment.md makes them.
pub fn openssl_p256_csr(dir: &Path, name: &str, subj: &str) {
    openssl_csr(
        dir,
        name,
        subj,
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
}

/// A throwaway CA and client certificate from openssl, unrelated to ours:
/// `<name>-ca.pem`, `<name>.pem`, `<name>.key`.
pub fn openssl_foreign_client(dir: &Path, name: &str, subj: &str) {
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
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
            "/CN=Foreign CA",
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
    let csr = format!("{name}.csr");
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
            &format!("{name}.key"),
            "-subj",
            subj,
            "-out",
            &csr,
        ],
    );
    let ext = format!("{name}.ext");
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
            &csr,
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

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
