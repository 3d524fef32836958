//! Whatever a factory's batch file holds goes through the request-line parser, then the CSR
//! verifier: neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = rampart_identity::bulk::parse_line(data) {
        let _ = rampart_identity::csr::verify(&req.csr_der);
    }
});
