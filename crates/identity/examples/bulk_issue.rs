//! Bulk issuance throughput: signs a directory of P-256 CSRs with `bulk::issue_dir` and, as the
//! peer, with `openssl ca -batch -infiles` on the same issuing key, certificate and CSRs.
//!
//! `cargo run --release -p rampart-identity --example bulk_issue -- [count] [rounds]`

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use rampart_core::TenantId;
use rampart_identity::{Authority, AuthorityConfig, Ca, InitOptions, bulk};
use rcgen::{CertificateParams, DnType, KeyPair};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn make_csrs(dir: &Path, n: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).expect("csr dir");
    (0..n)
        .map(|i| {
            let name = format!("dev-{i:06}");
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
            let mut p = CertificateParams::default();
            p.distinguished_name.push(DnType::CommonName, name.as_str());
            let pem = p.serialize_request(&key).expect("csr").pem().expect("pem");
            let path = dir.join(format!("{name}.csr"));
            std::fs::write(&path, pem).expect("write csr");
            path.display().to_string()
        })
        .collect()
}

fn openssl_round(ca_dir: &Path, work: &Path, csrs: &[String]) -> f64 {
    let db = work.join("ossl");
    std::fs::remove_dir_all(&db).ok();
    std::fs::create_dir_all(db.join("out")).expect("openssl dir");
    std::fs::write(db.join("index.txt"), "").expect("index");
    std::fs::write(db.join("serial"), "01\n").expect("serial");
    let cnf = format!(
        "[ca]\ndefault_ca = rampart\n[rampart]\ndir = {d}\ndatabase = $dir/index.txt\n\
         new_certs_dir = $dir/out\nserial = $dir/serial\ncertificate = {cert}\n\
         private_key = {key}\ndefault_md = sha256\ndefault_days = 365\npolicy = any\n\
         unique_subject = no\ncopy_extensions = none\nx509_extensions = ext\n\
         [any]\ncommonName = supplied\n\
         [ext]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = clientAuth\nauthorityKeyIdentifier = keyid\n",
        d = db.display(),
        cert = ca_dir.join("issuing/issuing-1.pem").display(),
        key = ca_dir.join("issuing/issuing-1.key.pem").display(),
    );
    std::fs::write(db.join("ca.cnf"), cnf).expect("cnf");
    let start = Instant::now();
    let out = Command::new("openssl")
        .args(["ca", "-batch", "-notext", "-config"])
        .arg(db.join("ca.cnf"))
        .arg("-out")
        .arg(db.join("all.pem"))
        .arg("-infiles")
        .args(csrs)
        .output()
        .expect("openssl ca runs");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let tmp = tempfile::tempdir().expect("tempdir");
    let csr_dir = tmp.path().join("csrs");
    let csrs = make_csrs(&csr_dir, n);
    let tenant = TenantId::parse("bench").expect("tenant");
    let (mut ours, mut peer, mut single) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let ca_dir = tmp.path().join(format!("ca-{r}"));
        Ca::init(&ca_dir, &InitOptions::default()).expect("init");
        let auth = Authority::open(&ca_dir, None, AuthorityConfig::default()).expect("open");
        let report = bulk::issue_dir(
            &auth,
            &tenant,
            "device",
            &csr_dir,
            &tmp.path().join(format!("out-{r}")),
        )
        .expect("bulk");
        assert_eq!(report.issued, n, "failures: {:?}", report.failed.first());
        ours.push(n as f64 / report.elapsed.as_secs_f64());
        peer.push(n as f64 / openssl_round(&ca_dir, tmp.path(), &csrs));
        // One certificate per call, one index fsync each (the EST path).
        let m = n.min(500);
        let ders: Vec<Vec<u8>> = csrs
            .iter()
            .take(m)
            .map(|p| {
                let pem = std::fs::read(p).expect("csr");
                rampart_identity::csr::decode_body(&pem).expect("decode")
            })
            .collect();
        let ca2 = tmp.path().join(format!("ca-single-{r}"));
        Ca::init(&ca2, &InitOptions::default()).expect("init");
        let auth2 = Authority::open(&ca2, None, AuthorityConfig::default()).expect("open");
        let start = Instant::now();
        for (i, der) in ders.iter().enumerate() {
            let d = rampart_core::DeviceId::parse(&format!("dev-{i:06}")).expect("id");
            auth2.issue(&tenant, &d, "device", der).expect("issue");
        }
        single.push(m as f64 / start.elapsed().as_secs_f64());
        println!(
            "round {r}: bulk {:.0}/s, openssl ca {:.0}/s, single+fsync {:.0}/s",
            ours[r], peer[r], single[r]
        );
    }
    let (o, p, s) = (median(&mut ours), median(&mut peer), median(&mut single));
    println!("n={n} rounds={rounds}");
    println!("median bulk::issue_dir      {o:.0} certs/s");
    println!("median openssl ca -infiles  {p:.0} certs/s");
    println!("median issue() one by one   {s:.0} certs/s (fsync per cert)");
    println!("ratio bulk/openssl          {:.2}", o / p);
}
