//! The entry point: detect the format, then stream records line by line.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use rampart_core::{AlertRecord, DnsRecord, FlowRecord, NameRecord};

use crate::csv::CsvParser;
use crate::detect;
use crate::error::{LineError, OpenError, Reason};
use crate::lines::{Lines, Step};
use crate::zeek_tsv::TsvParser;
use crate::{eve, zeek_json};

/// The log formats the reader understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogFormat {
    /// Suricata EVE JSON (`eve.json`).
    SuricataEve,
    /// Zeek conn (or dns) fields as comma-separated values with a header line, as in the
    /// IoT-23 labelled flows.
    ZeekCsv,
    /// Zeek JSON logs, one object per line.
    ZeekJson,
    /// Zeek's native tab-separated logs with `#` header lines.
    ZeekTsv,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SuricataEve => "suricata eve",
            Self::ZeekCsv => "zeek csv",
            Self::ZeekJson => "zeek json",
            Self::ZeekTsv => "zeek tsv",
        })
    }
}

/// One record read from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    /// A Suricata alert.
    Alert(AlertRecord),
    /// A DNS query or answer (Zeek dns.log, Suricata `dns`).
    Dns(DnsRecord),
    /// A connection (Zeek conn.log, Suricata `flow`, IoT-23 rows).
    Flow(FlowRecord),
    /// A server name without DNS (Zeek ssl.log/http.log, Suricata `tls` SNI and `http` Host).
    Name(NameRecord),
}

/// The ground truth attached to an IoT-23 flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Label {
    /// `Malicious` (any case) rather than `Benign`.
    pub malicious: bool,
    /// The `detailed-label` (`C&C`, `DDoS`, `PartOfAHorizontalPortScan`, ...), `None` when
    /// the column holds `-` or nothing.
    pub detail: Option<String>,
}

/// What a reader has seen so far. Every line lands in `lines`; each also counts in at most one
/// of the other fields (header, comment and blank lines in none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines read, including headers, blank lines and refused lines.
    pub lines: u64,
    /// Flow records produced.
    pub flows: u64,
    /// DNS records produced.
    pub dns: u64,
    /// Name records produced.
    pub names: u64,
    /// Alert records produced.
    pub alerts: u64,
    /// Well-formed lines carrying nothing the reader maps: other Suricata event types (stats,
    /// fileinfo, ...), other Zeek logs (files.log, weird.log), DNS transactions without a
    /// query, TLS without SNI.
    pub skipped: u64,
    /// Lines refused, each reported as a [`LineError`].
    pub errors: u64,
}

impl Summary {
    /// Records of every kind produced.
    pub fn records(&self) -> u64 {
        self.flows + self.dns + self.names + self.alerts
    }
}

/// Reader settings.
#[derive(Debug, Clone)]
pub struct Options {
    max_line_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_line_bytes: Self::DEFAULT_MAX_LINE_BYTES,
        }
    }
}

impl Options {
    /// The default line cap: far above any Zeek or EVE record met in practice (a large EVE
    /// alert with payload and packet dumps is some tens of kilobytes), far below what would
    /// strain memory.
    pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

    /// Lines longer than this are refused with [`Reason::TooLong`] without being buffered.
    /// At least 1 byte.
    pub fn max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line_bytes = bytes.max(1);
        self
    }
}

/// Per-file context every parser needs.
pub(crate) struct Ctx {
    pub(crate) exporter: Arc<str>,
    pub(crate) labels: bool,
}

/// What a line turned into.
pub(crate) enum Parsed {
    Event(LogEvent),
    Labelled(FlowRecord, Label),
    /// Well-formed, but carries nothing read.
    Skipped,
    /// Header, comment or blank line.
    Header,
}

enum Parser {
    Csv(CsvParser),
    Eve,
    /// Empty input: nothing will ever be parsed.
    None,
    Tsv(TsvParser),
    ZeekJson,
}

/// A line held back by format detection, replayed before reading on.
struct Pending {
    number: u64,
    /// `None` when the line exceeded the cap.
    line: Option<Vec<u8>>,
}

/// Streams the records of one log file.
///
/// Yields `Ok(LogEvent)` for each record and `Err(LineError)` for each refused line, then ends;
/// a refused line never stops the file. Memory stays bounded by the line cap whatever the file
/// size. After iterating, [`summary`](Self::summary) has the counts.
///
/// ```
/// use rampart_logs::{LogEvent, LogReader};
///
/// let eve = br#"{"timestamp":"2024-05-01T10:00:00.000000+0000","event_type":"alert","src_ip":"10.0.0.2","src_port":4444,"dest_ip":"10.0.0.1","dest_port":23,"proto":"TCP","alert":{"signature":"telnet login","signature_id":1000001,"category":"","severity":2}}
/// not json
/// "#;
/// let mut reader = LogReader::from_reader(&eve[..], "eve.json").unwrap();
/// let events: Vec<_> = (&mut reader).collect();
/// assert!(matches!(&events[0], Ok(LogEvent::Alert(a)) if a.signature_id == 1000001));
/// assert_eq!(events[1].as_ref().unwrap_err().line, 2);
/// assert_eq!(reader.summary().alerts, 1);
/// assert_eq!(reader.summary().errors, 1);
/// ```
pub struct LogReader<R> {
    lines: Lines<R>,
    pending: VecDeque<Pending>,
    parser: Parser,
    format: Option<LogFormat>,
    ctx: Ctx,
    summary: Summary,
}

impl LogReader<BufReader<File>> {
    /// Opens a file and detects its format.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_with(path, Options::default())
    }

    /// Opens a file with explicit settings.
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Self, OpenError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| OpenError::Io {
            name: name.clone(),
            source,
        })?;
        Self::with_options(BufReader::with_capacity(1 << 16, file), &name, options)
    }
}

impl<R: BufRead> LogReader<R> {
    /// Reads from any buffered source; `name` identifies it in records (`exporter`) and errors.
    pub fn from_reader(reader: R, name: &str) -> Result<Self, OpenError> {
        Self::with_options(reader, name, Options::default())
    }

    /// Reads from any buffered source with explicit settings.
    pub fn with_options(reader: R, name: &str, options: Options) -> Result<Self, OpenError> {
        Self::build(reader, name, &options, false)
    }

    pub(crate) fn build(
        reader: R,
        name: &str,
        options: &Options,
        labels: bool,
    ) -> Result<Self, OpenError> {
        let mut lines = Lines::new(reader, options.max_line_bytes);
        let mut pending = VecDeque::new();
        let mut held = 0;
        let mut format = None;
        let mut undecided = false;
        while pending.len() < detect::MAX_LINES && held <= detect::MAX_BYTES {
            let Some(step) = lines.advance() else { break };
            let line = match step {
                Step::Failed(source) => {
                    return Err(OpenError::Io {
                        name: name.to_owned(),
                        source,
                    });
                }
                Step::TooLong => None,
                Step::Line => {
                    format = detect::classify(&lines.line);
                    held += lines.line.len();
                    Some(lines.line.clone())
                }
            };
            undecided |= line.as_ref().is_none_or(|l| !l.trim_ascii().is_empty());
            pending.push_back(Pending {
                number: lines.number,
                line,
            });
            if format.is_some() {
                break;
            }
        }
        let parser = match format {
            Some(LogFormat::SuricataEve) => Parser::Eve,
            Some(LogFormat::ZeekCsv) => Parser::Csv(CsvParser::new()),
            Some(LogFormat::ZeekJson) => Parser::ZeekJson,
            Some(LogFormat::ZeekTsv) => Parser::Tsv(TsvParser::new()),
            None if undecided => {
                return Err(OpenError::Unrecognised {
                    name: name.to_owned(),
                });
            }
            None => Parser::None,
        };
        Ok(Self {
            lines,
            pending,
            parser,
            format,
            ctx: Ctx {
                exporter: Arc::from(name),
                labels,
            },
            summary: Summary::default(),
        })
    }

    /// The detected format; `None` for an input without a single non-blank line.
    pub fn format(&self) -> Option<LogFormat> {
        self.format
    }

    /// Counts so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The next record (an [`Parsed::Event`] or [`Parsed::Labelled`]) or refused line.
    pub(crate) fn next_parsed(&mut self) -> Option<Result<Parsed, LineError>> {
        loop {
            let (number, outcome) = if let Some(held) = self.pending.pop_front() {
                let outcome = match &held.line {
                    Some(line) => parse_line(&mut self.parser, &self.ctx, line),
                    None => Err(self.too_long()),
                };
                (held.number, outcome)
            } else {
                let outcome = match self.lines.advance()? {
                    Step::Line => parse_line(&mut self.parser, &self.ctx, &self.lines.line),
                    Step::TooLong => Err(self.too_long()),
                    Step::Failed(error) => Err(Reason::Io(error.to_string())),
                };
                (self.lines.number, outcome)
            };
            self.summary.lines += 1;
            let counter = match &outcome {
                Ok(Parsed::Header) => continue,
                Ok(Parsed::Skipped) => {
                    self.summary.skipped += 1;
                    continue;
                }
                Ok(Parsed::Event(LogEvent::Alert(_))) => &mut self.summary.alerts,
                Ok(Parsed::Event(LogEvent::Dns(_))) => &mut self.summary.dns,
                Ok(Parsed::Event(LogEvent::Flow(_)) | Parsed::Labelled(..)) => {
                    &mut self.summary.flows
                }
                Ok(Parsed::Event(LogEvent::Name(_))) => &mut self.summary.names,
                Err(_) => &mut self.summary.errors,
            };
            *counter += 1;
            return Some(outcome.map_err(|reason| LineError {
                line: number,
                reason,
            }));
        }
    }

    fn too_long(&self) -> Reason {
        Reason::TooLong {
            limit: self.lines.cap(),
        }
    }
}

fn parse_line(parser: &mut Parser, ctx: &Ctx, line: &[u8]) -> Result<Parsed, Reason> {
    match parser {
        Parser::Tsv(tsv) => tsv.parse(&String::from_utf8_lossy(line), ctx),
        Parser::Csv(csv) => csv.parse(&String::from_utf8_lossy(line), ctx),
        _ if line.trim_ascii().is_empty() => Ok(Parsed::Header),
        Parser::ZeekJson => zeek_json::parse(line, ctx),
        Parser::Eve => eve::parse(line, ctx),
        Parser::None => Ok(Parsed::Header),
    }
}

impl<R: BufRead> Iterator for LogReader<R> {
    type Item = Result<LogEvent, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            return Some(match self.next_parsed()? {
                Ok(Parsed::Event(event)) => Ok(event),
                Ok(Parsed::Labelled(flow, _)) => Ok(LogEvent::Flow(flow)),
                // next_parsed passes over these itself; nothing to yield if one came through.
                Ok(Parsed::Skipped | Parsed::Header) => continue,
                Err(error) => Err(error),
            });
        }
    }
}

impl<R> fmt::Debug for LogReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogReader")
            .field("name", &self.ctx.exporter)
            .field("format", &self.format)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}
