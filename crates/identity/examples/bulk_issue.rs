//! Bulk issuance throughput: signs a directory of P-256 CSRs with `bulk::issue_dir_threads`
//! and the same CSRs as one file of JSON request lines with `bulk::issue_lines` (results in
//! one file of JSON lines, fdatasync'd per chunk), each on one signing thread and then one per
//! core, and, as the peer, with `openssl ca -batch -infiles` on the same issuing key,
//! certificate and CSRs. Also `Authority::issue` one certificate at a time (the EST path: one
//! index sync each).
//!
//! Every phase reports wall-clock certificates/s and the CPU time it used (user + system,
//! this process's for ours, the child's for openssl), so a figure per core does not depend on
//! what else the machine runs. The CA directories (with the index, synced as in production)
//! go under `$TMPDIR` (default /tmp), with the request-lines file; the certificate files and
//! result-lines files (ours and openssl's) there too, or under `out-dir` when given, to tell
//! the cost of creating a file apart from issuance.
//!
//! `cargo run --release -p rampart-identity --example bulk_issue -- [count] [rounds] [out-dir]`

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use rampart_core::TenantId;
use rampart_identity::{Authority, AuthorityConfig, Ca, InitOptions, bulk};
use rcgen::{CertificateParams, DnType, KeyPair};

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// CPU seconds (user + system) of this process and of its waited-for children, from
/// /proc/self/stat (clock ticks of 1/100 s).
fn cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let tick = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    // utime, stime, cutime, cstime are fields 14-17 of the line, 12-15 after the name.
    (tick(11) + tick(12), tick(13) + tick(14))
}

/// Writes `n` CSRs into `dir`, one file each, and as request lines into `lines`; the files.
fn make_csrs(dir: &Path, lines: &Path, n: usize) -> Vec<String> {
    std::fs::create_dir_all(dir).expect("csr dir");
    let mut jsonl = String::new();
    let files = (0..n)
        .map(|i| {
            let name = format!("dev-{i:06}");
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
            let mut p = CertificateParams::default();
            p.distinguished_name.push(DnType::CommonName, name.as_str());
            let pem = p.serialize_request(&key).expect("csr").pem().expect("pem");
            let path = dir.join(format!("{name}.csr"));
            std::fs::write(&path, &pem).expect("write csr");
            jsonl.push_str(&serde_json::json!({ "device": name, "csr": pem }).to_string());
            jsonl.push('\n');
            path.display().to_string()
        })
        .collect();
    std::fs::write(lines, jsonl).expect("write request lines");
    files
}

/// One `issue_lines` run on a fresh CA, request lines from `input`, results into a new file
/// under `out`: (certificates/s, CPU seconds).
fn lines_round(
    tmp: &Path,
    out: &Path,
    name: &str,
    input: &Path,
    n: usize,
    threads: usize,
) -> (f64, f64) {
    let ca_dir = tmp.join(format!("ca-lines-{name}"));
    Ca::init(&ca_dir, &InitOptions::default()).expect("init");
    let auth = Authority::open(&ca_dir, None, AuthorityConfig::default()).expect("open");
    let tenant = TenantId::parse("bench").expect("tenant");
    let (cpu0, _) = cpu();
    let reader =
        std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(input).expect("in"));
    let mut output =
        bulk::LinesOutput::create(&out.join(format!("out-{name}.jsonl")), false).expect("output");
    let report = bulk::issue_lines(&auth, &tenant, "device", reader, &mut output, threads)
        .expect("issue_lines");
    let used = cpu().0 - cpu0;
    assert_eq!(report.issued, n, "refused {}", report.refused);
    (n as f64 / report.elapsed.as_secs_f64(), used)
}

/// Wall seconds and the child's CPU seconds of one `openssl ca` run.
fn openssl_round(ca_dir: &Path, work: &Path, csrs: &[String]) -> (f64, f64) {
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
    let (_, child0) = cpu();
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
    (secs, cpu().1 - child0)
}

/// One `issue_dir_threads` run on a fresh CA: (certificates/s, CPU seconds).
fn bulk_round(
    tmp: &Path,
    out: &Path,
    name: &str,
    csr_dir: &Path,
    n: usize,
    threads: usize,
) -> (f64, f64) {
    let ca_dir = tmp.join(format!("ca-{name}"));
    Ca::init(&ca_dir, &InitOptions::default()).expect("init");
    let auth = Authority::open(&ca_dir, None, AuthorityConfig::default()).expect("open");
    let tenant = TenantId::parse("bench").expect("tenant");
    let (cpu0, _) = cpu();
    let report = bulk::issue_dir_threads(
        &auth,
        &tenant,
        "device",
        csr_dir,
        &out.join(format!("out-{name}")),
        threads,
    )
    .expect("bulk");
    let used = cpu().0 - cpu0;
    assert_eq!(report.issued, n, "failures: {:?}", report.failed.first());
    (n as f64 / report.elapsed.as_secs_f64(), used)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let out_base = args.next().map(std::path::PathBuf::from);
    let cores = rampart_identity::default_threads();
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_tmp = match &out_base {
        Some(dir) => tempfile::tempdir_in(dir).expect("out-dir"),
        None => tempfile::tempdir().expect("tempdir"),
    };
    let out = out_tmp.path();
    let csr_dir = tmp.path().join("csrs");
    let lines_in = tmp.path().join("requests.jsonl");
    let csrs = make_csrs(&csr_dir, &lines_in, n);
    let tenant = TenantId::parse("bench").expect("tenant");
    let mut one = (Vec::new(), Vec::new());
    let mut all = (Vec::new(), Vec::new());
    let mut peer = (Vec::new(), Vec::new());
    let mut single = (Vec::new(), Vec::new());
    let mut lines_one = (Vec::new(), Vec::new());
    let mut lines_all = (Vec::new(), Vec::new());
    let per_cpu = |cpu: f64, count: usize| count as f64 / cpu.max(1e-9);
    for r in 0..rounds {
        let (rate, used) = bulk_round(tmp.path(), out, &format!("{r}-1"), &csr_dir, n, 1);
        one.0.push(rate);
        one.1.push(per_cpu(used, n));
        let (rate, used) = bulk_round(tmp.path(), out, &format!("{r}-all"), &csr_dir, n, cores);
        all.0.push(rate);
        all.1.push(per_cpu(used, n));
        let (rate, used) = lines_round(tmp.path(), out, &format!("{r}-1"), &lines_in, n, 1);
        lines_one.0.push(rate);
        lines_one.1.push(per_cpu(used, n));
        let (rate, used) = lines_round(tmp.path(), out, &format!("{r}-all"), &lines_in, n, cores);
        lines_all.0.push(rate);
        lines_all.1.push(per_cpu(used, n));
        let ca_dir = tmp.path().join(format!("ca-{r}-1"));
        let (secs, used) = openssl_round(&ca_dir, out, &csrs);
        peer.0.push(n as f64 / secs);
        peer.1.push(per_cpu(used, n));
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
        let (cpu0, _) = cpu();
        let start = Instant::now();
        for (i, der) in ders.iter().enumerate() {
            let d = rampart_core::DeviceId::parse(&format!("dev-{i:06}")).expect("id");
            auth2.issue(&tenant, &d, "device", der).expect("issue");
        }
        single.0.push(m as f64 / start.elapsed().as_secs_f64());
        single.1.push(per_cpu(cpu().0 - cpu0, m));
        println!(
            "round {r}: issue_dir 1 thread {:.0}/s ({:.0}/CPU-s), {cores} threads {:.0}/s \
             ({:.0}/CPU-s); issue_lines 1 thread {:.0}/s ({:.0}/CPU-s), {cores} threads \
             {:.0}/s ({:.0}/CPU-s); openssl ca {:.0}/s ({:.0}/CPU-s); issue() one by one \
             {:.0}/s ({:.0}/CPU-s)",
            one.0[r],
            one.1[r],
            all.0[r],
            all.1[r],
            lines_one.0[r],
            lines_one.1[r],
            lines_all.0[r],
            lines_all.1[r],
            peer.0[r],
            peer.1[r],
            single.0[r],
            single.1[r]
        );
    }
    println!("n={n} rounds={rounds} cores={cores}");
    let line = |what: &str, v: &(Vec<f64>, Vec<f64>)| {
        let (rate, per) = (median(&v.0), median(&v.1));
        println!(
            "median {what:<34} {rate:>7.0} certs/s  {per:>7.0} certs/CPU-s  {:>6.1} us CPU/cert",
            1e6 / per
        );
    };
    line("bulk::issue_dir, 1 thread", &one);
    line(&format!("bulk::issue_dir, {cores} threads"), &all);
    line("bulk::issue_lines, 1 thread", &lines_one);
    line(&format!("bulk::issue_lines, {cores} threads"), &lines_all);
    line("openssl ca -infiles (peer)", &peer);
    line("Authority::issue, fsync each", &single);
    println!(
        "ratio per CPU-second, issue_dir (1 thread) / openssl ca: {:.1}",
        median(&one.1) / median(&peer.1)
    );
    println!(
        "ratio per CPU-second, issue_lines (1 thread) / openssl ca: {:.1}",
        median(&lines_one.1) / median(&peer.1)
    );
}
