//! Suricata EVE events in the shapes Suricata's documentation and versions 4 to 8 write.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use rampart_core::{ConnState, SignalSource, proto, tcp_flags};
use rampart_logs::{LineError, LogEvent, LogFormat, LogReader, Reason};

fn read_all(input: &str) -> (LogReader<&[u8]>, Vec<Result<LogEvent, LineError>>) {
    let mut reader = LogReader::from_reader(input.as_bytes(), "eve.json").unwrap();
    assert_eq!(reader.format(), Some(LogFormat::SuricataEve));
    let events = (&mut reader).collect();
    (reader, events)
}

const FLOWS: &str = r#"{"timestamp":"2016-01-23T07:09:07.214520+0000","flow_id":1130893541934376,"in_iface":"eth0","event_type":"flow","src_ip":"192.168.1.20","src_port":49162,"dest_ip":"93.184.216.34","dest_port":443,"proto":"TCP","app_proto":"tls","flow":{"pkts_toserver":12,"pkts_toclient":10,"bytes_toserver":1500,"bytes_toclient":6000,"start":"2016-01-23T07:09:02.187146+0000","end":"2016-01-23T07:09:04.612345+0000","age":2,"state":"closed","reason":"timeout","alerted":false},"tcp":{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1b","syn":true,"fin":true,"psh":true,"ack":true,"state":"closed"}}
{"timestamp":"2016-01-23T07:09:07.214520+0000","flow_id":2,"event_type":"flow","src_ip":"10.0.0.5","src_port":40000,"dest_ip":"10.0.0.9","dest_port":23,"proto":"TCP","app_proto":"failed","flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":60,"bytes_toclient":54,"start":"2016-01-23T07:09:03.000000+0000","end":"2016-01-23T07:09:03.000100+0000","age":0,"state":"closed","reason":"timeout","alerted":false},"tcp":{"tcp_flags":"16","tcp_flags_ts":"02","tcp_flags_tc":"14","syn":true,"rst":true,"ack":true,"state":"closed"}}
{"timestamp":"2016-01-23T07:09:07.214520+0000","flow_id":3,"event_type":"flow","src_ip":"2001:0db8:0000:0000:0000:0000:0000:0001","dest_ip":"2001:0db8:0000:0000:0000:0000:0000:0002","proto":"IPv6-ICMP","icmp_type":128,"icmp_code":0,"flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":118,"bytes_toclient":118,"start":"2016-01-23T07:09:05.000000+0000","end":"2016-01-23T07:09:05.000500+0000","age":0,"state":"established","reason":"timeout","alerted":false}}
{"timestamp":"2016-01-23T07:09:07.214520+0000","flow_id":4,"event_type":"flow","src_ip":"10.0.0.5","dest_ip":"10.0.0.9","proto":"047","flow":{"pkts_toserver":3,"pkts_toclient":0,"bytes_toserver":300,"bytes_toclient":0,"start":"2016-01-23T07:09:05.000000+0000","end":"2016-01-23T07:09:06.000000+0000","age":1,"state":"new","reason":"timeout","alerted":false}}
{"timestamp":"2016-01-23T07:09:07.214520+0000","event_type":"stats","stats":{"uptime":5,"capture":{"kernel_packets":10}}}
{"timestamp":"2016-01-23T07:09:07.214520+0000","flow_id":5,"event_type":"flow","src_ip":"10.0.0.5","dest_ip":"10.0.0.9","proto":"UDP","flow":{"pkts_toserver":"many"}}
{"timestamp":"2016-01-23T07:09:07.214520+0000","flow_id":6,"event_type":"flow","src_ip":"10.0.0.5","dest_ip":"10.0.0.9","proto":"TCP","flow":{"pkts_toserver":1,"start":"2016-01-23T07:09:05.000000+0000"},"tcp":{"tcp_flags_ts":"zz"}}
"#;

#[test]
fn flow_events() {
    let (reader, events) = read_all(FLOWS);
    let flows: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Ok(LogEvent::Flow(f)) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(flows.len(), 4);
    let tls = flows[0];
    assert_eq!(tls.source, SignalSource::Suricata);
    assert_eq!(tls.uid.as_deref(), Some("1130893541934376"));
    assert_eq!(
        (tls.start.0, tls.end.0),
        (1_453_532_942_187, 1_453_532_944_612)
    );
    assert_eq!(
        (tls.src_port, tls.dst_port, tls.protocol),
        (49162, 443, proto::TCP)
    );
    assert_eq!(
        (tls.packets, tls.bytes, tls.rev_packets, tls.rev_bytes),
        (12, 1500, 10, 6000)
    );
    let f = tcp_flags::FIN | tcp_flags::SYN | tcp_flags::PSH | tcp_flags::ACK;
    assert_eq!((tls.tcp_flags, tls.rev_tcp_flags), (f, f));
    assert_eq!(tls.state, ConnState::SF);
    assert_eq!(tls.service.as_deref(), Some("tls"));

    let rejected = flows[1];
    assert_eq!(rejected.state, ConnState::REJ);
    assert_eq!(rejected.service, None, "app_proto failed is no service");

    let ping = flows[2];
    assert_eq!(ping.protocol, proto::ICMPV6);
    assert_eq!(ping.src.to_string(), "2001:db8::1");
    assert_eq!((ping.src_port, ping.dst_port), (128, 0));
    assert_eq!(ping.state, ConnState::SF);

    assert_eq!(flows[3].protocol, proto::GRE);
    assert_eq!(flows[3].state, ConnState::S0);

    let s = reader.summary();
    assert_eq!((s.lines, s.flows, s.skipped, s.errors), (7, 4, 1, 2));
    let errs: Vec<_> = events.iter().filter_map(|e| e.as_ref().err()).collect();
    assert_eq!(errs[0].line, 6);
    assert!(matches!(&errs[0].reason, Reason::Json(m) if m.starts_with("flow:")));
    assert_eq!(
        errs[1].reason,
        Reason::Invalid {
            field: "tcp.tcp_flags_ts",
            value: "zz".into()
        }
    );
}

const APP: &str = r#"{"timestamp":"2017-05-02T10:00:00.000000+0200","flow_id":10,"event_type":"alert","src_ip":"10.0.0.5","src_port":40000,"dest_ip":"10.0.0.9","dest_port":23,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2023019,"rev":2,"signature":"ET TELNET busybox MIRAI hackers - Possible Brute Force Attack","category":"Attempted Administrator Privilege Gain","severity":1},"dns":{"query":[{"type":"query","rrname":"x"}]},"app_proto":"telnet","flow":{"pkts_toserver":3}}
{"timestamp":"2017-05-02T08:00:00.000000Z","event_type":"alert","src_ip":"10.0.0.5","dest_ip":"10.0.0.9","proto":"ICMP","icmp_type":8,"icmp_code":0,"alert":{"signature_id":1,"signature":"ping","category":""}}
{"timestamp":"2017-05-02T08:00:01.000000+0000","flow_id":11,"event_type":"tls","src_ip":"10.0.0.5","src_port":50000,"dest_ip":"52.1.2.3","dest_port":8883,"proto":"TCP","tls":{"subject":"CN=broker","issuerdn":"CN=ca","sni":"Broker.Example.COM","version":"TLS 1.2"}}
{"timestamp":"2017-05-02T08:00:02.000000+0000","flow_id":12,"event_type":"tls","src_ip":"10.0.0.5","src_port":50001,"dest_ip":"52.1.2.3","dest_port":443,"proto":"TCP","tls":{"version":"TLS 1.3"}}
{"timestamp":"2017-05-02T08:00:03.000000+0000","flow_id":13,"event_type":"http","src_ip":"10.0.0.5","src_port":50002,"dest_ip":"52.1.2.4","dest_port":80,"proto":"TCP","tx_id":0,"http":{"hostname":"fw.example.net","url":"/mirai.arm7","http_user_agent":"wget","http_method":"GET","protocol":"HTTP/1.1","status":200,"length":1024}}
{"timestamp":"2017-05-02T08:00:04.000000+0000","event_type":"fileinfo","fileinfo":{"filename":"/mirai.arm7"}}
{"timestamp":"2017-05-02T08:00:05.000000+0000","event_type":"alert","src_ip":"10.0.0.5","dest_ip":"10.0.0.9","proto":"TCP","alert":{"signature_id":1}}
"#;

#[test]
fn alerts_and_names() {
    let (reader, events) = read_all(APP);
    let ok: Vec<&LogEvent> = events.iter().filter_map(|e| e.as_ref().ok()).collect();
    let LogEvent::Alert(a) = ok[0] else {
        panic!("{:?}", ok[0])
    };
    assert_eq!(a.signature_id, 2_023_019);
    assert_eq!(
        &*a.signature,
        "ET TELNET busybox MIRAI hackers - Possible Brute Force Attack"
    );
    assert_eq!(
        a.category.as_deref(),
        Some("Attempted Administrator Privilege Gain")
    );
    assert_eq!(a.severity, 1);
    assert_eq!(a.time.0, 1_493_712_000_000, "the +0200 offset is applied");
    assert_eq!(
        (a.src_port, a.dst_port, a.protocol),
        (40000, 23, proto::TCP)
    );
    let LogEvent::Alert(ping) = ok[1] else {
        panic!()
    };
    assert_eq!(
        (ping.category.as_deref(), ping.severity, ping.protocol),
        (None, 3, proto::ICMP)
    );
    assert_eq!(ping.time.0, 1_493_712_000_000);
    let LogEvent::Name(sni) = ok[2] else { panic!() };
    assert_eq!(
        (&*sni.name, &*sni.via, sni.port),
        ("broker.example.com", "tls", 8883)
    );
    assert_eq!(sni.client.to_string(), "10.0.0.5");
    let LogEvent::Name(host) = ok[3] else {
        panic!()
    };
    assert_eq!(
        (&*host.name, &*host.via, host.port),
        ("fw.example.net", "http", 80)
    );
    let s = reader.summary();
    assert_eq!((s.alerts, s.names, s.skipped, s.errors), (2, 2, 2, 1));
    let err = events.iter().find_map(|e| e.as_ref().err()).unwrap();
    assert_eq!(
        (err.line, &err.reason),
        (7, &Reason::Missing("alert.signature"))
    );
}

const DNS: &str = r#"{"timestamp":"2009-11-24T21:27:09.534255","event_type":"dns","src_ip":"192.168.2.7","src_port":53,"dest_ip":"10.1.250.50","dest_port":23903,"proto":"UDP","dns":{"type":"query","id":16000,"rrname":"twitter.com","rrtype":"A","tx_id":0}}
{"timestamp":"2009-11-24T21:27:09.534255","event_type":"dns","src_ip":"192.168.2.7","src_port":53,"dest_ip":"10.1.250.50","dest_port":23903,"proto":"UDP","dns":{"type":"answer","id":16000,"flags":"8180","qr":true,"rd":true,"ra":true,"rcode":"NOERROR","rrname":"twitter.com","rrtype":"A","ttl":8,"rdata":"199.16.156.6"}}
{"timestamp":"2018-01-01T00:00:00.000000+0000","flow_id":7,"event_type":"dns","src_ip":"10.16.1.10","src_port":41000,"dest_ip":"10.16.1.11","dest_port":53,"proto":"UDP","dns":{"version":2,"type":"answer","id":45444,"flags":"8180","qr":true,"rd":true,"ra":true,"rcode":"NOERROR","answers":[{"rrname":"www.suricata-ids.org","rrtype":"CNAME","ttl":3324,"rdata":"suricata-ids.org"},{"rrname":"suricata-ids.org","rrtype":"A","ttl":10,"rdata":"192.0.78.24"},{"rrname":"suricata-ids.org","rrtype":"A","ttl":10,"rdata":"192.0.78.25"}]}}
{"timestamp":"2018-01-01T00:00:00.000000+0000","flow_id":7,"event_type":"dns","src_ip":"10.16.1.10","src_port":41000,"dest_ip":"10.16.1.11","dest_port":53,"proto":"UDP","dns":{"version":2,"type":"answer","id":45445,"rcode":"NOERROR","rrname":"suricata-ids.org","rrtype":"AAAA","grouped":{"AAAA":["2001:db8::24"],"SOA":[{"mname":"ns1"}]}}}
{"timestamp":"2018-01-01T00:00:00.000000+0000","flow_id":8,"event_type":"dns","src_ip":"10.16.1.10","src_port":41001,"dest_ip":"10.16.1.11","dest_port":53,"proto":"UDP","dns":{"version":2,"type":"answer","id":1,"rcode":"NXDOMAIN","rrname":"nope.example","rrtype":"A","authorities":[{"rrname":"example","rrtype":"SOA","ttl":900,"soa":{"mname":"ns"}}]}}
{"timestamp":"2024-01-01T00:00:00.000000+0000","flow_id":9,"event_type":"dns","src_ip":"10.16.1.10","src_port":41002,"dest_ip":"10.16.1.11","dest_port":53,"proto":"UDP","dns":{"version":3,"type":"response","id":2,"rcode":"NOERROR","queries":[{"rrname":"cam.example","rrtype":"A"}],"answers":[{"rrname":"cam.example","rrtype":"A","ttl":60,"rdata":"198.51.100.7"},{"rrname":"cam.example","rrtype":"SRV","ttl":30,"srv":{"target":"x"}}]}}
{"timestamp":"2024-01-01T00:00:00.000000+0000","flow_id":9,"event_type":"dns","src_ip":"10.16.1.10","src_port":41002,"dest_ip":"10.16.1.11","dest_port":53,"proto":"UDP","dns":{"version":3,"type":"request","id":2,"queries":[{"rrname":"cam.example","rrtype":"HTTPS"}]}}
{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"dns","src_ip":"10.16.1.10","dest_ip":"10.16.1.11","proto":"UDP","dns":{"type":"answer","rcode":"WEIRD","rrname":"x.example"}}
"#;

#[test]
fn dns_versions_1_2_3() {
    let (reader, events) = read_all(DNS);
    let d: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Ok(LogEvent::Dns(d)) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(d.len(), 7);
    // v1 query logged from the server side: client and server are put right.
    assert_eq!(d[0].client.to_string(), "10.1.250.50");
    assert_eq!(d[0].server.to_string(), "192.168.2.7");
    assert_eq!(
        (&*d[0].query, d[0].qtype, d[0].rcode),
        ("twitter.com", Some(1), None)
    );
    assert_eq!(d[0].time.0, 1_259_098_029_534);
    assert_eq!(d[1].answers[0].to_string(), "199.16.156.6");
    assert_eq!((d[1].rcode, d[1].ttl), (Some(0), Some(8)));
    // v2 detailed answers: the query is the first record's name; CNAME data is no address.
    assert_eq!(&*d[2].query, "www.suricata-ids.org");
    let answers: Vec<String> = d[2].answers.iter().map(|a| a.to_string()).collect();
    assert_eq!(answers, ["192.0.78.24", "192.0.78.25"]);
    assert_eq!(d[2].ttl, Some(10));
    assert_eq!(d[2].client.to_string(), "10.16.1.10");
    // v2 grouped.
    assert_eq!(d[3].answers[0].to_string(), "2001:db8::24");
    assert_eq!(d[3].qtype, Some(28));
    assert_eq!((d[4].rcode, d[4].answers.len()), (Some(3), 0));
    // v3.
    assert_eq!(
        (&*d[5].query, d[5].qtype, d[5].rcode, d[5].ttl),
        ("cam.example", Some(1), Some(0), Some(30))
    );
    assert_eq!(d[5].answers.len(), 1);
    assert_eq!((d[6].qtype, d[6].rcode), (Some(65), None));
    let s = reader.summary();
    assert_eq!((s.dns, s.errors), (7, 1));
}
