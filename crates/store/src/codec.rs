//! Conversions between domain values and their stored columns.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use rampart_core::{Imei, Label};

use crate::{Result, StoreError};

/// A list of labels as a JSON array (the device row's copy).
pub(crate) fn labels_json(labels: &[Label]) -> String {
    let v: Vec<&str> = labels.iter().map(Label::as_str).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn parse_labels(json: &str) -> Result<Vec<Label>> {
    let v: Vec<String> = parse_json(json)?;
    v.iter()
        .map(|s| Label::parse(s).map_err(StoreError::from))
        .collect()
}

pub(crate) fn ips_json(ips: &[IpNet]) -> String {
    let v: Vec<String> = ips.iter().map(ToString::to_string).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn parse_ips(json: &str) -> Result<Vec<IpNet>> {
    let v: Vec<String> = parse_json(json)?;
    v.iter()
        .map(|s| {
            s.parse::<IpNet>()
                .map_err(|_| StoreError::Corrupt(format!("ip network {s:?}")))
        })
        .collect()
}

pub(crate) fn imeis_json(imeis: &[Imei]) -> String {
    let v: Vec<&str> = imeis.iter().map(Imei::as_str).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn parse_imeis(json: &str) -> Result<Vec<Imei>> {
    let v: Vec<String> = parse_json(json)?;
    v.iter()
        .map(|s| Imei::parse(s).map_err(StoreError::from))
        .collect()
}

fn parse_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("json list: {e}")))
}

/// An address as 16 bytes, IPv4 mapped, so both families order bytewise in one index.
pub(crate) fn ip_key(ip: IpAddr) -> Vec<u8> {
    let v6: Ipv6Addr = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    v6.octets().to_vec()
}

/// First and last address of a network as index keys.
pub(crate) fn net_keys(net: &IpNet) -> (Vec<u8>, Vec<u8>) {
    (ip_key(net.network()), ip_key(net.broadcast()))
}
