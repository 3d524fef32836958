//! The binary form of a journal entry (version 1): a few hundred bytes where the JSON form
//! took about a kilobyte, written and read without a parser.
//!
//! Layout, all integers little-endian, strings as `u16` length + UTF-8:
//!
//! ```text
//! version u8 = 1 | flags u8 (record, usage, sighting, unknown) | change u8
//! [record]   status str | event_time i64 | received_at i64 | client str | session
//!            | opt u8 (session_time, terminate_cause) | [session_time u32] | [terminate_cause str]
//! [change]   Upsert: session | End: nas str, session_id str | EndNas: nas str
//! [usage]    imsi str | hour i64 | up u64 | down u64
//! [sighting] imsi str | opt u8 (imeisv, location) | [imeisv str] | [location] | seen_at i64
//! session    opt u16 | nas str | session_id str | the optional fields present, in field order
//!            | started_at i64 | updated_at i64 | input/output octets u64 | input/output packets u64
//! location   opt u8 | kind str | the optional fields present (mcc_mnc str, lac u16, ci u32,
//!            tac u32, eci u32, nci u64)
//! ```
//!
//! Decoding is strict: unknown flag bits, invalid UTF-8 or identifiers, a length past the end
//! or bytes after the entry are errors, so anything that decodes re-encodes to the same bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;
use rampart_core::{
    AccountingRecord, DeviceId, Location, RadiusSession, SimSighting, TenantId, Timestamp,
};

use super::{Change, ChangeRef, Entry, EntryError, EntryRef, Usage};

/// The first byte of every binary entry.
pub(crate) const VERSION: u8 = 1;

const F_RECORD: u8 = 1;
const F_USAGE: u8 = 2;
const F_SIGHTING: u8 = 4;
const F_UNKNOWN: u8 = 8;

const C_NONE: u8 = 0;
const C_RECORD: u8 = 1;
const C_UPSERT: u8 = 2;
const C_END: u8 = 3;
const C_END_NAS: u8 = 4;

// Session optional fields.
const S_MULTI: u16 = 1;
const S_IMSI: u16 = 1 << 1;
const S_IMEISV: u16 = 1 << 2;
const S_MSISDN: u16 = 1 << 3;
const S_IPV4: u16 = 1 << 4;
const S_IPV6: u16 = 1 << 5;
const S_APN: u16 = 1 << 6;
const S_RAT: u16 = 1 << 7;
const S_LOCATION: u16 = 1 << 8;
const S_TENANT: u16 = 1 << 9;
const S_DEVICE: u16 = 1 << 10;
const S_ALL: u16 = (1 << 11) - 1;

// Location optional fields.
const L_MCC_MNC: u8 = 1;
const L_LAC: u8 = 1 << 1;
const L_CI: u8 = 1 << 2;
const L_TAC: u8 = 1 << 3;
const L_ECI: u8 = 1 << 4;
const L_NCI: u8 = 1 << 5;
const L_ALL: u8 = (1 << 6) - 1;

// Record and sighting optional fields.
const R_SESSION_TIME: u8 = 1;
const R_TERMINATE: u8 = 1 << 1;
const G_IMEISV: u8 = 1;
const G_LOCATION: u8 = 1 << 1;

/// Appends the binary form of `e` to `out`; on error `out` is left as it was.
pub(crate) fn encode(e: &EntryRef<'_>, out: &mut Vec<u8>) -> Result<(), EntryError> {
    let start = out.len();
    let r = encode_inner(e, out);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn encode_inner(e: &EntryRef<'_>, out: &mut Vec<u8>) -> Result<(), EntryError> {
    let mut flags = 0;
    if e.record.is_some() {
        flags |= F_RECORD;
    }
    if e.usage.is_some() {
        flags |= F_USAGE;
    }
    if e.sighting.is_some() {
        flags |= F_SIGHTING;
    }
    if e.unknown {
        flags |= F_UNKNOWN;
    }
    if matches!(e.change, ChangeRef::Record) && e.record.is_none() {
        return Err(EntryError::Invalid("session change"));
    }
    let change = match e.change {
        ChangeRef::None => C_NONE,
        ChangeRef::Record => C_RECORD,
        ChangeRef::Upsert(_) => C_UPSERT,
        ChangeRef::End { .. } => C_END,
        ChangeRef::EndNas { .. } => C_END_NAS,
    };
    out.extend_from_slice(&[VERSION, flags, change]);
    if let Some(r) = e.record {
        put_str(out, &r.status)?;
        put_i64(out, r.event_time.0);
        put_i64(out, r.received_at.0);
        put_str(out, &r.client)?;
        put_session(out, &r.session)?;
        let mut opt = 0;
        if r.session_time.is_some() {
            opt |= R_SESSION_TIME;
        }
        if r.terminate_cause.is_some() {
            opt |= R_TERMINATE;
        }
        out.push(opt);
        if let Some(t) = r.session_time {
            out.extend_from_slice(&t.to_le_bytes());
        }
        if let Some(c) = &r.terminate_cause {
            put_str(out, c)?;
        }
    }
    match e.change {
        ChangeRef::None | ChangeRef::Record => {}
        ChangeRef::Upsert(s) => put_session(out, s)?,
        ChangeRef::End { nas, session_id } => {
            put_str(out, nas)?;
            put_str(out, session_id)?;
        }
        ChangeRef::EndNas { nas } => put_str(out, nas)?,
    }
    if let Some(u) = &e.usage {
        put_str(out, u.imsi)?;
        put_i64(out, u.hour.0);
        put_u64(out, u.up);
        put_u64(out, u.down);
    }
    if let Some(s) = e.sighting {
        put_str(out, &s.imsi)?;
        let mut opt = 0;
        if s.imeisv.is_some() {
            opt |= G_IMEISV;
        }
        if s.location.is_some() {
            opt |= G_LOCATION;
        }
        out.push(opt);
        if let Some(i) = &s.imeisv {
            put_str(out, i)?;
        }
        if let Some(l) = &s.location {
            put_location(out, l)?;
        }
        put_i64(out, s.seen_at.0);
    }
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), EntryError> {
    let len = u16::try_from(s.len()).map_err(|_| EntryError::TooLong(s.len()))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_session(out: &mut Vec<u8>, s: &RadiusSession) -> Result<(), EntryError> {
    let mut opt = 0u16;
    for (present, bit) in [
        (s.multi_session_id.is_some(), S_MULTI),
        (s.imsi.is_some(), S_IMSI),
        (s.imeisv.is_some(), S_IMEISV),
        (s.msisdn.is_some(), S_MSISDN),
        (s.ipv4.is_some(), S_IPV4),
        (s.ipv6_prefix.is_some(), S_IPV6),
        (s.apn.is_some(), S_APN),
        (s.rat.is_some(), S_RAT),
        (s.location.is_some(), S_LOCATION),
        (s.tenant.is_some(), S_TENANT),
        (s.device_id.is_some(), S_DEVICE),
    ] {
        if present {
            opt |= bit;
        }
    }
    out.extend_from_slice(&opt.to_le_bytes());
    put_str(out, &s.nas)?;
    put_str(out, &s.session_id)?;
    for v in [&s.multi_session_id, &s.imsi, &s.imeisv, &s.msisdn]
        .into_iter()
        .flatten()
    {
        put_str(out, v)?;
    }
    if let Some(ip) = s.ipv4 {
        out.extend_from_slice(&ip.octets());
    }
    if let Some(net) = s.ipv6_prefix {
        out.extend_from_slice(&net.addr().octets());
        out.push(net.prefix_len());
    }
    for v in [&s.apn, &s.rat].into_iter().flatten() {
        put_str(out, v)?;
    }
    if let Some(l) = &s.location {
        put_location(out, l)?;
    }
    if let Some(t) = &s.tenant {
        put_str(out, t.as_str())?;
    }
    if let Some(d) = &s.device_id {
        put_str(out, d.as_str())?;
    }
    put_i64(out, s.started_at.0);
    put_i64(out, s.updated_at.0);
    put_u64(out, s.input_octets);
    put_u64(out, s.output_octets);
    put_u64(out, s.input_packets);
    put_u64(out, s.output_packets);
    Ok(())
}

fn put_location(out: &mut Vec<u8>, l: &Location) -> Result<(), EntryError> {
    let mut opt = 0u8;
    for (present, bit) in [
        (l.mcc_mnc.is_some(), L_MCC_MNC),
        (l.lac.is_some(), L_LAC),
        (l.ci.is_some(), L_CI),
        (l.tac.is_some(), L_TAC),
        (l.eci.is_some(), L_ECI),
        (l.nci.is_some(), L_NCI),
    ] {
        if present {
            opt |= bit;
        }
    }
    out.push(opt);
    put_str(out, &l.kind)?;
    if let Some(m) = &l.mcc_mnc {
        put_str(out, m)?;
    }
    if let Some(v) = l.lac {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [l.ci, l.tac, l.eci].into_iter().flatten() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    if let Some(v) = l.nci {
        put_u64(out, v);
    }
    Ok(())
}

/// Decodes a version-1 entry (the whole payload, version byte included).
pub(crate) fn decode(payload: &[u8]) -> Result<Entry, EntryError> {
    let mut r = Reader { buf: payload };
    let version = r.u8()?;
    if version != VERSION {
        return Err(EntryError::Version(version));
    }
    let flags = r.u8()?;
    if flags & !(F_RECORD | F_USAGE | F_SIGHTING | F_UNKNOWN) != 0 {
        return Err(EntryError::Invalid("entry flags"));
    }
    let change = r.u8()?;
    let record = if flags & F_RECORD != 0 {
        let status = r.string()?;
        let event_time = Timestamp(r.i64()?);
        let received_at = Timestamp(r.i64()?);
        let client = r.string()?;
        let session = r.session()?;
        let opt = r.u8()?;
        if opt & !(R_SESSION_TIME | R_TERMINATE) != 0 {
            return Err(EntryError::Invalid("record flags"));
        }
        let session_time = (opt & R_SESSION_TIME != 0).then(|| r.u32()).transpose()?;
        let terminate_cause = (opt & R_TERMINATE != 0).then(|| r.string()).transpose()?;
        Some(AccountingRecord {
            status,
            event_time,
            received_at,
            client,
            session,
            session_time,
            terminate_cause,
        })
    } else {
        None
    };
    let change = match change {
        C_NONE => Change::None,
        // The session is the record's: without a record there is nothing to upsert.
        C_RECORD if record.is_some() => Change::Record,
        C_UPSERT => Change::Upsert(Box::new(r.session()?)),
        C_END => Change::End {
            nas: r.string()?,
            session_id: r.string()?,
        },
        C_END_NAS => Change::EndNas { nas: r.string()? },
        _ => return Err(EntryError::Invalid("session change")),
    };
    let usage = if flags & F_USAGE != 0 {
        Some(Usage {
            imsi: r.string()?,
            hour: Timestamp(r.i64()?),
            up: r.u64()?,
            down: r.u64()?,
        })
    } else {
        None
    };
    let sighting = if flags & F_SIGHTING != 0 {
        let imsi = r.string()?;
        let opt = r.u8()?;
        if opt & !(G_IMEISV | G_LOCATION) != 0 {
            return Err(EntryError::Invalid("sighting flags"));
        }
        let imeisv = (opt & G_IMEISV != 0).then(|| r.string()).transpose()?;
        let location = (opt & G_LOCATION != 0).then(|| r.location()).transpose()?;
        Some(SimSighting {
            imsi,
            imeisv,
            location,
            seen_at: Timestamp(r.i64()?),
        })
    } else {
        None
    };
    if !r.buf.is_empty() {
        return Err(EntryError::Trailing(r.buf.len()));
    }
    Ok(Entry {
        record,
        change,
        usage,
        sighting,
        unknown: flags & F_UNKNOWN != 0,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], EntryError> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or(EntryError::Truncated)?;
        self.buf = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, EntryError> {
        self.take::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Result<u16, EntryError> {
        self.take().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, EntryError> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, EntryError> {
        self.take().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, EntryError> {
        self.take().map(i64::from_le_bytes)
    }

    fn str(&mut self) -> Result<&'a str, EntryError> {
        let len = usize::from(self.u16()?);
        if len > self.buf.len() {
            return Err(EntryError::Truncated);
        }
        let (s, rest) = self.buf.split_at(len);
        self.buf = rest;
        std::str::from_utf8(s).map_err(|_| EntryError::Invalid("utf-8"))
    }

    fn string(&mut self) -> Result<String, EntryError> {
        self.str().map(str::to_owned)
    }

    fn session(&mut self) -> Result<RadiusSession, EntryError> {
        let opt = self.u16()?;
        if opt & !S_ALL != 0 {
            return Err(EntryError::Invalid("session flags"));
        }
        let nas = self.string()?;
        let session_id = self.string()?;
        let text = |bit: u16, r: &mut Self| (opt & bit != 0).then(|| r.string()).transpose();
        let multi_session_id = text(S_MULTI, self)?;
        let imsi = text(S_IMSI, self)?;
        let imeisv = text(S_IMEISV, self)?;
        let msisdn = text(S_MSISDN, self)?;
        let ipv4 = (opt & S_IPV4 != 0)
            .then(|| self.take::<4>().map(Ipv4Addr::from))
            .transpose()?;
        let ipv6_prefix = (opt & S_IPV6 != 0)
            .then(|| {
                let addr = Ipv6Addr::from(self.take::<16>()?);
                Ipv6Net::new(addr, self.u8()?).map_err(|_| EntryError::Invalid("ipv6 prefix"))
            })
            .transpose()?;
        let apn = text(S_APN, self)?;
        let rat = text(S_RAT, self)?;
        let location = (opt & S_LOCATION != 0)
            .then(|| self.location())
            .transpose()?;
        let tenant = (opt & S_TENANT != 0)
            .then(|| {
                let raw = self.str()?;
                TenantId::parse(raw)
                    .ok()
                    .filter(|t| t.as_str() == raw)
                    .ok_or(EntryError::Invalid("tenant"))
            })
            .transpose()?;
        let device_id = (opt & S_DEVICE != 0)
            .then(|| {
                let raw = self.str()?;
                DeviceId::parse(raw)
                    .ok()
                    .filter(|d| d.as_str() == raw)
                    .ok_or(EntryError::Invalid("device id"))
            })
            .transpose()?;
        Ok(RadiusSession {
            nas,
            session_id,
            multi_session_id,
            imsi,
            imeisv,
            msisdn,
            ipv4,
            ipv6_prefix,
            apn,
            rat,
            location,
            started_at: Timestamp(self.i64()?),
            updated_at: Timestamp(self.i64()?),
            input_octets: self.u64()?,
            output_octets: self.u64()?,
            input_packets: self.u64()?,
            output_packets: self.u64()?,
            tenant,
            device_id,
        })
    }

    fn location(&mut self) -> Result<Location, EntryError> {
        let opt = self.u8()?;
        if opt & !L_ALL != 0 {
            return Err(EntryError::Invalid("location flags"));
        }
        let kind = self.string()?;
        let mcc_mnc = (opt & L_MCC_MNC != 0).then(|| self.string()).transpose()?;
        let lac = (opt & L_LAC != 0).then(|| self.u16()).transpose()?;
        let ci = (opt & L_CI != 0).then(|| self.u32()).transpose()?;
        let tac = (opt & L_TAC != 0).then(|| self.u32()).transpose()?;
        let eci = (opt & L_ECI != 0).then(|| self.u32()).transpose()?;
        let nci = (opt & L_NCI != 0).then(|| self.u64()).transpose()?;
        Ok(Location {
            kind,
            mcc_mnc,
            lac,
            ci,
            tac,
            eci,
            nci,
        })
    }
}
