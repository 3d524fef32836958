//! Whatever a client POSTs to simpleenroll goes through the body decoder and the CSR verifier:
//! neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rampart_identity::csr::verify(data);
    if let Ok(der) = rampart_identity::csr::decode_body(data) {
        let _ = rampart_identity::csr::verify(&der);
    }
});
