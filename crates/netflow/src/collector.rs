//! The sans-IO collector: datagram in, flow records out.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lru::LruCache;
use netflow_parser::static_versions::v5::V5;
use netflow_parser::variable_versions::ipfix::{FlowSetBody as IpfixBody, IPFix};
use netflow_parser::variable_versions::v9::{FlowSetBody as V9Body, V9};
use netflow_parser::{
    AutoScopedParser, AutoSourceKey, EnterpriseFieldRegistry, IpfixSourceKey, NetflowPacket,
    NetflowParser, PendingFlowsConfig, TemplateEvent, TtlConfig, V9SourceKey,
};
use rampart_core::{FlowRecord, SignalSource, Timestamp, proto};
use serde::{Deserialize, Serialize};

use crate::exporter::{self, Domain, Exporter, Family};
use crate::fastpath::{self, Learnt};
use crate::fields::{Fields, RecordContext, Slot, conn_state, ipfix_slot, switched_ms};
use crate::telemetry;

/// Bounds on what the collector keeps in memory. Worst case is about
/// `max_exporters × (templates × template size + pending_bytes_per_exporter)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorLimits {
    /// Exporters tracked at once; each observation domain (IPFIX) or source id (v9) of an
    /// exporter is a template scope that counts against this cap too. The least recently
    /// heard exporter is forgotten (templates included) to make room.
    pub max_exporters: usize,
    /// Templates per scope and template kind (the parser keeps data and options templates in
    /// separate caches of this size); least recently used evicted.
    pub max_templates_per_exporter: usize,
    /// Templates not refreshed within this many seconds expire (RFC 7011 §8.4 template
    /// lifetime for UDP transport). 0 keeps them until evicted.
    pub template_ttl_secs: u64,
    /// Bytes of data sets buffered per scope while their template has not arrived; 0 drops
    /// (and counts) them instead.
    pub pending_bytes_per_exporter: usize,
    /// Distinct unknown template ids buffered per scope.
    pub pending_templates_per_exporter: usize,
    /// Data sets buffered per unknown template id.
    pub pending_sets_per_template: usize,
    /// Buffered data sets older than this many seconds are dropped.
    pub pending_ttl_secs: u64,
    /// Sampler-table entries per observation domain.
    pub max_samplers_per_exporter: usize,
}

impl Default for CollectorLimits {
    fn default() -> Self {
        Self {
            max_exporters: 1024,
            max_templates_per_exporter: 64,
            template_ttl_secs: 1800,
            pending_bytes_per_exporter: 64 * 1024,
            pending_templates_per_exporter: 16,
            pending_sets_per_template: 8,
            pending_ttl_secs: 60,
            max_samplers_per_exporter: 64,
        }
    }
}

/// Why the collector could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// A limit that must be positive was zero.
    #[error("netflow limit {0} must be greater than zero")]
    Zero(&'static str),
    /// The parser refused its configuration.
    #[error("netflow parser configuration refused: {0}")]
    Parser(String),
}

/// Why a datagram produced nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than any header.
    #[error("datagram of {0} bytes is too short")]
    TooShort(usize),
    /// Not NetFlow v5, v9 or IPFIX.
    #[error("unsupported netflow version {0}")]
    UnsupportedVersion(u16),
    /// The header or the sets did not parse.
    #[error("malformed netflow v{version} datagram: {reason}")]
    Malformed {
        /// The version in the header.
        version: u16,
        /// The parser's explanation (bounded).
        reason: String,
    },
}

/// What one datagram contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestReport {
    /// Version in the header (5, 9 or 10).
    pub version: u16,
    /// Flow records appended to the output.
    pub records: usize,
    /// Data records skipped for lack of addresses.
    pub skipped: usize,
    /// Template and options-template records learnt.
    pub templates: usize,
    /// Data sets dropped because their template is unknown (buffered ones are not counted).
    pub sets_without_template: usize,
    /// Bytes after the decoded packet did not parse (the records before them were kept).
    pub trailing_garbage: bool,
}

/// A NetFlow v5/v9/IPFIX collector for one receive task. Not `Sync`: the parser state is
/// mutated by every datagram; run one per socket or shard.
pub struct Collector {
    parser: AutoScopedParser,
    exporters: LruCache<SocketAddr, Exporter>,
    limits: CollectorLimits,
    /// Set by the parser's template hook when it evicts or expires a template: the scope's
    /// compiled templates are then forgotten (the event does not say which template).
    template_dropped: Arc<AtomicBool>,
    /// Element types of enterprise fields, as the parser resolves them (none registered).
    registry: EnterpriseFieldRegistry,
    template_ttl: Option<Duration>,
    /// Data-only datagrams are decoded from compiled templates (see [`crate::plan`]).
    fast_path: bool,
    /// Datagrams decoded that way.
    fast_datagrams: u64,
    /// The shadow datagram shown to the parser after a fast decode, reused.
    shadow: Vec<u8>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("exporters", &self.exporters.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn nonzero(v: usize, name: &'static str) -> Result<NonZeroUsize, LimitsError> {
    NonZeroUsize::new(v).ok_or(LimitsError::Zero(name))
}

impl Collector {
    /// A collector bounded by `limits`.
    pub fn new(limits: CollectorLimits) -> Result<Self, LimitsError> {
        let max_exporters = nonzero(limits.max_exporters, "max_exporters")?;
        nonzero(
            limits.max_templates_per_exporter,
            "max_templates_per_exporter",
        )?;
        let template_dropped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&template_dropped);
        let mut builder = NetflowParser::builder()
            .with_cache_size(limits.max_templates_per_exporter)
            .with_allowed_versions(&[5, 9, 10])
            .on_template_event(move |event| {
                if matches!(
                    event,
                    TemplateEvent::Evicted { .. } | TemplateEvent::Expired { .. }
                ) {
                    flag.store(true, Ordering::Relaxed);
                }
                Ok(())
            });
        if limits.template_ttl_secs > 0 {
            builder = builder.with_ttl(TtlConfig::new(Duration::from_secs(
                limits.template_ttl_secs,
            )));
        }
        if limits.pending_bytes_per_exporter > 0 {
            let mut pending = PendingFlowsConfig::with_ttl(
                limits.pending_templates_per_exporter.max(1),
                Duration::from_secs(limits.pending_ttl_secs.max(1)),
            );
            pending.max_entries_per_template = limits.pending_sets_per_template.max(1);
            pending.max_total_bytes = limits.pending_bytes_per_exporter;
            pending.max_entry_size_bytes = limits.pending_bytes_per_exporter.min(65_531);
            builder = builder.with_pending_flows(pending);
        }
        let parser = AutoScopedParser::try_with_builder(builder)
            .and_then(|p| p.with_max_sources(max_exporters.get()))
            .map_err(|e| LimitsError::Parser(format!("{e:?}")))?;
        Ok(Self {
            parser,
            exporters: LruCache::new(max_exporters),
            template_ttl: (limits.template_ttl_secs > 0)
                .then(|| Duration::from_secs(limits.template_ttl_secs)),
            limits,
            template_dropped,
            registry: EnterpriseFieldRegistry::new(),
            fast_path: true,
            fast_datagrams: 0,
            shadow: Vec::with_capacity(256),
        })
    }

    /// Turns decoding from compiled templates on (the default) or off. Off, every datagram
    /// is decoded by netflow_parser record by record: slower, with the same flows; for
    /// comparison tests and benchmarks.
    #[must_use]
    pub fn with_fast_path(mut self, on: bool) -> Self {
        self.fast_path = on;
        self
    }

    /// Datagrams decoded from compiled templates so far (the rest went through
    /// netflow_parser alone).
    pub fn fast_path_datagrams(&self) -> u64 {
        self.fast_datagrams
    }

    /// The limits in force.
    pub fn limits(&self) -> &CollectorLimits {
        &self.limits
    }

    /// Exporters currently tracked.
    pub fn exporter_count(&self) -> usize {
        self.exporters.len()
    }

    /// Data sets currently buffered while waiting for their template.
    pub fn pending_sets(&self) -> usize {
        let v9 = self.parser.v9_info().into_iter();
        let ipfix = self.parser.ipfix_info().into_iter();
        v9.map(|(_, i)| i.v9.pending_flow_count + i.ipfix.pending_flow_count)
            .chain(ipfix.map(|(_, i)| i.v9.pending_flow_count + i.ipfix.pending_flow_count))
            .sum()
    }

    /// Forgets exporters not heard from for `idle` (with their templates); returns how many.
    pub fn prune_idle(&mut self, idle: Duration) -> usize {
        let now = Instant::now();
        let stale: Vec<SocketAddr> = self
            .exporters
            .iter()
            .filter(|(_, e)| now.duration_since(e.last_seen) >= idle)
            .map(|(a, _)| *a)
            .collect();
        for addr in &stale {
            if let Some(e) = self.exporters.pop(addr) {
                self.forget(*addr, &e);
            }
        }
        // Scopes the parser holds for addresses that never decoded anything, and scopes of
        // live exporters it found idle (their compiled templates go with them).
        let mut removed = Vec::new();
        self.parser.prune_idle_sources_with_reporter(
            idle,
            &mut |r: &netflow_parser::SourceRemoval<AutoSourceKey>| {
                removed.push(r.source);
                Ok(())
            },
        );
        self.forget_plans(&removed);
        if !stale.is_empty() {
            metrics::counter!(telemetry::EXPORTERS_EVICTED).increment(stale.len() as u64);
            metrics::gauge!(telemetry::EXPORTERS).set(self.exporters.len() as f64);
        }
        stale.len()
    }

    /// Forgets the compiled templates of scopes the parser dropped.
    fn forget_plans(&mut self, removed: &[AutoSourceKey]) {
        for key in removed {
            let (addr, family, id) = match key {
                AutoSourceKey::V9(k) => (k.addr, Family::V9, k.source_id),
                AutoSourceKey::Ipfix(k) => (k.addr, Family::Ipfix, k.observation_domain_id),
                _ => continue,
            };
            if let Some(e) = self.exporters.peek_mut(&addr) {
                e.forget_plans(family, id);
            }
        }
    }

    /// Decodes a data-only v9/IPFIX datagram from compiled templates; `None` leaves it to
    /// the parser (see [`crate::plan`]).
    fn fast(
        &mut self,
        addr: SocketAddr,
        (family, id): (Family, u32),
        version: u16,
        datagram: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Option<IngestReport> {
        let ttl = self.template_ttl;
        let Exporter {
            name,
            domains,
            plans,
            last_seen,
        } = self.exporters.get_mut(&addr)?;
        let scope = plans.iter().find(|p| p.family == family && p.id == id)?;
        let (header, sets) = fastpath::split(family, datagram)?;
        let source = match family {
            Family::V9 => SignalSource::NetflowV9,
            Family::Ipfix => SignalSource::Ipfix,
        };
        let domain = exporter::domain(domains, family, id);
        let ctx = context(
            source,
            name,
            header.export_ms,
            header.sys_uptime_ms,
            domain.as_deref(),
        );
        let mut report = IngestReport {
            version,
            ..IngestReport::default()
        };
        let before = out.len();
        let header_len = fastpath::shadow_header(family, datagram, &mut self.shadow);
        fastpath::decode_sets(sets, scope, ttl, &ctx, &mut report, out, &mut self.shadow)?;
        let set_count = self.shadow.len().saturating_sub(header_len) / 4;
        *last_seen = Instant::now();
        // The shadow: the parser promotes the same templates and scope, and confirms them.
        let confirmed = fastpath::shadow_finish(family, &mut self.shadow) && {
            self.template_dropped.store(false, Ordering::Relaxed);
            let mut removed = Vec::new();
            let parsed =
                self.parser
                    .parse_from_source_with_reporter(addr, &self.shadow, &mut |r| {
                        removed.push(r.source);
                        Ok(())
                    });
            let ok = parsed.error.is_none()
                && fastpath::shadow_confirms(&parsed.packets, family, set_count)
                && !self.template_dropped.swap(false, Ordering::Relaxed)
                && removed.is_empty();
            if !removed.is_empty() {
                metrics::counter!(telemetry::SCOPES_EVICTED).increment(removed.len() as u64);
                self.forget_plans(&removed);
            }
            ok
        };
        if !confirmed {
            out.truncate(before);
            if let Some(e) = self.exporters.peek_mut(&addr) {
                e.forget_plans(family, id);
            }
            return None;
        }
        report.records = out.len() - before;
        self.fast_datagrams += 1;
        Some(report)
    }

    fn forget(&mut self, addr: SocketAddr, e: &Exporter) {
        Self::forget_in(&mut self.parser, addr, e);
    }

    fn forget_in(parser: &mut AutoScopedParser, addr: SocketAddr, e: &Exporter) {
        drop(parser.remove_legacy_source(&addr));
        for d in &e.domains {
            match d.family {
                Family::V9 => {
                    drop(parser.remove_v9_source(&V9SourceKey {
                        addr,
                        source_id: d.id,
                    }));
                }
                Family::Ipfix => {
                    drop(parser.remove_ipfix_source(&IpfixSourceKey {
                        addr,
                        observation_domain_id: d.id,
                    }));
                }
            }
        }
    }

    /// Decodes one datagram from `exporter`, appending its flows to `out`. Templates and
    /// options data are remembered for later datagrams of the same exporter and domain.
    pub fn ingest(
        &mut self,
        exporter: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<IngestReport, DecodeError> {
        metrics::counter!(telemetry::DATAGRAMS).increment(1);
        let result = self.decode(exporter, datagram, out);
        match &result {
            Ok(r) => {
                metrics::counter!(telemetry::RECORDS).increment(r.records as u64);
                if r.skipped > 0 {
                    metrics::counter!(telemetry::RECORDS_SKIPPED).increment(r.skipped as u64);
                }
                if r.templates > 0 {
                    metrics::counter!(telemetry::TEMPLATES).increment(r.templates as u64);
                }
                if r.sets_without_template > 0 {
                    metrics::counter!(telemetry::SETS_WITHOUT_TEMPLATE)
                        .increment(r.sets_without_template as u64);
                }
            }
            Err(_) => metrics::counter!(telemetry::DATAGRAMS_INVALID).increment(1),
        }
        result
    }

    fn decode(
        &mut self,
        addr: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<FlowRecord>,
    ) -> Result<IngestReport, DecodeError> {
        let version = match datagram {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => return Err(DecodeError::TooShort(datagram.len())),
        };
        if !matches!(version, 5 | 9 | 10) {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        // Scoped by address, not port: exporters send templates and data from different
        // source ports (Cisco IOS XR does), and a restarted exporter picks a new one.
        let addr = SocketAddr::new(addr.ip().to_canonical(), 0);
        let scope = fastpath::scope_of(version, datagram);
        if self.fast_path
            && let Some(scope) = scope
            && let Some(report) = self.fast(addr, scope, version, datagram, out)
        {
            return Ok(report);
        }
        let started = Instant::now();
        self.template_dropped.store(false, Ordering::Relaxed);
        let mut removed = Vec::new();
        let parsed = self
            .parser
            .parse_from_source_with_reporter(addr, datagram, &mut |r| {
                removed.push(r.source);
                Ok(())
            });
        if !removed.is_empty() {
            metrics::counter!(telemetry::SCOPES_EVICTED).increment(removed.len() as u64);
            self.forget_plans(&removed);
        }
        let evicted = self.template_dropped.swap(false, Ordering::Relaxed);
        if parsed.packets.is_empty() {
            // The parser may have learnt or replaced templates before failing.
            if let Some((family, id)) = scope
                && let Some(e) = self.exporters.peek_mut(&addr)
            {
                e.forget_plans(family, id);
            }
            let reason = parsed
                .error
                .map(|e| {
                    let mut s = e.to_string();
                    s.truncate(160);
                    s
                })
                .unwrap_or_else(|| "no packet".to_owned());
            return Err(DecodeError::Malformed { version, reason });
        }
        let mut report = IngestReport {
            version,
            trailing_garbage: parsed.error.is_some(),
            ..IngestReport::default()
        };
        let max_samplers = self.limits.max_samplers_per_exporter;
        let cap = self.limits.max_templates_per_exporter;
        let registry = &self.registry;
        let exporter = Self::exporter_in(&mut self.exporters, &mut self.parser, addr);
        if let Some(scope) = scope {
            let learnt = Learnt {
                scope,
                packets: &parsed.packets,
                clean: parsed.error.is_none() && parsed.packets.len() == 1,
                evicted,
                started,
                datagram,
            };
            fastpath::learn(exporter, &learnt, cap, registry);
        }
        let before = out.len();
        for packet in &parsed.packets {
            match packet {
                NetflowPacket::V5(p) => v5(p, &exporter.name, out),
                NetflowPacket::V9(p) => v9(p, exporter, max_samplers, &mut report, out),
                NetflowPacket::IPFix(p) => ipfix(p, exporter, max_samplers, &mut report, out),
                _ => {}
            }
        }
        report.records = out.len() - before;
        Ok(report)
    }

    /// The exporter's state, created (evicting the least recently heard one when full).
    fn exporter_in<'a>(
        exporters: &'a mut LruCache<SocketAddr, Exporter>,
        parser: &mut AutoScopedParser,
        addr: SocketAddr,
    ) -> &'a mut Exporter {
        if !exporters.contains(&addr) {
            let name: Arc<str> = Arc::from(addr.ip().to_canonical().to_string());
            if let Some((old_addr, old)) = exporters.push(addr, Exporter::new(name))
                && old_addr != addr
            {
                Self::forget_in(parser, old_addr, &old);
                metrics::counter!(telemetry::EXPORTERS_EVICTED).increment(1);
            }
            metrics::gauge!(telemetry::EXPORTERS).set(exporters.len() as f64);
        }
        let e =
            exporters.get_or_insert_mut(addr, || Exporter::new(Arc::from(addr.ip().to_string())));
        e.last_seen = Instant::now();
        e
    }
}

fn v5(p: &V5, exporter: &Arc<str>, out: &mut Vec<FlowRecord>) {
    let h = &p.header;
    let export_ms = i64::from(h.unix_secs) * 1000 + i64::from(h.unix_nsecs / 1_000_000);
    // Top two bits: sampling mode; the rest: the interval.
    let sampling = u64::from(h.sampling_interval & 0x3fff).max(1);
    out.reserve(p.flowsets.len());
    for r in &p.flowsets {
        let (mut src_port, mut dst_port) = (r.src_port, r.dst_port);
        if r.protocol_number == proto::ICMP || r.protocol_number == proto::ICMPV6 {
            src_port = r.dst_port >> 8;
            dst_port = r.dst_port & 0xff;
        }
        out.push(FlowRecord {
            source: SignalSource::NetflowV5,
            exporter: Some(exporter.clone()),
            uid: None,
            start: Timestamp(switched_ms(export_ms, h.sys_up_time, r.first)),
            end: Timestamp(switched_ms(export_ms, h.sys_up_time, r.last)),
            src: r.src_addr.into(),
            dst: r.dst_addr.into(),
            src_port,
            dst_port,
            protocol: r.protocol_number,
            packets: u64::from(r.d_pkts).saturating_mul(sampling),
            bytes: u64::from(r.d_octets).saturating_mul(sampling),
            rev_packets: 0,
            rev_bytes: 0,
            tcp_flags: r.tcp_flags,
            rev_tcp_flags: 0,
            state: conn_state(r.protocol_number, r.tcp_flags),
            service: None,
            facts: Default::default(),
        });
    }
}

fn context<'a>(
    source: SignalSource,
    exporter: &'a Arc<str>,
    export_ms: i64,
    sys_uptime_ms: Option<u32>,
    domain: Option<&'a Domain>,
) -> RecordContext<'a> {
    RecordContext {
        source,
        exporter,
        export_ms,
        sys_uptime_ms,
        system_init_ms: domain.and_then(|d| d.system_init_ms),
        default_sampling: domain.and_then(|d| d.default_sampling),
        samplers: domain.map_or(&[], |d| d.samplers.as_slice()),
    }
}

fn v9_fields<'a>(
    record: impl IntoIterator<Item = &'a (netflow_parser::V9Field, netflow_parser::FieldValue)>,
) -> Fields {
    let mut f = Fields::default();
    for (field, value) in record {
        f.apply(u16::from(*field), value);
    }
    f
}

fn ipfix_fields<'a>(
    record: impl IntoIterator<Item = &'a (netflow_parser::IpfixField, netflow_parser::FieldValue)>,
) -> Fields {
    let mut f = Fields::default();
    for (field, value) in record {
        match ipfix_slot(field) {
            Slot::Forward(id) => f.apply(id, value),
            Slot::Reverse(id) => f.apply_reverse(id, value),
            Slot::Ignored => {}
        }
    }
    f
}

pub(crate) fn emit(
    f: Fields,
    ctx: &RecordContext<'_>,
    report: &mut IngestReport,
    out: &mut Vec<FlowRecord>,
) {
    match f.into_flow(ctx) {
        Some(flow) => out.push(flow),
        None => report.skipped += 1,
    }
}

fn v9(
    p: &V9,
    exporter: &mut Exporter,
    max_samplers: usize,
    report: &mut IngestReport,
    out: &mut Vec<FlowRecord>,
) {
    let h = &p.header;
    let export_ms = i64::from(h.unix_secs) * 1000;
    // Options first: a sampler announced in this packet applies to its data records too.
    let Exporter { name, domains, .. } = exporter;
    let mut domain = exporter::domain(domains, Family::V9, h.source_id);
    for set in &p.flowsets {
        match &set.body {
            V9Body::Template(t) => report.templates += t.templates.len(),
            V9Body::OptionsTemplate(t) => report.templates += t.templates.len(),
            V9Body::OptionsData(d) => {
                for rec in &d.fields {
                    let f = v9_fields(&rec.options_fields);
                    if let Some(dom) = domain.as_deref_mut() {
                        dom.learn(&f, max_samplers);
                    }
                }
            }
            V9Body::NoTemplate(_) => report.sets_without_template += 1,
            _ => {}
        }
    }
    let ctx = context(
        SignalSource::NetflowV9,
        name,
        export_ms,
        Some(h.sys_up_time),
        domain.as_deref(),
    );
    for set in &p.flowsets {
        if let V9Body::Data(d) = &set.body {
            out.reserve(d.fields.len());
            for rec in &d.fields {
                emit(v9_fields(rec), &ctx, report, out);
            }
        }
    }
}

fn ipfix(
    p: &IPFix,
    exporter: &mut Exporter,
    max_samplers: usize,
    report: &mut IngestReport,
    out: &mut Vec<FlowRecord>,
) {
    let h = &p.header;
    let export_ms = i64::from(h.export_time) * 1000;
    let Exporter { name, domains, .. } = exporter;
    let mut domain = exporter::domain(domains, Family::Ipfix, h.observation_domain_id);
    for set in &p.flowsets {
        let mut learn = |f: Fields| {
            if let Some(dom) = domain.as_deref_mut() {
                dom.learn(&f, max_samplers);
            }
        };
        match &set.body {
            IpfixBody::Template(_)
            | IpfixBody::V9Template(_)
            | IpfixBody::OptionsTemplate(_)
            | IpfixBody::V9OptionsTemplate(_) => report.templates += 1,
            IpfixBody::Templates(t) => report.templates += t.len(),
            IpfixBody::V9Templates(t) => report.templates += t.len(),
            IpfixBody::OptionsTemplates(t) => report.templates += t.len(),
            IpfixBody::V9OptionsTemplates(t) => report.templates += t.len(),
            IpfixBody::OptionsData(d) => d.fields.iter().for_each(|r| learn(ipfix_fields(r))),
            IpfixBody::V9OptionsData(d) => d
                .fields
                .iter()
                .for_each(|r| learn(v9_fields(&r.options_fields))),
            IpfixBody::NoTemplate(_) => report.sets_without_template += 1,
            _ => {}
        }
    }
    let ctx = context(
        SignalSource::Ipfix,
        name,
        export_ms,
        None,
        domain.as_deref(),
    );
    for set in &p.flowsets {
        match &set.body {
            IpfixBody::Data(d) => {
                out.reserve(d.fields.len());
                for rec in &d.fields {
                    emit(ipfix_fields(rec), &ctx, report, out);
                }
            }
            IpfixBody::V9Data(d) => {
                for rec in &d.fields {
                    emit(v9_fields(rec), &ctx, report, out);
                }
            }
            _ => {}
        }
    }
}
