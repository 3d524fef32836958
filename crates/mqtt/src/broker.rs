//! The one place that knows rumqttc: a small trait the subscriber drives, so the client
//! library can be replaced (or faked in tests) without touching the source's logic.

use std::future::Future;

use rumqttc::mqttbytes::v4::{Packet, SubscribeReasonCode};
use rumqttc::{AsyncClient, EventLoop, MqttOptions, QoS, TlsConfiguration, Transport};

use crate::config::Resolved;

/// What the broker connection yields.
#[derive(Debug)]
pub(crate) enum BrokerEvent<P> {
    /// CONNACK accepted: (re)subscribe now, the session is clean.
    Connected,
    /// A message on a subscribed topic.
    Publish { topic: String, payload: P },
    /// SUBACK with at least one refused filter.
    SubscribeRefused,
    /// Anything else (pings, acks, outgoing packets).
    Other,
}

/// The connection failed or was lost; the text is the client library's, with no secrets.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BrokerError(pub(crate) String);

/// A broker session that reconnects when polled after an error.
pub(crate) trait Broker: Send {
    type Payload: AsRef<[u8]> + Send;

    /// The next event; after an error, the next call reconnects.
    fn poll(
        &mut self,
    ) -> impl Future<Output = Result<BrokerEvent<Self::Payload>, BrokerError>> + Send;

    /// Queues a subscription to every filter; sent on the next poll.
    fn subscribe(&mut self, filters: &[String], qos: u8) -> Result<(), BrokerError>;

    /// Sends DISCONNECT and flushes it, best effort.
    fn disconnect(&mut self) -> impl Future<Output = ()> + Send;
}

/// rumqttc's MQTT 3.1.1 client.
pub(crate) struct Rumqtt {
    client: AsyncClient,
    eventloop: EventLoop,
}

impl Rumqtt {
    pub(crate) fn new(r: &Resolved) -> Self {
        // MqttOptions' Debug prints the password: this value is never logged.
        let mut o = MqttOptions::new(
            r.client_id.clone(),
            r.endpoint.host.clone(),
            r.endpoint.port,
        );
        o.set_keep_alive(r.keepalive);
        // A clean session: a restarted source does not replay a backlog the broker kept,
        // and subscriptions are renewed on every CONNACK.
        o.set_clean_session(true);
        o.set_max_packet_size(r.max_packet_bytes, r.max_packet_bytes);
        if let Some((user, password)) = &r.credentials {
            o.set_credentials(user.clone(), password.expose().to_owned());
        }
        if let Some(tls) = &r.tls {
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        let (client, eventloop) = AsyncClient::new(o, 16);
        Self { client, eventloop }
    }
}

fn qos(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtLeastOnce,
    }
}

impl Broker for Rumqtt {
    type Payload = bytes::Bytes;

    async fn poll(&mut self) -> Result<BrokerEvent<Self::Payload>, BrokerError> {
        self.eventloop
            .poll()
            .await
            .map(map)
            .map_err(|e| BrokerError(e.to_string()))
    }

    fn subscribe(&mut self, filters: &[String], level: u8) -> Result<(), BrokerError> {
        let q = qos(level);
        self.client
            .try_subscribe_many(
                filters
                    .iter()
                    .map(|f| rumqttc::SubscribeFilter::new(f.clone(), q)),
            )
            .map_err(|e| BrokerError(e.to_string()))
    }

    async fn disconnect(&mut self) {
        if self.client.try_disconnect().is_err() {
            return;
        }
        let deadline = std::time::Duration::from_secs(1);
        let flushed = tokio::time::timeout(deadline, async {
            loop {
                match self.eventloop.poll().await {
                    Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        if flushed.is_err() {
            tracing::debug!("mqtt disconnect not acknowledged within 1 s");
        }
    }
}

fn map(event: rumqttc::Event) -> BrokerEvent<bytes::Bytes> {
    match event {
        rumqttc::Event::Incoming(Packet::ConnAck(_)) => BrokerEvent::Connected,
        rumqttc::Event::Incoming(Packet::Publish(p)) => BrokerEvent::Publish {
            topic: p.topic,
            payload: p.payload,
        },
        rumqttc::Event::Incoming(Packet::SubAck(s))
            if s.return_codes
                .iter()
                .any(|c| matches!(c, SubscribeReasonCode::Failure)) =>
        {
            BrokerEvent::SubscribeRefused
        }
        _ => BrokerEvent::Other,
    }
}
