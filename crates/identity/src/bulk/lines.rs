//! Factory batches as JSON lines: one request per line in, one result per line out, in the
//! same order, without a file per device.
//!
//! In: `{"device":"meter-1","csr":"<PEM or base64 DER>"}`. Out, for each request line:
//! `{"device":"meter-1","serial":"<hex>","not_after":<unix s>,"certificate":"<PEM>"}` when
//! issued, `{"line":<n>,"device":"meter-1"|null,"error":"<why>"}` when refused (not JSON,
//! another field, a bad device id, a CSR that does not decode or verify, a policy refusal, a
//! line longer than [`MAX_LINE`]); a refusal is counted and the run goes on. Blank lines are
//! skipped (they still count for line numbers).
//!
//! The input is read a chunk of [`BATCH`] lines at a time by the worker that will sign it, so
//! memory stays bounded however long the input. Each chunk is recorded in the index (one
//! sync) before its results are appended to the output, and a file output is fdatasync'd once
//! per chunk. A crash may leave the output without the results of the last chunks although
//! the index records them: run the batch again (re-issuing for the same device and key is
//! allowed), or from the first line whose result is missing.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart_core::{DeviceId, TenantId};
use serde::Deserialize;

use super::{BATCH, pipeline_from};
use crate::fsutil::{self, PUBLIC_FILE};
use crate::{Authority, IdentityError, Issued, Signed, csr};

/// Longest request line accepted, in bytes: a PEM P-256 request is ~600, RSA-4096 with
/// attributes ~2,400 once JSON-escaped. A longer line is refused without being kept in memory.
pub const MAX_LINE: usize = 64 * 1024;

/// Longest device name quoted back in a refusal, in bytes.
const MAX_ECHO: usize = 128;

/// Counts of a [`issue_lines`] run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LinesReport {
    /// Request lines read (blank lines not counted).
    pub requests: usize,
    /// Certificates issued, recorded and written out.
    pub issued: usize,
    /// Request lines refused, each with an error line in the output.
    pub refused: usize,
    /// Wall-clock time spent.
    pub elapsed: Duration,
}

/// A request line that parsed: the device and its CSR's DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    /// The device the certificate is for.
    pub device: DeviceId,
    /// The CSR, decoded from PEM or base64 (not verified yet).
    pub csr_der: Vec<u8>,
}

/// Why a request line was refused before signing, with the device it named when it named one.
#[derive(Debug)]
pub struct LineRefusal {
    /// The `device` field as given (shortened), when the line had one.
    pub device: Option<String>,
    /// Why.
    pub error: IdentityError,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request<'a> {
    #[serde(borrow)]
    device: Cow<'a, str>,
    #[serde(borrow)]
    csr: Cow<'a, str>,
}

/// Parses one request line (without its end of line): the JSON object, the device id, the
/// CSR's encoding. Nothing here verifies the CSR; [`Authority::sign_request`] does.
pub fn parse_line(line: &[u8]) -> Result<RequestLine, LineRefusal> {
    let refuse = |device: Option<&str>, error| LineRefusal {
        device: device.map(echo),
        error,
    };
    if line.len() > MAX_LINE {
        return Err(refuse(None, too_long()));
    }
    let req: Request<'_> = serde_json::from_slice(line).map_err(|e| {
        let why = format!("not a {{\"device\",\"csr\"}} JSON object: {e}");
        refuse(None, IdentityError::BadLine(why))
    })?;
    let device = DeviceId::parse(&req.device)
        .map_err(|e| refuse(Some(&req.device), IdentityError::BadId(e.to_string())))?;
    let csr_der =
        csr::decode_text(&req.csr).map_err(|e| refuse(Some(&req.device), IdentityError::Csr(e)))?;
    Ok(RequestLine { device, csr_der })
}

fn too_long() -> IdentityError {
    IdentityError::BadLine(format!("line longer than {MAX_LINE} bytes"))
}

/// At most [`MAX_ECHO`] bytes of an untrusted name, cut on a character boundary.
fn echo(s: &str) -> String {
    let mut end = s.len().min(MAX_ECHO);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

/// Where results go: a file, made durable once per chunk, or a stream (standard output),
/// flushed once per chunk.
pub enum LinesOutput {
    /// A file created for this run.
    File {
        /// The open file, appended to.
        file: File,
        /// Its path, for errors.
        path: PathBuf,
    },
    /// Anything else; not synced.
    Stream(Box<dyn Write + Send>),
}

impl std::fmt::Debug for LinesOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { path, .. } => f.debug_tuple("File").field(path).finish(),
            Self::Stream(_) => f.write_str("Stream"),
        }
    }
}

impl LinesOutput {
    /// Creates `path` (mode 0644) for the results; an existing file is refused unless
    /// `overwrite`, and then truncated. The file and its directory entry are synced before
    /// the first certificate is issued, so the results of every synced chunk survive a crash.
    pub fn create(path: &Path, overwrite: bool) -> Result<Self, IdentityError> {
        let mut opts = OpenOptions::new();
        opts.write(true).mode(PUBLIC_FILE);
        if overwrite {
            opts.create(true).truncate(true);
        } else {
            opts.create_new(true);
        }
        let file = opts.open(path).map_err(|e| IdentityError::io(path, e))?;
        // The umask may have narrowed the mode, and a file overwritten keeps its own: set it.
        file.set_permissions(std::fs::Permissions::from_mode(PUBLIC_FILE))
            .and_then(|()| file.sync_all())
            .map_err(|e| IdentityError::io(path, e))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fsutil::sync_dir(dir)?;
        Ok(Self::File {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Results to a stream (standard output, a pipe): flushed once per chunk, not synced.
    pub fn stream(w: impl Write + Send + 'static) -> Self {
        Self::Stream(Box::new(w))
    }

    /// Appends one chunk's results and makes them durable (a file) or flushes them (a stream).
    fn append(&mut self, bytes: &[u8]) -> Result<(), IdentityError> {
        match self {
            Self::File { file, path } => file
                .write_all(bytes)
                .and_then(|()| file.sync_data())
                .map_err(|e| IdentityError::io(&*path, e)),
            Self::Stream(w) => w
                .write_all(bytes)
                .and_then(|()| w.flush())
                .map_err(|e| IdentityError::io("standard output", e)),
        }
    }
}

/// One chunk of input: its lines back to back in one buffer.
struct RawChunk {
    bytes: Vec<u8>,
    /// Line number (from 1), end offset in `bytes`, and whether the line fit in [`MAX_LINE`].
    lines: Vec<(u64, usize, bool)>,
}

/// Reads chunks of [`BATCH`] request lines.
struct ChunkReader<R> {
    input: R,
    line_no: u64,
}

impl<R: BufRead> ChunkReader<R> {
    fn next_chunk(&mut self) -> Result<Option<RawChunk>, IdentityError> {
        let mut chunk = RawChunk {
            bytes: Vec::with_capacity(BATCH * 1024),
            lines: Vec::with_capacity(BATCH),
        };
        while chunk.lines.len() < BATCH {
            let start = chunk.bytes.len();
            let fits = match read_line(&mut self.input, &mut chunk.bytes, MAX_LINE) {
                Ok(Some(fits)) => fits,
                Ok(None) => break,
                Err(e) => return Err(IdentityError::io("request lines", e)),
            };
            self.line_no += 1;
            let blank = chunk
                .bytes
                .get(start..)
                .is_some_and(|l| l.iter().all(u8::is_ascii_whitespace));
            if fits && blank {
                chunk.bytes.truncate(start);
                continue;
            }
            chunk.lines.push((self.line_no, chunk.bytes.len(), fits));
        }
        Ok((!chunk.lines.is_empty()).then_some(chunk))
    }
}

/// Appends the next line, without its `\n` (or `\r\n`), to `buf`. `Ok(None)` at the end of
/// the input; `Ok(Some(false))` when the line is longer than `max` bytes: nothing of it is
/// kept and the rest of it is skipped as it is read.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Option<bool>> {
    let start = buf.len();
    let (mut len, mut any, mut fits) = (0usize, false, true);
    loop {
        let avail = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            // The last line, without an end of line.
            break;
        }
        any = true;
        let newline = avail.iter().position(|&b| b == b'\n');
        let (part, _) = avail.split_at(newline.unwrap_or(avail.len()));
        len += part.len();
        if fits && len <= max {
            buf.extend_from_slice(part);
        } else if fits {
            fits = false;
            buf.truncate(start);
        }
        let used = part.len() + usize::from(newline.is_some());
        input.consume(used);
        if newline.is_some() {
            break;
        }
    }
    if fits && buf.len() > start && buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(any.then_some(fits))
}

/// Where a line's result goes: its number and the device it named, if any.
struct LineMeta {
    line: u64,
    device: Option<String>,
}

/// Issues a certificate for every request line of `input` (see the module documentation),
/// writing one result line per request to `output`, in input order, on `threads` signing
/// threads ([`crate::default_threads`] for all cores). Refused lines do not stop the run; an
/// error reading the input stops it after the chunks before it are written, an error of the
/// index or the output stops it at once; either is returned, and what was written before
/// stays issued.
pub fn issue_lines<R: BufRead + Send>(
    auth: &Authority,
    tenant: &TenantId,
    profile: &str,
    input: R,
    output: &mut LinesOutput,
    threads: usize,
) -> Result<LinesReport, IdentityError> {
    let start = Instant::now();
    auth.profile(profile)?;
    let mut reader = ChunkReader { input, line_no: 0 };
    let prepare = |chunk: RawChunk| {
        let mut from = 0;
        let mut items = Vec::with_capacity(chunk.lines.len());
        for &(line, end, fits) in &chunk.lines {
            let raw = chunk.bytes.get(from..end).unwrap_or_default();
            from = end;
            let (device, signed) = if fits {
                sign_line(auth, tenant, profile, raw)
            } else {
                (None, Err(too_long()))
            };
            items.push((LineMeta { line, device }, signed));
        }
        items
    };
    let mut report = LinesReport::default();
    let mut buf = Vec::with_capacity(BATCH * 1024);
    pipeline_from(
        auth,
        threads,
        || reader.next_chunk(),
        prepare,
        |done| {
            buf.clear();
            for (meta, result) in done {
                report.requests += 1;
                match result {
                    Ok(issued) => {
                        report.issued += 1;
                        push_issued(&mut buf, &issued);
                    }
                    Err(e) => {
                        report.refused += 1;
                        push_refusal(&mut buf, &meta, &e);
                    }
                }
            }
            output.append(&buf)
        },
    )?;
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Parses, decodes, verifies and signs one request line.
fn sign_line(
    auth: &Authority,
    tenant: &TenantId,
    profile: &str,
    raw: &[u8],
) -> (Option<String>, Result<Signed, IdentityError>) {
    match parse_line(raw) {
        Ok(req) => {
            let signed = auth.sign_request(tenant, &req.device, profile, &req.csr_der);
            (Some(String::from(req.device)), signed)
        }
        Err(refusal) => (refusal.device, Err(refusal.error)),
    }
}

/// Appends `s` as a JSON string.
fn push_str(buf: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail, and a &str always serialises.
    if serde_json::to_writer(&mut *buf, s).is_err() {
        buf.extend_from_slice(b"\"\"");
    }
}

/// Appends text that needs no escaping but its line ends as a JSON string: what
/// [`push_str`] writes, without looking at each character twice. Anything else (not the case
/// of a PEM certificate) goes through [`push_str`].
fn push_lines(buf: &mut Vec<u8>, s: &str) {
    let plain = |b: &u8| *b >= 0x20 && *b != b'"' && *b != b'\\' && *b != 0x7f;
    if !s.bytes().all(|b| b == b'\n' || plain(&b)) {
        return push_str(buf, s);
    }
    buf.reserve(s.len() + s.len() / 32 + 2);
    buf.push(b'"');
    let mut lines = s.split('\n');
    if let Some(first) = lines.next() {
        buf.extend_from_slice(first.as_bytes());
    }
    for line in lines {
        buf.extend_from_slice(b"\\n");
        buf.extend_from_slice(line.as_bytes());
    }
    buf.push(b'"');
}

/// Appends an integer in decimal, without formatting machinery.
fn push_int(buf: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        // `v % 10` < 10.
        digits[i] = b'0' + u8::try_from(v % 10).unwrap_or(0);
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(digits.get(i..).unwrap_or_default());
}

fn push_issued(buf: &mut Vec<u8>, issued: &Issued) {
    let r = &issued.record;
    buf.extend_from_slice(b"{\"device\":");
    push_str(buf, &r.subject);
    buf.extend_from_slice(b",\"serial\":\"");
    buf.extend_from_slice(r.serial.as_str().as_bytes());
    buf.extend_from_slice(b"\",\"not_after\":");
    push_int(buf, r.not_after);
    buf.extend_from_slice(b",\"certificate\":");
    push_lines(buf, &issued.cert_pem);
    buf.extend_from_slice(b"}\n");
}

fn push_refusal(buf: &mut Vec<u8>, meta: &LineMeta, e: &IdentityError) {
    buf.extend_from_slice(b"{\"line\":");
    buf.extend_from_slice(meta.line.to_string().as_bytes());
    buf.extend_from_slice(b",\"device\":");
    match &meta.device {
        Some(d) => push_str(buf, d),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b",\"error\":");
    push_str(buf, &e.to_string());
    buf.extend_from_slice(b"}\n");
}

#[cfg(test)]
#[path = "lines_tests.rs"]
mod tests;
