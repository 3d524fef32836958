//! Turning one parsed row (CSV fields or a JSON object) into a validated [`DeviceRecord`].
//!
//! Both formats fill the same [`RawRow`], so the validation rules exist once.

use std::borrow::Cow;
use std::net::IpAddr;

use ipnet::IpNet;
use rampart_core::{
    Device, DeviceId, DeviceRecord, DeviceState, Iccid, Imei, ImeiPolicy, Imsi, Label, MacAddr,
    Msisdn, Sim, TenantId, Timestamp, ValidationError,
};

use crate::columns::{COLUMN_COUNT, Column};

/// One cell: text (a CSV field, a JSON string) or a JSON array of strings.
#[derive(Debug)]
pub(crate) enum Cell<'a> {
    Text(Cow<'a, str>),
    List(Vec<Cow<'a, str>>),
}

/// The cells of one row, indexed by [`Column`]; absent columns are empty.
#[derive(Debug, Default)]
pub(crate) struct RawRow<'a> {
    cells: [Option<Cell<'a>>; COLUMN_COUNT],
}

impl<'a> RawRow<'a> {
    /// Sets a cell; returns false when it was already set (a duplicate JSON key).
    pub(crate) fn set(&mut self, column: Column, cell: Cell<'a>) -> bool {
        self.cells[column.index()].replace(cell).is_none()
    }

    /// A scalar cell, trimmed; empty when absent.
    fn text(&self, column: Column) -> Result<&str, String> {
        match &self.cells[column.index()] {
            None => Ok(""),
            Some(Cell::Text(s)) => Ok(s.trim()),
            Some(Cell::List(_)) => Err(format!("{} must be a string, not a list", column.name())),
        }
    }

    /// Parses every non-empty item of a list cell (`;`-separated text or an array).
    fn list<T>(
        &self,
        column: Column,
        mut parse: impl FnMut(&str) -> Result<T, ValidationError>,
    ) -> Result<Vec<T>, ValidationError> {
        let mut out = Vec::new();
        let mut push = |item: &str| {
            let item = item.trim();
            if !item.is_empty() {
                out.push(parse(item)?);
            }
            Ok::<(), ValidationError>(())
        };
        match &self.cells[column.index()] {
            None => {}
            Some(Cell::Text(s)) => s.split(';').try_for_each(&mut push)?,
            Some(Cell::List(items)) => items.iter().try_for_each(|s| push(s))?,
        }
        Ok(out)
    }
}

fn invalid(field: &'static str, value: &str, reason: &'static str) -> ValidationError {
    ValidationError::Invalid {
        field,
        value: value.chars().take(64).collect(),
        reason,
    }
}

/// Parses an address (a host, stored as /32 or /128) or a CIDR network.
fn parse_ip(s: &str) -> Result<IpNet, ValidationError> {
    let parsed = if s.contains('/') {
        s.parse::<IpNet>().ok()
    } else {
        s.parse::<IpAddr>().ok().map(IpNet::from)
    };
    parsed.ok_or_else(|| invalid("ips", s, "must be an ip address or a cidr network"))
}

fn optional<T>(
    s: &str,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<Option<T>, ValidationError> {
    if s.is_empty() {
        Ok(None)
    } else {
        parse(s).map(Some)
    }
}

/// Validates a row into a record owned by `tenant`; the error is the reason for the reject
/// file.
pub(crate) fn build_record(row: &RawRow<'_>, tenant: &TenantId) -> Result<DeviceRecord, String> {
    let device = build_device(row, tenant)?;
    let sim = build_sim(row, tenant, &device.id)?;
    Ok(DeviceRecord { device, sim })
}

fn build_device(row: &RawRow<'_>, tenant: &TenantId) -> Result<Device, String> {
    let e = |e: ValidationError| e.to_string();
    let id = DeviceId::parse(row.text(Column::DeviceId)?).map_err(e)?;
    let mut device = Device::new(tenant.clone(), id);
    device.name = row.text(Column::Name)?.to_owned();
    device.profile = optional(row.text(Column::Profile)?, |s| {
        Label::parse_field("profile", s)
    })
    .map_err(e)?;
    device.groups = row
        .list(Column::Groups, |s| Label::parse_field("groups", s))
        .map_err(e)?;
    device.tags = row
        .list(Column::Tags, |s| Label::parse_field("tags", s))
        .map_err(e)?;
    device.ips = row.list(Column::Ips, parse_ip).map_err(e)?;
    device.mac = optional(row.text(Column::Mac)?, MacAddr::parse).map_err(e)?;
    device.firmware = optional(row.text(Column::Firmware)?, |s| Ok(s.to_owned())).map_err(e)?;
    device.state = optional(row.text(Column::State)?, str::parse::<DeviceState>)
        .map_err(e)?
        .unwrap_or_default();
    device.normalize().map_err(e)?;
    Ok(device)
}

fn build_sim(
    row: &RawRow<'_>,
    tenant: &TenantId,
    device: &DeviceId,
) -> Result<Option<Sim>, String> {
    let e = |e: ValidationError| e.to_string();
    let iccid = row.text(Column::Iccid)?;
    let imsi = row.text(Column::Imsi)?;
    let msisdn = optional(row.text(Column::Msisdn)?, Msisdn::parse).map_err(e)?;
    let policy = optional(row.text(Column::ImeiPolicy)?, str::parse::<ImeiPolicy>).map_err(e)?;
    let allowed_imeis = row.list(Column::AllowedImeis, Imei::parse).map_err(e)?;
    if iccid.is_empty() && imsi.is_empty() {
        // Refuse rather than silently drop SIM data that has no SIM to go on.
        if msisdn.is_some()
            || !allowed_imeis.is_empty()
            || policy.is_some_and(|p| p != ImeiPolicy::None)
        {
            return Err(
                "msisdn, imei_policy and allowed_imeis belong to a sim: iccid and imsi are required"
                    .to_owned(),
            );
        }
        return Ok(None);
    }
    let iccid = Iccid::parse(iccid).map_err(e)?;
    let imsi = Imsi::parse(imsi).map_err(e)?;
    let imei_policy = policy.unwrap_or(if allowed_imeis.is_empty() {
        ImeiPolicy::None
    } else {
        ImeiPolicy::Fixed
    });
    let mut sim = Sim {
        tenant: tenant.clone(),
        iccid,
        imsi,
        msisdn,
        imei_policy,
        allowed_imeis,
        learned_imei: None,
        device_id: Some(device.clone()),
        created_at: Timestamp::default(),
        updated_at: Timestamp::default(),
    };
    sim.normalize().map_err(e)?;
    Ok(Some(sim))
}
