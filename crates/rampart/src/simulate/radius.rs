//! The simulated packet gateway's accounting client: each device's session as Start,
//! Interim-Updates and Stop with 3GPP attributes, sent by a few workers that each keep one
//! request in flight and retransmit on timeout, like a NAS.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rampart_core::Timestamp;
use rampart_radius::auth::verify_response;
use rampart_radius::uli::{Ecgi, Tai};
use rampart_radius::{
    AcctStatusType, Attribute, AttributeType, Code, Packet, PacketBuilder, Plmn, RatType,
    TgppValue, UserLocationInfo,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::fleet::{Misbehaviour, SimDevice};

const WORKERS: usize = 16;
const RETRIES: u32 = 3;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Start,
    Interim,
    Stop,
}

/// One accounting request, encoded by the worker that sends it (the identifier is the
/// worker's).
#[derive(Debug)]
pub(crate) struct Spec {
    status: AcctStatusType,
    session_id: String,
    imsi: String,
    imeisv: String,
    ip: Ipv4Addr,
    plmn: Plmn,
    eci: u32,
    up: u64,
    down: u64,
    time: Timestamp,
    session_time: u32,
}

/// The request `d` sends now. `active`: the device's misbehaviour shows in accounting.
pub(crate) fn request(
    d: &SimDevice,
    kind: Kind,
    run_id: i64,
    time: Timestamp,
    active: bool,
) -> anyhow::Result<Spec> {
    let status = match kind {
        Kind::Start => AcctStatusType::Start,
        Kind::Interim => AcctStatusType::InterimUpdate,
        Kind::Stop => AcctStatusType::Stop,
    };
    let mut imei = d.imei.clone();
    if active && d.misbehaviour == Some(Misbehaviour::SimSwap) {
        // Another device: same make (TAC), another serial.
        let tac = imei.get(..8).unwrap_or("35000000").to_owned();
        imei = format!("{tac}9999990");
    }
    let imeisv = format!("{}01", imei.get(..14).unwrap_or(&imei));
    let (mcc, mnc, three) = if active && d.misbehaviour == Some(Misbehaviour::Roaming) {
        if d.mcc == 310 {
            (262, 1, false)
        } else {
            (310, 260, true)
        }
    } else {
        (d.mcc, d.mnc, d.three_digit_mnc)
    };
    let plmn = Plmn::new(mcc, mnc, three).map_err(|e| anyhow::anyhow!("{e}"))?;
    let eci = u32::from(d.ip) & 0x0fff_ffff;
    Ok(Spec {
        status,
        session_id: format!("sim-{run_id:x}-{}", d.device_id),
        imsi: d.imsi.clone(),
        imeisv,
        ip: d.ip,
        plmn,
        eci,
        up: d.up,
        down: d.down,
        time,
        session_time: 0,
    })
}

fn encode(spec: &Spec, id: u8, secret: &[u8]) -> Option<Vec<u8>> {
    let secs = u32::try_from(spec.time.0 / 1000).unwrap_or(u32::MAX);
    PacketBuilder::new(Code::AccountingRequest, id)
        .attr(Attribute::acct_status_type(spec.status))
        .attr(Attribute::text(
            AttributeType::ACCT_SESSION_ID,
            &spec.session_id,
        ))
        .attr(Attribute::text(AttributeType::NAS_IDENTIFIER, "sim-pgw"))
        .attr(Attribute::text(AttributeType::USER_NAME, &spec.imsi))
        .attr(Attribute::ipv4(AttributeType::FRAMED_IP_ADDRESS, spec.ip))
        .attr(Attribute::text(AttributeType::CALLED_STATION_ID, "iot.sim"))
        .attr(Attribute::u32(AttributeType::EVENT_TIMESTAMP, secs))
        .attr(Attribute::u32(
            AttributeType::ACCT_SESSION_TIME,
            spec.session_time,
        ))
        .attrs(Attribute::input_octets64(spec.up))
        .attrs(Attribute::output_octets64(spec.down))
        .tgpp(TgppValue::Imsi(spec.imsi.clone()))
        .tgpp(TgppValue::Imeisv(spec.imeisv.clone()))
        .tgpp(TgppValue::RatType(RatType::Eutran))
        .tgpp(TgppValue::UserLocationInfo(UserLocationInfo::TaiEcgi(
            Tai {
                plmn: spec.plmn,
                tac: 0x1a2b,
            },
            Ecgi {
                plmn: spec.plmn,
                eci: spec.eci,
            },
        )))
        .message_authenticator()
        .encode_request(secret)
        .ok()
}

/// What the accounting side amounted to.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) sent: u64,
    pub(crate) acked: u64,
    pub(crate) failed: u64,
}

pub(crate) struct Sender {
    tx: mpsc::Sender<Spec>,
    workers: Vec<JoinHandle<Totals>>,
}

impl Sender {
    pub(crate) async fn start(target: SocketAddr, secret: Vec<u8>) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel::<Spec>(4096);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        let mut workers = Vec::with_capacity(WORKERS);
        for w in 0..WORKERS {
            let bind: SocketAddr = if target.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let socket = UdpSocket::bind(bind).await?;
            socket.connect(target).await?;
            let rx = rx.clone();
            let secret = secret.clone();
            workers.push(tokio::spawn(async move {
                let mut totals = Totals::default();
                let mut id = (w as u8).wrapping_mul(16);
                let mut buf = vec![0u8; 4096];
                loop {
                    let Some(spec) = rx.lock().await.recv().await else {
                        break;
                    };
                    id = id.wrapping_add(1);
                    let Some(bytes) = encode(&spec, id, &secret) else {
                        totals.failed += 1;
                        continue;
                    };
                    let Ok(sent) = Packet::decode(&bytes) else {
                        totals.failed += 1;
                        continue;
                    };
                    totals.sent += 1;
                    let mut acked = false;
                    'attempts: for attempt in 0..=RETRIES {
                        if socket.send(&bytes).await.is_err() {
                            continue;
                        }
                        let wait = Duration::from_millis(500 << attempt.min(3));
                        let deadline = tokio::time::Instant::now() + wait;
                        while let Ok(Ok(n)) =
                            tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await
                        {
                            let answer = buf.get(..n).unwrap_or_default();
                            if answer.get(1) == Some(&sent.identifier)
                                && verify_response(answer, &sent.authenticator, &secret).is_ok()
                            {
                                acked = true;
                                break 'attempts;
                            }
                        }
                    }
                    if acked {
                        totals.acked += 1;
                    } else {
                        totals.failed += 1;
                    }
                }
                totals
            }));
        }
        Ok(Self { tx, workers })
    }

    pub(crate) async fn send(&self, spec: Spec) {
        // The workers only stop when the channel closes, so this cannot fail before finish.
        let _closed = self.tx.send(spec).await;
    }

    pub(crate) async fn finish(self) -> Totals {
        drop(self.tx);
        let mut all = Totals::default();
        for w in self.workers {
            if let Ok(t) = w.await {
                all.sent += t.sent;
                all.acked += t.acked;
                all.failed += t.failed;
            }
        }
        all
    }
}
