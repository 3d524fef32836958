//! Streaming pcap/pcapng reading: blocks come from pcap-parser's circular-buffer readers (the
//! file is never held whole), packets go to a [`FlowTable`], events come out as an iterator.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Block, PcapBlockOwned, PcapError, create_reader};

use crate::config::{CaptureConfig, CaptureEvent, TableStats};
use crate::decode::LinkType;
use crate::error::CaptureError;
use crate::table::FlowTable;

/// Read buffer to start with; grown for larger blocks up to [`MAX_BLOCK`].
const INITIAL_BUFFER: usize = 256 << 10;
/// Largest block accepted: far beyond any real snap length, small enough that a corrupt
/// length field cannot make the reader allocate without bound.
const MAX_BLOCK: usize = 16 << 20;
/// Reads that brought nothing new before the input is declared stuck.
const MAX_IDLE_REFILLS: u32 = 64;

/// Which container format the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap (any byte order, micro- or nanosecond timestamps).
    Pcap,
    /// pcapng (any number of sections and interfaces).
    PcapNg,
}

/// What reading a capture amounted to.
#[derive(Debug, Default)]
pub struct CaptureSummary {
    /// The container format, once recognised.
    pub format: Option<CaptureFormat>,
    /// Packets read from the file.
    pub packets: u64,
    /// Captured bytes of those packets.
    pub bytes: u64,
    /// Packets the capture cut to its snap length (captured < original length).
    pub snapped: u64,
    /// Frames per link type this crate does not decode (pcap `LINKTYPE_*` → count).
    pub unsupported_link_types: BTreeMap<u32, u64>,
    /// Interfaces described (pcapng; 1 for classic pcap).
    pub interfaces: u64,
    /// Packets naming an interface that was never described (skipped).
    pub unknown_interface: u64,
    /// The flow table's counters (flows, DNS, names, truncated IP packets, ...).
    pub table: TableStats,
    /// Why reading stopped early, if it did; everything before it was still reported.
    pub error: Option<CaptureError>,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: LinkType,
    /// Timestamp units per second.
    units: u64,
    /// Seconds added to every timestamp.
    offset_s: i64,
}

/// Reads a capture file into flows, DNS answers and server names.
///
/// ```no_run
/// use rampart_capture::{CaptureConfig, CaptureEvent, CaptureReader};
/// let mut reader = CaptureReader::open("trace.pcap", CaptureConfig::default())?;
/// for event in reader.by_ref() {
///     if let CaptureEvent::Flow(flow) = event {
///         println!("{} -> {}:{} {:?}", flow.src, flow.dst, flow.dst_port, flow.state);
///     }
/// }
/// println!("{:?}", reader.summary());
/// # Ok::<(), rampart_capture::CaptureError>(())
/// ```
pub struct CaptureReader {
    blocks: Box<dyn PcapReaderIterator + Send>,
    table: FlowTable,
    state: State,
    done: bool,
    capacity: usize,
    idle_refills: u32,
}

/// Everything the block handler updates besides the table.
struct State {
    legacy: Option<(LinkType, u64)>,
    interfaces: Vec<Interface>,
    last_ts: i64,
    summary: CaptureSummary,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("summary", &self.state.summary)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl CaptureReader {
    /// Opens a pcap or pcapng file; flows are stamped with the file name as exporter unless
    /// the configuration names one.
    pub fn open(path: impl AsRef<Path>, mut config: CaptureConfig) -> Result<Self, CaptureError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| CaptureError::Open {
            path: path.display().to_string(),
            source,
        })?;
        if config.exporter.is_none() {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            config.exporter = Some(Arc::from(name));
        }
        Self::from_reader(file, config)
    }

    /// Reads a capture from any byte stream (a pipe, a decompressor, memory).
    pub fn from_reader<R: Read + Send + 'static>(
        input: R,
        config: CaptureConfig,
    ) -> Result<Self, CaptureError> {
        let blocks = match create_reader(INITIAL_BUFFER, input) {
            Ok(b) => b,
            Err(PcapError::Eof) => return Err(CaptureError::Empty),
            Err(PcapError::Incomplete(_) | PcapError::UnexpectedEof) => {
                return Err(CaptureError::Truncated { offset: 0 });
            }
            Err(PcapError::ReadError) => return Err(CaptureError::Read { offset: 0 }),
            Err(_) => return Err(CaptureError::NotACapture),
        };
        Ok(Self {
            blocks,
            table: FlowTable::new(config),
            state: State {
                legacy: None,
                interfaces: Vec::new(),
                last_ts: 0,
                summary: CaptureSummary::default(),
            },
            done: false,
            capacity: INITIAL_BUFFER,
            idle_refills: 0,
        })
    }

    /// What was read so far (complete once the iterator returned `None`).
    pub fn summary(&self) -> &CaptureSummary {
        &self.state.summary
    }

    /// Consumes the reader, returning its summary.
    pub fn into_summary(self) -> CaptureSummary {
        self.state.summary
    }

    /// Reads one block (or ends input); events it produced are queued in the table.
    fn step(&mut self) {
        match self.blocks.next() {
            Ok((len, block)) => {
                self.idle_refills = 0;
                self.state.handle(&mut self.table, block);
                self.blocks.consume(len);
            }
            Err(PcapError::Eof) => self.end(None),
            Err(PcapError::Incomplete(_)) => self.refill(),
            Err(PcapError::UnexpectedEof) => {
                let offset = self.blocks.consumed() as u64;
                self.end(Some(CaptureError::Truncated { offset }));
            }
            Err(PcapError::BufferTooSmall) => {
                let offset = self.blocks.consumed() as u64;
                if self.capacity >= MAX_BLOCK {
                    self.end(Some(CaptureError::BlockTooLarge { offset }));
                } else {
                    self.capacity = (self.capacity * 4).min(MAX_BLOCK);
                    if self.blocks.grow(self.capacity) {
                        self.refill();
                    } else {
                        self.end(Some(CaptureError::BlockTooLarge { offset }));
                    }
                }
            }
            Err(PcapError::ReadError) => {
                let offset = self.blocks.consumed() as u64;
                self.end(Some(CaptureError::Read { offset }));
            }
            Err(_) => {
                let offset = self.blocks.consumed() as u64;
                self.end(Some(CaptureError::Corrupt { offset }));
            }
        }
    }

    fn refill(&mut self) {
        self.idle_refills += 1;
        let offset = self.blocks.consumed() as u64;
        if self.idle_refills > MAX_IDLE_REFILLS {
            self.end(Some(CaptureError::Truncated { offset }));
        } else if self.blocks.refill().is_err() {
            self.end(Some(CaptureError::Read { offset }));
        }
    }

    fn end(&mut self, error: Option<CaptureError>) {
        self.table.finish();
        self.done = true;
        self.state.summary.error = error;
        self.state.summary.table = *self.table.stats();
    }
}

impl Iterator for CaptureReader {
    type Item = CaptureEvent;

    fn next(&mut self) -> Option<CaptureEvent> {
        loop {
            if let Some(event) = self.table.pop_event() {
                return Some(event);
            }
            if self.done {
                return None;
            }
            self.step();
        }
    }
}

impl State {
    fn handle(&mut self, table: &mut FlowTable, block: PcapBlockOwned<'_>) {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                self.summary.format = Some(CaptureFormat::Pcap);
                self.summary.interfaces = 1;
                let units = if h.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                };
                self.legacy = Some((LinkType(h.network.0 as u32), units));
            }
            PcapBlockOwned::Legacy(b) => {
                let Some((linktype, units)) = self.legacy else {
                    return;
                };
                let ts = i64::from(b.ts_sec)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(i64::from(b.ts_usec) * (1_000_000_000 / units as i64));
                self.packet(table, ts, linktype, b.data, b.caplen, b.origlen);
            }
            PcapBlockOwned::NG(block) => self.ng_block(table, block),
        }
    }

    fn ng_block(&mut self, table: &mut FlowTable, block: Block<'_>) {
        match block {
            Block::SectionHeader(_) => {
                self.summary.format = Some(CaptureFormat::PcapNg);
                // Interface ids restart with every section.
                self.interfaces.clear();
            }
            Block::InterfaceDescription(idb) => {
                self.summary.interfaces += 1;
                self.interfaces.push(Interface {
                    linktype: LinkType(idb.linktype.0 as u32),
                    units: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                    offset_s: idb.ts_offset(),
                });
            }
            Block::EnhancedPacket(epb) => {
                let Some(&iface) = self.interfaces.get(epb.if_id as usize) else {
                    self.summary.unknown_interface += 1;
                    return;
                };
                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let ns = u128::from(raw) * 1_000_000_000 / u128::from(iface.units);
                let ts = i64::try_from(ns)
                    .unwrap_or(i64::MAX)
                    .saturating_add(iface.offset_s.saturating_mul(1_000_000_000));
                let caplen = epb.caplen as usize;
                let data = epb.data.get(..caplen).unwrap_or(epb.data);
                self.packet(table, ts, iface.linktype, data, epb.caplen, epb.origlen);
            }
            Block::SimplePacket(spb) => {
                // No timestamp: the packet is taken to be as recent as the last one.
                let Some(&iface) = self.interfaces.first() else {
                    self.summary.unknown_interface += 1;
                    return;
                };
                let ts = self.last_ts;
                let data = spb.data.get(..spb.origlen as usize).unwrap_or(spb.data);
                let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
                self.packet(table, ts, iface.linktype, data, caplen, spb.origlen);
            }
            _ => {}
        }
    }

    fn packet(
        &mut self,
        table: &mut FlowTable,
        ts: i64,
        linktype: LinkType,
        data: &[u8],
        caplen: u32,
        origlen: u32,
    ) {
        self.last_ts = ts;
        self.summary.packets += 1;
        self.summary.bytes += data.len() as u64;
        if caplen < origlen {
            self.summary.snapped += 1;
        }
        if !linktype.is_supported() {
            *self
                .summary
                .unsupported_link_types
                .entry(linktype.0)
                .or_default() += 1;
        }
        table.process(ts, linktype, data);
    }
}
