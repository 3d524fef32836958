//! Broker quarantine through Mosquitto's dynamic security plugin: `disableClient` makes the
//! broker drop the device's connections and refuse new ones; `enableClient` undoes it.
//!
//! Commands go to `$CONTROL/dynamic-security/v1` as JSON and answers come back on
//! `$CONTROL/dynamic-security/v1/response`, matched by `correlationData`. Each call opens its
//! own short MQTT connection: containment is rare, and a fresh connection cannot be left in
//! a half-broken state by an earlier failure.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::mqttbytes::v4::Packet;
use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, QoS, TlsConfiguration, Transport};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::retry::{Attempt, RetryPolicy};
use crate::secret::Secret;
use crate::telemetry::{self, count};

/// The dynamic security command topic.
pub const COMMAND_TOPIC: &str = "$CONTROL/dynamic-security/v1";
/// Where the plugin answers.
pub const RESPONSE_TOPIC: &str = "$CONTROL/dynamic-security/v1/response";

/// How to reach the broker as a dynamic-security administrator.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// A dynsec client with the admin role.
    pub username: String,
    /// Its password (never logged).
    pub password: Secret,
    /// Time allowed for one command round trip, connection included.
    #[serde(default = "default_timeout", with = "crate::retry::millis")]
    pub timeout: Duration,
    /// Retries on connection failures and timeouts.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// TLS settings; plain TCP when absent.
    #[serde(skip)]
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

impl std::fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("timeout", &self.timeout)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl BrokerConfig {
    /// Plain TCP to `host:port` with default timeout and retries.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        username: impl Into<String>,
        password: Secret,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            username: username.into(),
            password,
            timeout: default_timeout(),
            retry: RetryPolicy::default(),
            tls: None,
        }
    }
}

/// Why a command failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker refused our credentials, or the connection failed.
    #[error("broker connection failed: {0}")]
    Connection(String),
    /// No answer within the timeout.
    #[error("no answer from the dynamic security plugin within {0:?}")]
    Timeout(Duration),
    /// The plugin answered with an error (e.g. `Client not found`).
    #[error("{command} failed: {message}")]
    Command {
        /// Command name.
        command: String,
        /// The plugin's message.
        message: String,
    },
    /// The answer was not the JSON the plugin documents.
    #[error("unreadable answer from the dynamic security plugin")]
    Protocol,
}

impl BrokerError {
    /// Whether the broker said the client does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Command { message, .. } if message.contains("not found"))
    }
}

/// One answer from the plugin.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CommandResponse {
    /// Command name.
    pub command: String,
    /// Error message, if the command failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Result data (for `get*` commands).
    #[serde(default)]
    pub data: Option<Value>,
    /// Echo of our `correlationData`.
    #[serde(default, rename = "correlationData")]
    pub correlation: Option<String>,
}

#[derive(Deserialize)]
struct Responses {
    responses: Vec<CommandResponse>,
}

/// What disabling found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisableResult {
    /// Whether the client was already disabled (then undo must leave it so).
    pub was_disabled: bool,
}

/// A dynamic-security administrator client.
#[derive(Debug, Clone)]
pub struct DynsecClient {
    config: BrokerConfig,
}

impl DynsecClient {
    /// A client for the broker in `config`.
    pub fn new(config: BrokerConfig) -> Self {
        Self { config }
    }

    /// Disables `username`: the broker drops its connections and refuses new ones. Reads
    /// the prior state in the same message, so an undo can restore exactly that.
    pub async fn disable_client(&self, username: &str) -> Result<DisableResult, BrokerError> {
        self.disable_counted(username).await.0
    }

    /// [`DynsecClient::disable_client`] with the number of round trips it took.
    pub(crate) async fn disable_counted(
        &self,
        username: &str,
    ) -> (Result<DisableResult, BrokerError>, u32) {
        let (answers, attempts) = self
            .commands_counted(&[
                json!({"command": "getClient", "username": username}),
                json!({"command": "disableClient", "username": username}),
            ])
            .await;
        (answers.and_then(read_disable), attempts)
    }

    /// Enables `username` again.
    pub async fn enable_client(&self, username: &str) -> Result<(), BrokerError> {
        self.enable_counted(username).await.0
    }

    /// [`DynsecClient::enable_client`] with the number of round trips it took.
    pub(crate) async fn enable_counted(&self, username: &str) -> (Result<(), BrokerError>, u32) {
        let (answers, attempts) = self
            .commands_counted(&[json!({"command": "enableClient", "username": username})])
            .await;
        let result = answers.and_then(|a| check(a.first().ok_or(BrokerError::Protocol)?));
        (result, attempts)
    }

    /// Whether `username` is disabled now.
    pub async fn is_disabled(&self, username: &str) -> Result<bool, BrokerError> {
        let answers = self
            .commands(&[json!({"command": "getClient", "username": username})])
            .await?;
        let get = answers.first().ok_or(BrokerError::Protocol)?;
        check(get)?;
        Ok(get
            .data
            .as_ref()
            .and_then(|d| d.pointer("/client/disabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }

    /// Drops the connection of whoever holds MQTT client id `client_id`, by connecting with
    /// that id (MQTT session takeover; the dynamic security plugin of Mosquitto 2.0 has no
    /// kick command). It does not stop a reconnect: disable the username for that.
    pub async fn kick_client_id(&self, client_id: &str) -> Result<(), BrokerError> {
        self.kick_counted(client_id).await.0
    }

    /// [`DynsecClient::kick_client_id`] with the number of connections it took.
    pub(crate) async fn kick_counted(&self, client_id: &str) -> (Result<(), BrokerError>, u32) {
        let timeout = self.config.timeout;
        let retried = self
            .config
            .retry
            .run(|_| async {
                let (client, mut events) = AsyncClient::new(self.options(client_id), 10);
                let result = tokio::time::timeout(timeout, async {
                    loop {
                        match events.poll().await {
                            Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                            Ok(_) => {}
                            Err(e) => return Err(classify(e)),
                        }
                    }
                })
                .await;
                // Best effort: the kick already happened at CONNECT.
                if client.try_disconnect().is_ok() {
                    tokio::time::timeout(Duration::from_millis(500), events.poll())
                        .await
                        .ok();
                }
                result.unwrap_or(Err(Attempt::Retry(BrokerError::Timeout(timeout))))
            })
            .await;
        let outcome = if retried.result.is_ok() {
            "ok"
        } else {
            "error"
        };
        count(
            telemetry::BROKER_COMMANDS_TOTAL,
            &[("command", "kick"), ("result", outcome)],
        );
        (retried.result, retried.attempts)
    }

    /// Sends `commands` in one message and returns their answers in the same order.
    pub async fn commands(&self, commands: &[Value]) -> Result<Vec<CommandResponse>, BrokerError> {
        self.commands_counted(commands).await.0
    }

    async fn commands_counted(
        &self,
        commands: &[Value],
    ) -> (Result<Vec<CommandResponse>, BrokerError>, u32) {
        let tag = random_tag();
        let tagged: Vec<Value> = commands
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = c.clone();
                if let Some(obj) = c.as_object_mut() {
                    obj.insert(
                        "correlationData".into(),
                        Value::String(format!("{tag}-{i}")),
                    );
                }
                c
            })
            .collect();
        let payload = json!({ "commands": tagged }).to_string();
        let retried = self
            .config
            .retry
            .run(|_| self.round_trip(&tag, commands.len(), payload.clone()))
            .await;
        let name = commands
            .last()
            .and_then(|c| c.get("command"))
            .and_then(Value::as_str)
            .map_or("other", command_label);
        let result = match &retried.result {
            Ok(answers) if answers.iter().all(|a| a.error.is_none()) => "ok",
            Ok(_) => "refused",
            Err(_) => "error",
        };
        count(
            telemetry::BROKER_COMMANDS_TOTAL,
            &[("command", name), ("result", result)],
        );
        (retried.result, retried.attempts)
    }

    async fn round_trip(
        &self,
        tag: &str,
        expected: usize,
        payload: String,
    ) -> Result<Vec<CommandResponse>, Attempt<BrokerError>> {
        let client_id = format!("rampart-contain-{}", random_tag());
        let (client, mut events) = AsyncClient::new(self.options(&client_id), 10);
        let timeout = self.config.timeout;
        let result = tokio::time::timeout(timeout, async {
            let mut answers: Vec<Option<CommandResponse>> = vec![None; expected];
            loop {
                let event = events.poll().await.map_err(classify)?;
                match event {
                    Event::Incoming(Packet::ConnAck(_)) => {
                        client
                            .subscribe(RESPONSE_TOPIC, QoS::AtLeastOnce)
                            .await
                            .map_err(|e| Attempt::Retry(BrokerError::Connection(e.to_string())))?;
                    }
                    Event::Incoming(Packet::SubAck(_)) => {
                        client
                            .publish(COMMAND_TOPIC, QoS::AtLeastOnce, false, payload.clone())
                            .await
                            .map_err(|e| Attempt::Retry(BrokerError::Connection(e.to_string())))?;
                    }
                    Event::Incoming(Packet::Publish(p)) if p.topic == RESPONSE_TOPIC => {
                        let Ok(parsed) = serde_json::from_slice::<Responses>(&p.payload) else {
                            return Err(Attempt::Fatal(BrokerError::Protocol));
                        };
                        for r in parsed.responses {
                            let index = r
                                .correlation
                                .as_deref()
                                .and_then(|c| c.strip_prefix(tag))
                                .and_then(|c| c.strip_prefix('-'))
                                .and_then(|i| i.parse::<usize>().ok());
                            if let Some(slot) = index.and_then(|i| answers.get_mut(i)) {
                                *slot = Some(r);
                            }
                        }
                        if answers.iter().all(Option::is_some) {
                            return Ok(answers.into_iter().flatten().collect());
                        }
                    }
                    _ => {}
                }
            }
        })
        .await
        .unwrap_or(Err(Attempt::Retry(BrokerError::Timeout(timeout))));
        if client.try_disconnect().is_ok() {
            tokio::time::timeout(Duration::from_millis(200), events.poll())
                .await
                .ok();
        }
        result
    }

    fn options(&self, client_id: &str) -> MqttOptions {
        let c = &self.config;
        let mut opts = MqttOptions::new(client_id, c.host.clone(), c.port);
        opts.set_credentials(
            c.username.clone(),
            String::from_utf8_lossy(c.password.expose()).into_owned(),
        );
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(true);
        if let Some(tls) = &c.tls {
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        opts
    }
}

/// Reads the answers to `getClient` + `disableClient`.
fn read_disable(answers: Vec<CommandResponse>) -> Result<DisableResult, BrokerError> {
    let mut answers = answers.into_iter();
    let get = answers.next().ok_or(BrokerError::Protocol)?;
    check(&get)?;
    let was_disabled = get
        .data
        .as_ref()
        .and_then(|d| d.pointer("/client/disabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    check(&answers.next().ok_or(BrokerError::Protocol)?)?;
    Ok(DisableResult { was_disabled })
}

fn check(answer: &CommandResponse) -> Result<(), BrokerError> {
    match &answer.error {
        None => Ok(()),
        Some(message) => Err(BrokerError::Command {
            command: answer.command.clone(),
            message: message.clone(),
        }),
    }
}

/// Refused credentials cannot get better by retrying; anything else may.
fn classify(error: ConnectionError) -> Attempt<BrokerError> {
    let wrapped = BrokerError::Connection(error.to_string());
    match error {
        ConnectionError::ConnectionRefused(_) => Attempt::Fatal(wrapped),
        _ => Attempt::Retry(wrapped),
    }
}

fn command_label(name: &str) -> &'static str {
    match name {
        "disableClient" => "disable_client",
        "enableClient" => "enable_client",
        "getClient" => "get_client",
        _ => "other",
    }
}

fn random_tag() -> String {
    hex::encode(getrandom::u64().unwrap_or_default().to_be_bytes())
}
