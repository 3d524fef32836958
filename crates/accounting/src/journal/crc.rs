//! CRC-32C (Castagnoli), table-driven: catches torn and damaged journal frames.

const POLY: u32 = 0x82F6_3B78;

const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Feeds `bytes` into a running (pre-inverted) CRC state.
pub(super) fn update(mut crc: u32, bytes: &[u8]) -> u32 {
    for b in bytes {
        crc = TABLE[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// CRC-32C of `bytes`.
#[cfg(test)]
pub(super) fn crc32c(bytes: &[u8]) -> u32 {
    update(!0, bytes) ^ !0
}
