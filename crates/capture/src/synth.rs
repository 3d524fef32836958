//! Writing small captures: a classic pcap writer, a pcapng writer with several interfaces,
//! and payload builders (DNS response, TLS ClientHello). Tests, fuzz seeds and the benchmark
//! generator use them to make captures whose content is known exactly.

use std::io::{self, Write};
use std::net::IpAddr;

use crate::decode::LinkType;

pub use crate::dns::build_response as dns_response;
pub use crate::names::build_client_hello as client_hello;

/// Writes a classic little-endian pcap with microsecond timestamps.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut out: W, linktype: LinkType, snaplen: u32) -> io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?;
        out.write_all(&snaplen.to_le_bytes())?;
        out.write_all(&linktype.0.to_le_bytes())?;
        Ok(Self { out })
    }

    /// Appends one frame captured at `ts_ns` (nanoseconds since the epoch; kept to the
    /// microsecond). `orig_len` larger than the frame records a snapped packet.
    pub fn write(&mut self, ts_ns: i64, frame: &[u8], orig_len: Option<u32>) -> io::Result<()> {
        let secs = u32::try_from(ts_ns.div_euclid(1_000_000_000)).unwrap_or(0);
        let usec = u32::try_from(ts_ns.rem_euclid(1_000_000_000) / 1000).unwrap_or(0);
        let caplen = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        self.out.write_all(&secs.to_le_bytes())?;
        self.out.write_all(&usec.to_le_bytes())?;
        self.out.write_all(&caplen.to_le_bytes())?;
        self.out
            .write_all(&orig_len.unwrap_or(caplen).to_le_bytes())?;
        self.out.write_all(frame)
    }

    /// Flushes and returns the sink.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes a little-endian pcapng: one section, interfaces added as needed, each with its own
/// link type and timestamp resolution (`if_tsresol`, as a power of ten).
#[derive(Debug)]
pub struct PcapNgWriter<W: Write> {
    out: W,
    /// Per interface: timestamp units per second.
    units: Vec<u64>,
}

impl<W: Write> PcapNgWriter<W> {
    /// Writes the section header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut body = Vec::new();
        body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        block(&mut out, 0x0a0d_0d0a, &body)?;
        Ok(Self {
            out,
            units: Vec::new(),
        })
    }

    /// Describes an interface; returns its id. `tsresol_exp` is the decimal exponent of the
    /// timestamp unit (6 = microseconds, 9 = nanoseconds).
    pub fn interface(&mut self, linktype: LinkType, tsresol_exp: u8) -> io::Result<u32> {
        let mut body = Vec::new();
        body.extend_from_slice(&u16::try_from(linktype.0).unwrap_or(0).to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&65535u32.to_le_bytes());
        // if_tsresol option (code 9, length 1, padded), then opt_endofopt.
        body.extend_from_slice(&9u16.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&[tsresol_exp, 0, 0, 0]);
        body.extend_from_slice(&[0, 0, 0, 0]);
        block(&mut self.out, 1, &body)?;
        self.units
            .push(10u64.saturating_pow(u32::from(tsresol_exp.min(19))));
        Ok(u32::try_from(self.units.len() - 1).unwrap_or(u32::MAX))
    }

    /// Appends an enhanced packet block on interface `if_id`.
    pub fn write(&mut self, if_id: u32, ts_ns: i64, frame: &[u8]) -> io::Result<()> {
        let units = self.units.get(if_id as usize).copied().unwrap_or(1_000_000);
        let ts = (i128::from(ts_ns) * i128::from(units) / 1_000_000_000) as u64;
        let mut body = Vec::with_capacity(frame.len() + 24);
        body.extend_from_slice(&if_id.to_le_bytes());
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(frame);
        while body.len() % 4 != 0 {
            body.push(0);
        }
        block(&mut self.out, 6, &body)
    }

    /// Flushes and returns the sink.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn block<W: Write>(out: &mut W, kind: u32, body: &[u8]) -> io::Result<()> {
    let total = u32::try_from(body.len() + 12).unwrap_or(u32::MAX);
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&total.to_le_bytes())
}

/// Wraps an IP packet in an Ethernet II header (fixed MACs).
pub fn ethernet(ip_packet: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(ip_packet.len() + 14);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
    let ethertype: u16 = match ip_packet.first().map(|b| b >> 4) {
        Some(6) => 0x86dd,
        _ => 0x0800,
    };
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(ip_packet);
    f
}

/// Wraps an IP packet in a GTP-U G-PDU for `teid`, returning the UDP payload.
pub fn gtp_u(teid: u32, ip_packet: &[u8]) -> Vec<u8> {
    let mut g = Vec::with_capacity(ip_packet.len() + 8);
    g.extend_from_slice(&[0x30, 0xff]);
    g.extend_from_slice(&u16::try_from(ip_packet.len()).unwrap_or(0).to_be_bytes());
    g.extend_from_slice(&teid.to_be_bytes());
    g.extend_from_slice(ip_packet);
    g
}

/// An address's octets, for builders that take arrays.
pub fn v4(addr: &str) -> [u8; 4] {
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.octets(),
        _ => [0; 4],
    }
}
