//! Writers for both formats and for the reject file.
//!
//! Each row is assembled in a reused buffer and handed to the sink in one `write_all`, so an
//! unbuffered sink costs one call per row; wrap files in a `BufWriter` all the same.

use std::fmt::{self, Write as _};
use std::io::{self, Write};

use ipnet::IpNet;
use rampart_core::{DeviceRecord, DeviceState};
use serde::Serialize;

use crate::columns::Column;
use crate::csv::push_field;
use crate::reader::RowError;

/// A host network is written as a bare address, which the reader turns back into the host.
fn ip_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// Free text with a line break cannot be represented: one record is one line.
fn check_one_line(record: &DeviceRecord) -> io::Result<()> {
    let d = &record.device;
    let multiline = |s: &str| s.contains(['\n', '\r']);
    if multiline(&d.name) || d.firmware.as_deref().is_some_and(multiline) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "device {}: name or firmware contains a line break, which a fleet file cannot hold",
                d.id
            ),
        ));
    }
    Ok(())
}

/// Writes CSV: all columns in [`Column::ALL`] order, lists joined with `;`.
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    out: W,
    line: String,
    scratch: String,
}

impl<W: Write> CsvWriter<W> {
    /// Writes the header line at once, so even an empty export is a valid fleet file.
    pub fn new(mut out: W) -> io::Result<Self> {
        let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
        out.write_all(names.join(",").as_bytes())?;
        out.write_all(b"\n")?;
        Ok(Self {
            out,
            line: String::with_capacity(512),
            scratch: String::with_capacity(128),
        })
    }

    /// Appends one record as one line.
    pub fn write(&mut self, record: &DeviceRecord) -> io::Result<()> {
        check_one_line(record)?;
        let d = &record.device;
        let sim = record.sim.as_ref();
        let line = &mut self.line;
        let scratch = &mut self.scratch;
        line.clear();
        for (i, column) in Column::ALL.into_iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            scratch.clear();
            let value: &str = match column {
                Column::DeviceId => d.id.as_str(),
                Column::Name => &d.name,
                Column::Profile => d.profile.as_ref().map_or("", |p| p.as_str()),
                Column::Imsi => sim.map_or("", |s| s.imsi.as_str()),
                Column::Iccid => sim.map_or("", |s| s.iccid.as_str()),
                Column::Msisdn => sim
                    .and_then(|s| s.msisdn.as_ref())
                    .map_or("", |m| m.as_str()),
                Column::ImeiPolicy => sim.map_or("", |s| s.imei_policy.as_str()),
                Column::AllowedImeis => {
                    if let Some(s) = sim {
                        join(scratch, s.allowed_imeis.iter().map(|i| i.as_str()));
                    }
                    scratch
                }
                Column::Ips => {
                    for (n, ip) in d.ips.iter().enumerate() {
                        if n > 0 {
                            scratch.push(';');
                        }
                        if ip.prefix_len() == ip.max_prefix_len() {
                            push_display(scratch, ip.addr());
                        } else {
                            push_display(scratch, ip);
                        }
                    }
                    scratch
                }
                Column::Tags => {
                    join(scratch, d.tags.iter().map(|t| t.as_str()));
                    scratch
                }
                Column::Firmware => d.firmware.as_deref().unwrap_or(""),
                Column::Groups => {
                    join(scratch, d.groups.iter().map(|g| g.as_str()));
                    scratch
                }
                Column::Mac => d.mac.as_ref().map_or("", |m| m.as_str()),
                Column::State => d.state.as_str(),
            };
            push_field(line, value);
        }
        line.push('\n');
        self.out.write_all(line.as_bytes())
    }

    /// Flushes and returns the sink.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Formats into a `String`, which cannot fail.
fn push_display(out: &mut String, value: impl fmt::Display) {
    write!(out, "{value}").unwrap_or(());
}

fn join<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    for (n, item) in items.enumerate() {
        if n > 0 {
            out.push(';');
        }
        out.push_str(item);
    }
}

/// The JSON shape of a row: empty fields are left out to keep exports small.
#[derive(Serialize)]
struct JsonRow<'a> {
    device_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    imsi: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iccid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msisdn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    imei_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_imeis: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ips: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    firmware: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
}

/// Writes JSON Lines, one object per record, lists as arrays.
#[derive(Debug)]
pub struct JsonlWriter<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> JsonlWriter<W> {
    /// Wraps a sink; JSON Lines has no header.
    pub fn new(out: W) -> Self {
        Self {
            out,
            line: Vec::with_capacity(512),
        }
    }

    /// Appends one record as one line.
    pub fn write(&mut self, record: &DeviceRecord) -> io::Result<()> {
        check_one_line(record)?;
        let d = &record.device;
        let sim = record.sim.as_ref();
        let row = JsonRow {
            device_id: d.id.as_str(),
            name: &d.name,
            profile: d.profile.as_ref().map(|p| p.as_str()),
            imsi: sim.map(|s| s.imsi.as_str()),
            iccid: sim.map(|s| s.iccid.as_str()),
            msisdn: sim.and_then(|s| s.msisdn.as_ref()).map(|m| m.as_str()),
            imei_policy: sim.map(|s| s.imei_policy.as_str()),
            allowed_imeis: sim.map_or_else(Vec::new, |s| {
                s.allowed_imeis.iter().map(|i| i.as_str()).collect()
            }),
            ips: d.ips.iter().map(ip_text).collect(),
            tags: d.tags.iter().map(|t| t.as_str()).collect(),
            firmware: d.firmware.as_deref(),
            groups: d.groups.iter().map(|g| g.as_str()).collect(),
            mac: d.mac.as_ref().map(|m| m.as_str()),
            state: (d.state != DeviceState::Active).then(|| d.state.as_str()),
        };
        self.line.clear();
        serde_json::to_writer(&mut self.line, &row).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    /// Flushes and returns the sink.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes the reject file: CSV with `line,reason,raw`, one row per [`RowError`], so an
/// operator can fix the rows and feed `raw` back in.
#[derive(Debug)]
pub struct RejectWriter<W: Write> {
    out: W,
    line: String,
}

impl<W: Write> RejectWriter<W> {
    /// Writes the header line at once.
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"line,reason,raw\n")?;
        Ok(Self {
            out,
            line: String::with_capacity(256),
        })
    }

    /// Appends one rejected line. Line breaks inside `raw` or `reason` (a stray `\r`) become
    /// spaces, keeping one reject per line.
    pub fn write(&mut self, error: &RowError) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        push_display(line, error.line);
        line.push(',');
        push_field(line, &error.reason.replace(['\r', '\n'], " "));
        line.push(',');
        push_field(line, &error.raw.replace(['\r', '\n'], " "));
        line.push('\n');
        self.out.write_all(line.as_bytes())
    }

    /// Flushes and returns the sink.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::csv::parse_csv_line;

    #[test]
    fn reject_file_quotes_and_flattens() {
        let mut w = RejectWriter::new(Vec::new()).unwrap();
        w.write(&RowError {
            line: 7,
            reason: "invalid iccid \"89\": must be 18 to 20 digits".into(),
            raw: "dev-1,\"a,b\",89\r".into(),
        })
        .unwrap();
        let out = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("line,reason,raw"));
        let fields = parse_csv_line(lines.next().unwrap()).unwrap();
        assert_eq!(fields[0], "7");
        assert_eq!(fields[1], "invalid iccid \"89\": must be 18 to 20 digits");
        assert_eq!(fields[2], "dev-1,\"a,b\",89 ");
        assert_eq!(lines.next(), None);
    }
}
