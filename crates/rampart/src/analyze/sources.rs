//! The input files of `rampart analyze`, each opened with the reader its content calls for
//! (pcap/pcapng by magic number, otherwise a log whose format the log reader detects), and
//! merged into one stream in event-time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use rampart_capture::{CaptureConfig, CaptureEvent, CaptureReader, CaptureSummary};
use rampart_core::{AlertRecord, DnsRecord, FlowRecord, NameRecord, Timestamp};
use rampart_logs::{LineError, LogEvent, LogReader, Summary};

/// One record from any input.
#[derive(Debug)]
pub(crate) enum Record {
    Flow(FlowRecord),
    Dns(DnsRecord),
    Name(NameRecord),
    Alert(AlertRecord),
}

impl Record {
    fn time(&self) -> Timestamp {
        match self {
            Self::Flow(f) => f.end,
            Self::Dns(d) => d.time,
            Self::Name(n) => n.time,
            Self::Alert(a) => a.time,
        }
    }
}

/// Counts bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

enum Reader {
    Capture(Box<CaptureReader>),
    Log(Box<LogReader<BufReader<Counting<File>>>>),
}

/// What one input amounted to.
#[derive(Debug)]
pub(crate) enum InputSummary {
    Capture(CaptureSummary),
    Log {
        format: String,
        summary: Summary,
        first_errors: Vec<LineError>,
    },
}

/// One opened input.
pub(crate) struct Input {
    pub(crate) path: PathBuf,
    reader: Option<Reader>,
    first_errors: Vec<LineError>,
    summary: Option<InputSummary>,
}

const SHOWN_ERRORS: usize = 10;

impl Input {
    /// Opens `path`; `read` accumulates the bytes consumed.
    pub(crate) fn open(path: &Path, read: Arc<AtomicU64>) -> anyhow::Result<Self> {
        let mut magic = [0u8; 4];
        let got = File::open(path)
            .and_then(|mut f| f.read(&mut magic))
            .with_context(|| format!("cannot read {}", path.display()))?;
        let is_capture = got == 4
            && matches!(
                u32::from_le_bytes(magic),
                0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0x0a0d_0d0a
            );
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let counting = Counting { inner: file, read };
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let reader = if is_capture {
            let config = CaptureConfig {
                exporter: Some(Arc::from(name.as_str())),
                ..CaptureConfig::default()
            };
            let r = CaptureReader::from_reader(counting, config)
                .with_context(|| format!("{}", path.display()))?;
            Reader::Capture(Box::new(r))
        } else {
            let r = LogReader::from_reader(BufReader::with_capacity(1 << 16, counting), &name)
                .with_context(|| format!("{}", path.display()))?;
            Reader::Log(Box::new(r))
        };
        Ok(Self {
            path: path.to_owned(),
            reader: Some(reader),
            first_errors: Vec::new(),
            summary: None,
        })
    }

    fn next_record(&mut self) -> Option<Record> {
        loop {
            let reader = self.reader.as_mut()?;
            let item = match reader {
                Reader::Capture(r) => r.next().map(|e| match e {
                    CaptureEvent::Flow(f) => Record::Flow(f),
                    CaptureEvent::Dns(d) => Record::Dns(d),
                    CaptureEvent::Name(n) => Record::Name(n),
                }),
                Reader::Log(r) => match r.next() {
                    Some(Ok(LogEvent::Flow(f))) => Some(Record::Flow(f)),
                    Some(Ok(LogEvent::Dns(d))) => Some(Record::Dns(d)),
                    Some(Ok(LogEvent::Name(n))) => Some(Record::Name(n)),
                    Some(Ok(LogEvent::Alert(a))) => Some(Record::Alert(a)),
                    Some(Err(e)) => {
                        if self.first_errors.len() < SHOWN_ERRORS {
                            self.first_errors.push(e);
                        }
                        continue;
                    }
                    None => None,
                },
            };
            if item.is_none() {
                self.finish();
            }
            return item;
        }
    }

    fn finish(&mut self) {
        self.summary = match self.reader.take() {
            Some(Reader::Capture(r)) => Some(InputSummary::Capture(r.into_summary())),
            Some(Reader::Log(r)) => Some(InputSummary::Log {
                format: r
                    .format()
                    .map_or_else(|| "empty".to_owned(), |f| f.to_string()),
                summary: r.summary().clone(),
                first_errors: std::mem::take(&mut self.first_errors),
            }),
            None => return,
        };
    }

    /// The input's summary once it has been read to its end.
    pub(crate) fn take_summary(&mut self) -> Option<InputSummary> {
        self.finish();
        self.summary.take()
    }
}

/// Merges the inputs by event time: always yields the earliest pending record of any input.
/// Each input is assumed roughly ordered in itself (captures emit flows as they end, logs are
/// written in time order); detection tolerates what disorder remains.
pub(crate) struct Merge {
    pub(crate) inputs: Vec<Input>,
    heap: BinaryHeap<Reverse<(Timestamp, usize)>>,
    heads: Vec<Option<Record>>,
}

impl Merge {
    pub(crate) fn new(mut inputs: Vec<Input>) -> Self {
        let mut heap = BinaryHeap::new();
        let mut heads = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter_mut().enumerate() {
            let head = input.next_record();
            if let Some(r) = &head {
                heap.push(Reverse((r.time(), i)));
            }
            heads.push(head);
        }
        Self {
            inputs,
            heap,
            heads,
        }
    }
}

impl Iterator for Merge {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let Reverse((_, i)) = self.heap.pop()?;
        let record = self.heads.get_mut(i)?.take()?;
        if let Some(input) = self.inputs.get_mut(i) {
            let head = input.next_record();
            if let Some(r) = &head {
                self.heap.push(Reverse((r.time(), i)));
            }
            if let Some(slot) = self.heads.get_mut(i) {
                *slot = head;
            }
        }
        Some(record)
    }
}
