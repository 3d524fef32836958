//! Zeek TSV and JSON logs in the exact shape Zeek writes them (header lines, escapes, unset
//! and empty markers, JSON with and without `_path`).

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use rampart_core::{ConnState, DnsRecord, FlowRecord, NameRecord, SignalSource, proto, tcp_flags};
use rampart_logs::{
    LabelledFlows, LineError, LogEvent, LogFormat, LogReader, OpenError, Options, Reason,
};

const CONN_TSV: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2024-05-01-10-00-00
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
1714557600.123456\tCHhAvVGS1DHFjwGM9\t192.168.1.20\t51234\t93.184.216.34\t443\ttcp\tssl\t2.500000\t517\t4321\tSF\tT\tF\t0\tShADadFf\t12\t1145\t10\t4845\t(empty)
1714557601.000001\tC4J4Th3PJpwUYZZ6gc\t192.168.1.20\t40000\t10.0.0.9\t23\ttcp\t-\t-\t-\t-\tS0\tT\tT\t0\tS\t1\t44\t0\t0\t(empty)
1714557602.500000\tCUM0KZ3MLUfNB0cl11\t192.168.1.20\t53011\t192.168.1.1\t53\tudp\tdns\t0.010000\t35\t51\tSF\tT\tT\t0\tDd\t1\t63\t1\t79\t(empty)
1714557603.250000\tClEkJM2Vm5giqnMf4h\tfe80::1\t135\tfe80::2\t136\ticmp\t-\t0.000100\t24\t24\tOTH\tT\tT\t0\t-\t1\t72\t1\t72\t(empty)
1714557604.000000\tCmES5u32sYpV7JYN\t10.0.0.5\t2323\t10.0.0.9\t23\ttcp\t-\t0.001000\t0\t0\tREJ\tT\tT\t0\tSr\t1\t40\t1\t40\t(empty)
#close\t2024-05-01-10-05-00
";

fn read_all(input: &str) -> (LogReader<&[u8]>, Vec<Result<LogEvent, LineError>>) {
    let mut reader = LogReader::from_reader(input.as_bytes(), "test.log").unwrap();
    let events = (&mut reader).collect();
    (reader, events)
}

fn flows(events: &[Result<LogEvent, LineError>]) -> Vec<&FlowRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(LogEvent::Flow(f)) => Some(f),
            _ => None,
        })
        .collect()
}

fn dns(events: &[Result<LogEvent, LineError>]) -> Vec<&DnsRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(LogEvent::Dns(d)) => Some(d),
            _ => None,
        })
        .collect()
}

fn errors(events: &[Result<LogEvent, LineError>]) -> Vec<&LineError> {
    events.iter().filter_map(|e| e.as_ref().err()).collect()
}

#[test]
fn conn_tsv_maps_every_field() {
    let (reader, events) = read_all(CONN_TSV);
    assert_eq!(reader.format(), Some(LogFormat::ZeekTsv));
    assert!(errors(&events).is_empty(), "{:?}", errors(&events));
    let f = flows(&events);
    assert_eq!(f.len(), 5);
    let summary = reader.summary();
    assert_eq!((summary.lines, summary.flows, summary.errors), (14, 5, 0));

    let tls = f[0];
    assert_eq!(tls.source, SignalSource::Zeek);
    assert_eq!(tls.exporter.as_deref(), Some("test.log"));
    assert_eq!(tls.uid.as_deref(), Some("CHhAvVGS1DHFjwGM9"));
    assert_eq!(tls.start.0, 1_714_557_600_123);
    assert_eq!(tls.end.0, 1_714_557_602_623);
    assert_eq!(tls.src.to_string(), "192.168.1.20");
    assert_eq!(tls.dst.to_string(), "93.184.216.34");
    assert_eq!(
        (tls.src_port, tls.dst_port, tls.protocol),
        (51234, 443, proto::TCP)
    );
    // IP-level bytes are preferred over payload bytes.
    assert_eq!(
        (tls.packets, tls.bytes, tls.rev_packets, tls.rev_bytes),
        (12, 1145, 10, 4845)
    );
    let all = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::PSH | tcp_flags::FIN;
    assert_eq!((tls.tcp_flags, tls.rev_tcp_flags), (all, all));
    assert_eq!(tls.state, ConnState::SF);
    assert_eq!(tls.service.as_deref(), Some("ssl"));

    let scan = f[1];
    assert_eq!(scan.state, ConnState::S0);
    assert!(scan.state.is_failed_attempt());
    assert_eq!((scan.tcp_flags, scan.rev_tcp_flags), (tcp_flags::SYN, 0));
    assert_eq!(scan.service, None);
    assert_eq!(scan.start, scan.end);

    let udp = f[2];
    assert_eq!(udp.protocol, proto::UDP);
    // UDP history letters are not TCP flags.
    assert_eq!((udp.tcp_flags, udp.rev_tcp_flags), (0, 0));

    assert_eq!(f[3].protocol, proto::ICMPV6);
    assert_eq!((f[3].src_port, f[3].dst_port), (135, 136));
    assert_eq!(f[4].state, ConnState::REJ);
    assert_eq!(f[4].rev_tcp_flags, tcp_flags::RST);
}

#[test]
fn columns_are_found_by_name() {
    // Reordered columns, an extra one (community_id), a custom separator, CRLF endings, and
    // payload-only byte counts (no *_ip_bytes columns).
    let log = "#separator \\x7c\r
#set_separator|,\r
#empty_field|(empty)\r
#unset_field|-\r
#path|conn\r
#fields|uid|community_id|proto|id.resp_p|id.resp_h|id.orig_p|id.orig_h|ts|conn_state|history|orig_pkts|resp_pkts|orig_bytes|resp_bytes|duration\r
#types|string|string|enum|port|addr|port|addr|time|string|string|count|count|count|count|interval\r
Cx1|1:abc=|tcp|80|10.0.0.1|5555|10.0.0.2|1700000000.5|S1|ShAD|4|3|100|200|1.25\r
";
    let (reader, events) = read_all(log);
    assert!(errors(&events).is_empty(), "{:?}", errors(&events));
    let f = flows(&events);
    assert_eq!(f.len(), 1);
    let f = f[0];
    assert_eq!(f.uid.as_deref(), Some("Cx1"));
    assert_eq!(f.src.to_string(), "10.0.0.2");
    assert_eq!((f.src_port, f.dst_port), (5555, 80));
    assert_eq!((f.start.0, f.end.0), (1_700_000_000_500, 1_700_000_001_750));
    assert_eq!((f.bytes, f.rev_bytes), (100, 200));
    assert_eq!(f.state, ConnState::S1);
    assert_eq!(reader.summary().flows, 1);
}

const DNS_TSV: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tdns
#open\t2019-10-16-15-13-09
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool
1517336042.279652\tComPBK1vso3uDC8KS2\t192.168.88.2\t55638\t165.227.88.15\t53\tudp\t42937\t0.069982\t6dde0175375169c68f.dnsc.r-1x.com\t1\tC_INTERNET\t16\tTXT\t0\tNOERROR\tF\tF\tT\tT\t0\tTXT 18 302f017537c68f5169\t60.000000\tF
1517336043.000000\tCyZ4x32ytwoKUgqozf\t192.168.88.2\t28736\t192.168.88.1\t53\tudp\t16556\t0.010000\tWWW.Example.COM.\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\tcdn.example.net,93.184.216.34,93.184.216.35\t300.000000,60.000000,60.000000\tF
1517336044.000000\tCqIqMWROm4Qn71gh\t192.168.88.2\t28737\t192.168.88.1\t53\tudp\t16557\t-\tmissing.example\t1\tC_INTERNET\t28\tAAAA\t3\tNXDOMAIN\tF\tF\tT\tT\t0\t-\t-\tF
1692161622.036086\tCnsu5m395zFmE9ikp4\t192.168.1.41\t52605\t192.168.1.4\t53\tudp\t58519\t-\t-\t-\t-\t-\t-\t2\tSERVFAIL\tF\tF\tF\tF\t0\t-\t-\tT
1517336045.000000\tCesc\t192.168.88.2\t28738\t192.168.88.1\t53\tudp\t16558\t-\ttab\\x09in\\x2cname.example\t1\tC_INTERNET\t28\tAAAA\t0\tNOERROR\tF\tF\tT\tT\t0\t2001:db8::1\t30.000000\tF
#close\t2019-10-16-15-13-10
";

#[test]
fn dns_tsv() {
    let (reader, events) = read_all(DNS_TSV);
    assert!(errors(&events).is_empty(), "{:?}", errors(&events));
    let d = dns(&events);
    assert_eq!(d.len(), 4);
    assert_eq!(&*d[0].query, "6dde0175375169c68f.dnsc.r-1x.com");
    assert_eq!((d[0].qtype, d[0].rcode), (Some(16), Some(0)));
    assert!(d[0].answers.is_empty(), "TXT data is not an address");
    assert_eq!(d[0].ttl, Some(60));
    assert_eq!(d[0].time.0, 1_517_336_042_279);
    assert_eq!(d[0].client.to_string(), "192.168.88.2");
    assert_eq!(d[0].server.to_string(), "165.227.88.15");

    assert_eq!(&*d[1].query, "www.example.com");
    let answers: Vec<String> = d[1].answers.iter().map(|a| a.to_string()).collect();
    assert_eq!(answers, ["93.184.216.34", "93.184.216.35"]);
    assert_eq!(d[1].ttl, Some(60));

    assert_eq!(
        (d[2].qtype, d[2].rcode, d[2].ttl),
        (Some(28), Some(3), None)
    );
    assert!(d[2].answers.is_empty());
    // The unparsed-query transaction is skipped, not refused.
    assert_eq!(reader.summary().skipped, 1);
    assert_eq!(&*d[3].query, "tab\tin,name.example");
    assert_eq!(d[3].answers[0].to_string(), "2001:db8::1");
}

#[test]
fn concatenated_logs_switch_kind_at_each_header() {
    let both = format!("{CONN_TSV}{DNS_TSV}");
    let (reader, events) = read_all(&both);
    assert!(errors(&events).is_empty());
    let s = reader.summary();
    assert_eq!((s.flows, s.dns, s.skipped), (5, 4, 1));
}

#[test]
fn bad_lines_are_reported_and_reading_goes_on() {
    let header_end = CONN_TSV.find("1714557600").unwrap();
    let mut log = CONN_TSV[..header_end].to_string();
    log.push_str("1714557600.1\tC1\t192.168.1.20\t1\tnot-an-ip\t2\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t44\t0\t0\t(empty)\n");
    log.push_str("1714557600.1\tC2\ttoo\tfew\n");
    log.push_str("1714557600.1\tC3\t192.168.1.20\t1\t10.0.0.1\t99999\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t44\t0\t0\t(empty)\n");
    log.push_str("1714557600.1\tC4\t192.168.1.20\t1\t10.0.0.1\t2\tsctp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t44\t0\t0\t(empty)\n");
    log.push_str("1714557600.1\tC5\t192.168.1.20\t1\t10.0.0.1\t2\ttcp\t-\t-\t-\t-\tXX\t-\t-\t0\tS\t1\t44\t0\t0\t(empty)\n");
    log.push_str("-\tC6\t192.168.1.20\t1\t10.0.0.1\t2\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t44\t0\t0\t(empty)\n");
    log.push_str("1714557600.1\tC7\t192.168.1.20\t1\t10.0.0.1\t2\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t44\t0\t0\t(empty)\n");
    let (reader, events) = read_all(&log);
    let errs = errors(&events);
    let lines: Vec<u64> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, [9, 10, 11, 12, 13, 14]);
    assert_eq!(
        errs[0].reason,
        Reason::Invalid {
            field: "id.resp_h",
            value: "not-an-ip".into()
        }
    );
    assert_eq!(
        errs[1].reason,
        Reason::FieldCount {
            expected: 21,
            found: 4
        }
    );
    assert!(matches!(
        errs[2].reason,
        Reason::Invalid {
            field: "id.resp_p",
            ..
        }
    ));
    assert!(matches!(
        errs[3].reason,
        Reason::Invalid { field: "proto", .. }
    ));
    assert!(matches!(
        errs[4].reason,
        Reason::Invalid {
            field: "conn_state",
            ..
        }
    ));
    assert_eq!(errs[5].reason, Reason::Missing("ts"));
    assert_eq!(errs[5].to_string(), "line 14: missing field ts");
    assert_eq!(flows(&events).len(), 1);
    assert_eq!(reader.summary().errors, 6);
    assert_eq!(reader.summary().lines, 15);
}

#[test]
fn data_before_any_fields_header_is_refused() {
    let log = "#separator \\x09\n1.0\tx\n";
    let (_, events) = read_all(log);
    assert_eq!(errors(&events)[0].reason, Reason::NoHeader);
    assert_eq!(errors(&events)[0].line, 2);
}

#[test]
fn long_lines_are_refused_without_stopping() {
    let mut log = CONN_TSV.to_string();
    log.insert_str(
        CONN_TSV.find("1714557601").unwrap(),
        &format!("{}\n", "9".repeat(5000)),
    );
    let mut reader = LogReader::with_options(
        log.as_bytes(),
        "big",
        Options::default().max_line_bytes(1000),
    )
    .unwrap();
    let events: Vec<_> = (&mut reader).collect();
    let errs = errors(&events);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].reason, Reason::TooLong { limit: 1000 });
    assert_eq!(errs[0].line, 10);
    assert_eq!(flows(&events).len(), 5);
}

#[test]
fn ssl_and_http_logs_give_names() {
    let ssl = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tssl
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tcipher\tcurve\tserver_name\tresumed\testablished
#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\tstring\tbool\tbool
1714557600.000000\tC1\t192.168.1.20\t50000\t93.184.216.34\t443\tTLSv13\tTLS_AES_128_GCM_SHA256\tx25519\tMQTT.Example.com\tF\tT
1714557601.000000\tC2\t192.168.1.20\t50001\t93.184.216.34\t443\tTLSv13\tTLS_AES_128_GCM_SHA256\tx25519\t-\tF\tT
";
    let (reader, events) = read_all(ssl);
    let names: Vec<&NameRecord> = events
        .iter()
        .filter_map(|e| match e {
            Ok(LogEvent::Name(n)) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(names.len(), 1);
    assert_eq!(
        (&*names[0].name, &*names[0].via, names[0].port),
        ("mqtt.example.com", "tls", 443)
    );
    assert_eq!(reader.summary().skipped, 1);
}

#[test]
fn other_zeek_logs_are_skipped() {
    let weird = "#separator \\x09
#path\tweird
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tname\taddl\tnotice\tpeer\tsource
1714557600.000000\tC1\t192.168.1.20\t50000\t93.184.216.34\t443\tbad_TCP_checksum\t-\tF\tzeek\tTCP
";
    let (reader, events) = read_all(weird);
    assert!(events.is_empty());
    assert_eq!(reader.summary().skipped, 1);
}

/// The original IoT-23 `conn.log.labeled`: the last three columns are separated by three
/// spaces instead of a tab, in the header and in every row.
#[test]
fn iot23_labelled_tsv() {
    let log = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2019-01-10-14-34-56
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents   label   detailed-label
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]   string   string
1545403816.962094\tCrDn63WjJEmrWGjqf\t192.168.1.195\t41040\t185.244.25.235\t80\ttcp\t-\t3.139211\t0\t0\tS0\t-\t-\t0\tS\t3\t180\t0\t0\t-   Benign   -
1545403824.181240\tCY7jCD7Oqw2IgVVM0a\t192.168.1.195\t41040\t185.244.25.235\t80\ttcp\thttp\t1.868128\t149\t128252\tSF\t-\t-\t2896\tShADadttcfF\t94\t5525\t96\t139044\t-   Malicious   C&C-FileDownload
";
    let mut reader = LabelledFlows::from_reader(log.as_bytes(), "conn.log.labeled").unwrap();
    let items: Vec<_> = (&mut reader).map(Result::unwrap).collect();
    assert_eq!(items.len(), 2);
    assert!(!items[0].label.malicious);
    assert_eq!(items[0].label.detail, None);
    assert!(items[1].label.malicious);
    assert_eq!(items[1].label.detail.as_deref(), Some("C&C-FileDownload"));
    assert_eq!(items[1].flow.rev_bytes, 139_044);
    // A log without labels gives one error per flow row.
    let mut unlabelled = LabelledFlows::from_reader(CONN_TSV.as_bytes(), "conn.log").unwrap();
    let first = unlabelled.next().unwrap().unwrap_err();
    assert_eq!(first.reason, Reason::Missing("label"));
}

const CONN_JSON: &str = r#"{"ts":1591367999.305988,"uid":"CMdzit1AMNsmfAIiQc","id.orig_h":"192.168.4.76","id.orig_p":36844,"id.resp_h":"192.168.4.1","id.resp_p":53,"proto":"udp","service":"dns","duration":0.06685185432434082,"orig_bytes":62,"resp_bytes":141,"conn_state":"SF","missed_bytes":0,"history":"Dd","orig_pkts":2,"orig_ip_bytes":118,"resp_pkts":2,"resp_ip_bytes":197}
{"ts":1591367999.430166,"uid":"C5bLoe2Mvxqhawzqqd","id.orig_h":"192.168.4.76","id.orig_p":46378,"id.resp_h":"31.3.245.133","id.resp_p":80,"proto":"tcp","service":"http","duration":0.25411510467529297,"orig_bytes":77,"resp_bytes":295,"conn_state":"SF","missed_bytes":0,"history":"ShADadFf","orig_pkts":6,"orig_ip_bytes":397,"resp_pkts":4,"resp_ip_bytes":511}
{"ts":1591368000.0,"uid":"CbadState","id.orig_h":"192.168.4.76","id.orig_p":1,"id.resp_h":"31.3.245.133","id.resp_p":2,"proto":"tcp","conn_state":"NOPE"}
{"ts":1591367999.306059,"uid":"CMdzit1AMNsmfAIiQc","id.orig_h":"192.168.4.76","id.orig_p":36844,"id.resp_h":"192.168.4.1","id.resp_p":53,"proto":"udp","trans_id":8555,"rtt":0.06685185432434082,"query":"testmyids.com","qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR","AA":false,"TC":false,"RD":true,"RA":true,"Z":0,"answers":["31.3.245.133"],"TTLs":[3600.0],"rejected":false}
not json at all
{"ts":1591368001.5,"uid":"CfilesX","fuid":"FakDXV1J1ZzBMx5kH","tx_hosts":["31.3.245.133"]}
"#;

#[test]
fn conn_and_dns_json() {
    let (reader, events) = read_all(CONN_JSON);
    assert_eq!(reader.format(), Some(LogFormat::ZeekJson));
    let f = flows(&events);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].uid.as_deref(), Some("CMdzit1AMNsmfAIiQc"));
    assert_eq!(f[0].start.0, 1_591_367_999_305);
    assert_eq!(f[0].end.0, 1_591_367_999_372); // .305988 + .066852 = .372840
    assert_eq!((f[0].bytes, f[0].rev_bytes), (118, 197));
    assert_eq!(
        f[1].tcp_flags,
        tcp_flags::SYN | tcp_flags::ACK | tcp_flags::PSH | tcp_flags::FIN
    );
    assert_eq!(f[1].service.as_deref(), Some("http"));
    let d = dns(&events);
    assert_eq!(d.len(), 1);
    assert_eq!(&*d[0].query, "testmyids.com");
    assert_eq!(d[0].answers[0].to_string(), "31.3.245.133");
    assert_eq!(
        (d[0].qtype, d[0].rcode, d[0].ttl),
        (Some(1), Some(0), Some(3600))
    );
    let errs = errors(&events);
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0].line, 3);
    assert!(matches!(
        errs[0].reason,
        Reason::Invalid {
            field: "conn_state",
            ..
        }
    ));
    assert_eq!(errs[1].line, 5);
    assert!(matches!(errs[1].reason, Reason::Json(_)));
    // The files.log-like record is neither conn nor dns.
    assert_eq!(reader.summary().skipped, 1);
}

#[test]
fn json_variants_path_iso_millis_nested() {
    let log = r#"{"_path":"conn","ts":"2020-06-05T14:39:59.305988Z","uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":2,"proto":"tcp","history":"S"}
{"_path":"conn","ts":1591367999305,"uid":"C2","id":{"orig_h":"10.0.0.1","orig_p":1,"resp_h":"10.0.0.2","resp_p":2},"proto":"udp"}
{"_path":"dns","ts":1591367999.5,"uid":"C3","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","query":"A.example."}
{"_path":"ssl","ts":1591367999.5,"uid":"C4","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":8883,"server_name":"broker.example"}
{"_path":"http","ts":1591367999.5,"uid":"C5","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":80,"host":"fw.example","method":"GET"}
{"_path":"files","ts":1591367999.5,"fuid":"F1"}
{"_path":"conn","ts":"yesterday","uid":"C6","id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","proto":"tcp"}
"#;
    let (reader, events) = read_all(log);
    let f = flows(&events);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].start.0, 1_591_367_999_305);
    assert_eq!(
        f[0].state,
        ConnState::S0,
        "derived from history when conn_state is absent"
    );
    assert_eq!(f[1].start.0, 1_591_367_999_305);
    assert_eq!(f[1].src.to_string(), "10.0.0.1");
    assert_eq!(f[1].dst_port, 2);
    assert_eq!(&*dns(&events)[0].query, "a.example");
    let s = reader.summary();
    assert_eq!(
        (s.flows, s.dns, s.names, s.skipped, s.errors),
        (2, 1, 2, 1, 1)
    );
    assert!(matches!(
        errors(&events)[0].reason,
        Reason::Invalid { field: "ts", .. }
    ));
}

#[test]
fn detection_failures_and_empty_input() {
    let err = LogReader::from_reader(&b"hello\nworld\n"[..], "x.txt").unwrap_err();
    assert!(matches!(err, OpenError::Unrecognised { .. }));
    assert_eq!(
        err.to_string(),
        "x.txt: not a zeek, suricata eve or zeek csv log"
    );
    let mut empty = LogReader::from_reader(&b"\n\n"[..], "empty").unwrap();
    assert_eq!(empty.format(), None);
    assert!(empty.next().is_none());
    assert_eq!(empty.summary().lines, 2);
    // A broken first line does not hide the format of the next.
    let log = format!("{{\"ts\":\n{CONN_JSON}");
    let (reader, events) = read_all(&log);
    assert_eq!(reader.format(), Some(LogFormat::ZeekJson));
    assert_eq!(errors(&events)[0].line, 1);
    assert_eq!(flows(&events).len(), 2);
    // JSON logs carry no labels.
    let err = LabelledFlows::from_reader(CONN_JSON.as_bytes(), "conn.json").unwrap_err();
    assert!(matches!(
        err,
        OpenError::Unlabelled {
            format: LogFormat::ZeekJson,
            ..
        }
    ));
    assert!(LogReader::open("/nonexistent/conn.log").is_err());
}

#[test]
fn csv_with_quotes_iso_times_and_a_second_header() {
    let csv = "\"uid\",\"ts\",\"id.orig_h\",\"id.orig_p\",\"id.resp_h\",\"id.resp_p\",\"proto\",\"service\",\"history\",\"label\",\"detailed-label\"
C1,2019-01-10T14:34:56.5Z,192.168.1.195,41040,185.244.25.235,80,tcp,\"http,ssl\",S,Malicious,\"C&C, \"\"heartbeat\"\"\"
C2,1547130896.5,192.168.1.195,41041,185.244.25.235,23,tcp,,S,benign,-
ts,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,label
1547130897,C3,10.0.0.1,1,10.0.0.2,2,udp,Benign
1547130898,C4,10.0.0.1,1,10.0.0.2,2,udp,Suspicious
";
    let mut labelled = LabelledFlows::from_reader(csv.as_bytes(), "x.csv").unwrap();
    let items: Vec<_> = (&mut labelled).collect();
    assert_eq!(items.len(), 4, "{items:?}");
    let first = items[0].as_ref().unwrap();
    assert_eq!(first.flow.start.0, 1_547_130_896_500);
    assert_eq!(first.flow.service.as_deref(), Some("http,ssl"));
    assert_eq!(first.label.detail.as_deref(), Some("C&C, \"heartbeat\""));
    let second = items[1].as_ref().unwrap();
    assert_eq!(
        (second.flow.start.0, second.label.malicious),
        (1_547_130_896_500, false)
    );
    assert_eq!(items[2].as_ref().unwrap().flow.uid.as_deref(), Some("C3"));
    let err = items[3].as_ref().unwrap_err();
    assert_eq!(err.line, 6);
    assert_eq!(
        err.reason,
        Reason::Invalid {
            field: "label",
            value: "Suspicious".into()
        }
    );
    let (reader, events) = read_all(csv);
    assert_eq!(reader.format(), Some(LogFormat::ZeekCsv));
    assert_eq!((flows(&events).len(), errors(&events).len()), (4, 0));
}
