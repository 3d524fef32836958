//! CRC-32C (Castagnoli), slicing by 8 bytes: catches torn and damaged journal frames. Every
//! entry is checksummed when written and again when folded, so this runs over every journal
//! byte twice; eight table look-ups per 8 bytes instead of one per byte.

const POLY: u32 = 0x82F6_3B78;

const TABLES: [[u32; 256]; 8] = {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        s += 1;
    }
    t
};

/// Feeds `bytes` into a running (pre-inverted) CRC state.
pub(super) fn update(mut crc: u32, bytes: &[u8]) -> u32 {
    let [t0, t1, t2, t3, t4, t5, t6, t7] = &TABLES;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t7[(lo & 0xff) as usize]
            ^ t6[((lo >> 8) & 0xff) as usize]
            ^ t5[((lo >> 16) & 0xff) as usize]
            ^ t4[(lo >> 24) as usize]
            ^ t3[(hi & 0xff) as usize]
            ^ t2[((hi >> 8) & 0xff) as usize]
            ^ t1[((hi >> 16) & 0xff) as usize]
            ^ t0[(hi >> 24) as usize];
    }
    for b in chunks.remainder() {
        crc = t0[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// CRC-32C of `bytes`.
#[cfg(test)]
pub(super) fn crc32c(bytes: &[u8]) -> u32 {
    update(!0, bytes) ^ !0
}

/// The same CRC a byte at a time, the textbook way: what the sliced one must equal.
#[cfg(test)]
pub(super) fn crc32c_bytewise(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc = TABLES[0][((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc ^ !0
}
