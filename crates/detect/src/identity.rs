//! Who and where: SIM/IMEI binding and location, from RADIUS accounting and device GPS.
//!
//! Binding compares equipment (IMEI: TAC + serial, 14 digits) and never the IMEISV's software
//! version, so a firmware update is not a SIM swap. Location checks the serving network and
//! cell against per-profile zones, notices a first visit to a country (MCC → country), and
//! checks GPS fixes against a geofence and a top speed.

use std::collections::BTreeMap;

use rampart_bus::AccountingObservation;
use rampart_core::{DeviceMetrics, GeoPoint, Imei, Location, Timestamp, mcc_country};
use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::finding::{Evidence, FindingKind, Severity};
use crate::intel::DeviceContext;
use crate::net::Trigger;

/// SIM/IMEI binding parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BindingConfig {
    /// Run the detector.
    pub enabled: bool,
    /// Compare with the first IMEI the SIM was seen in, when the registry has no policy.
    pub learn_first: bool,
    /// Severity of a SIM in equipment its policy does not allow (a stolen SIM).
    pub severity: Severity,
    /// Severity of a change from the learned equipment.
    pub learned_severity: Severity,
    /// SIMs one equipment may carry before it is a finding (per shard).
    pub max_sims_per_imei: usize,
}

impl Default for BindingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            learn_first: true,
            severity: Severity::High,
            learned_severity: Severity::Medium,
            max_sims_per_imei: 1,
        }
    }
}

/// Allowed zones of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Zone {
    /// Serving networks (`MCC-MNC`); empty: any.
    pub mcc_mnc: Vec<String>,
    /// Countries (ISO 3166 alpha-2); empty: any.
    pub countries: Vec<String>,
    /// LTE/5G tracking area codes; empty: any.
    pub tacs: Vec<u32>,
    /// 2G/3G location area codes; empty: any.
    pub lacs: Vec<u16>,
    /// GPS geofence: centre and radius.
    pub geofence: Option<Geofence>,
}

/// A circle on the map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geofence {
    /// Centre latitude.
    pub lat: f64,
    /// Centre longitude.
    pub lon: f64,
    /// Radius, km.
    pub radius_km: f64,
}

/// Location parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocationConfig {
    /// Run the detectors.
    pub enabled: bool,
    /// Zones per profile name.
    pub zones: BTreeMap<String, Zone>,
    /// Severity outside a zone or geofence.
    pub zone_severity: Severity,
    /// Report the first visit to each new country after the first one.
    pub new_country: bool,
    /// Severity of a new country.
    pub new_country_severity: Severity,
    /// Fastest plausible travel between two fixes, km/h.
    pub max_speed_kmh: f64,
    /// Fixes closer than this are not compared (GPS noise), km.
    pub min_distance_km: f64,
    /// Severity of impossible travel.
    pub travel_severity: Severity,
}

impl Default for LocationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            zones: BTreeMap::new(),
            zone_severity: Severity::Medium,
            new_country: true,
            new_country_severity: Severity::Low,
            max_speed_kmh: 1000.0,
            min_distance_km: 5.0,
            travel_severity: Severity::Medium,
        }
    }
}

impl LocationConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_speed_kmh.is_nan() || self.max_speed_kmh <= 0.0 {
            return Err(ConfigError::invalid(
                "location.max_speed_kmh",
                "must be positive",
            ));
        }
        for (name, z) in &self.zones {
            if let Some(g) = z.geofence {
                let p = GeoPoint {
                    lat: g.lat,
                    lon: g.lon,
                    accuracy_m: None,
                };
                if !p.is_valid() || g.radius_km.is_nan() || g.radius_km <= 0.0 {
                    return Err(ConfigError::invalid(
                        format!("location.zones.{name}.geofence"),
                        "needs a valid centre and a positive radius",
                    ));
                }
            }
            for m in &z.mcc_mnc {
                if parse_mcc(m).is_none() {
                    return Err(ConfigError::invalid(
                        format!("location.zones.{name}.mcc_mnc"),
                        format!("{m:?} is not MCC-MNC"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn parse_mcc(mcc_mnc: &str) -> Option<u16> {
    let (mcc, mnc) = mcc_mnc.split_once('-')?;
    (mcc.len() == 3 && (2..=3).contains(&mnc.len()) && mnc.bytes().all(|b| b.is_ascii_digit()))
        .then(|| mcc.parse().ok())
        .flatten()
}

/// Binding and location memory of one device.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct IdentityState {
    /// Equipment (14 digits as a number) first seen with the SIM.
    pub(crate) learned_imei: Option<u64>,
    /// MCCs seen (bounded).
    pub(crate) mccs: Vec<u16>,
    /// Last GPS fix: lat, lon, time.
    pub(crate) fix: Option<(f64, f64, i64)>,
}

fn equipment_number(imei: &Imei) -> Option<u64> {
    imei.equipment().parse().ok()
}

fn session_evidence(a: &AccountingObservation) -> Evidence {
    let s = &a.record.session;
    Evidence::Session {
        time: a.record.event_time,
        status: a.record.status.clone(),
        session: format!("{}/{}", s.nas, s.session_id),
        imsi: s.imsi.clone(),
        imeisv: s.imeisv.clone(),
        location: s.location.as_ref().map(location_text),
    }
}

fn location_text(l: &Location) -> String {
    let mut t = format!("{} {}", l.kind, l.mcc_mnc.as_deref().unwrap_or("?"));
    if let Some(tac) = l.tac {
        t.push_str(&format!(" tac {tac}"));
    }
    if let Some(lac) = l.lac {
        t.push_str(&format!(" lac {lac}"));
    }
    if let Some(c) = l.eci.map(u64::from).or(l.nci).or(l.ci.map(u64::from)) {
        t.push_str(&format!(" cell {c}"));
    }
    t
}

fn trigger(
    kind: FindingKind,
    severity: Severity,
    summary: String,
    evidence: Evidence,
    at: i64,
    metric: &str,
    rule: Option<String>,
) -> Trigger {
    Trigger {
        kind,
        severity,
        pattern: None,
        summary,
        evidence: vec![evidence],
        count: 1,
        first_seen: at,
        threshold: Trigger::threshold(metric, 0.0, 1.0, "policy"),
        rule,
    }
}

/// SIM in the wrong equipment; the IMEI→SIMs index is the shard's.
pub(crate) fn binding(
    cfg: &BindingConfig,
    st: &mut IdentityState,
    ctx: Option<&DeviceContext>,
    sims_of_imei: &mut BTreeMap<u64, Vec<u64>>,
    a: &AccountingObservation,
    out: &mut Vec<Trigger>,
) {
    let s = &a.record.session;
    let at = a.record.event_time.0;
    if !cfg.enabled {
        return;
    }
    let Some(imei) = s.imeisv.as_deref().and_then(|t| Imei::parse(t).ok()) else {
        return;
    };
    let Some(eq) = equipment_number(&imei) else {
        return;
    };
    let imsi = s.imsi.as_deref().unwrap_or_default();
    if let Some(sim) = ctx.and_then(|c| c.sim.as_ref())
        && sim.imei_policy != rampart_core::ImeiPolicy::None
    {
        if !sim.allows(&imei) {
            out.push(trigger(
                FindingKind::SimImeiMismatch,
                cfg.severity,
                format!(
                    "SIM {imsi} used in equipment {} outside its {} IMEI policy",
                    imei.equipment(),
                    sim.imei_policy
                ),
                session_evidence(a),
                at,
                "allowed_imeis",
                Some(format!("imei:{eq}")),
            ));
        }
    } else if cfg.learn_first {
        match st.learned_imei {
            None => st.learned_imei = Some(eq),
            Some(l) if l != eq => out.push(trigger(
                FindingKind::SimImeiMismatch,
                cfg.learned_severity,
                format!(
                    "SIM {imsi} moved to equipment {} (first seen in {l:014})",
                    imei.equipment()
                ),
                session_evidence(a),
                at,
                "learned_imei",
                Some(format!("imei:{eq}")),
            )),
            Some(_) => {}
        }
    }
    if imsi.is_empty() {
        return;
    }
    let mut h = crate::finding::Fnv::default();
    h.write(imsi.as_bytes());
    let sims = sims_of_imei.entry(eq).or_default();
    if !sims.contains(&h.0) {
        if sims.len() >= 8 {
            sims.remove(0);
        }
        sims.push(h.0);
        if sims.len() > cfg.max_sims_per_imei.max(1) {
            out.push(trigger(
                FindingKind::ImeiSharedBySims,
                cfg.severity,
                format!(
                    "equipment {} seen with {} SIMs (latest {imsi})",
                    imei.equipment(),
                    sims.len()
                ),
                session_evidence(a),
                at,
                "sims_per_imei",
                Some(format!("imei:{eq}")),
            ));
        }
    }
}

/// Serving network and cell against the profile's zone, and new countries.
pub(crate) fn location(
    cfg: &LocationConfig,
    st: &mut IdentityState,
    profile: Option<&str>,
    a: &AccountingObservation,
    out: &mut Vec<Trigger>,
) {
    let Some(loc) = a.record.session.location.as_ref() else {
        return;
    };
    if !cfg.enabled {
        return;
    }
    let at = a.record.event_time.0;
    let mcc = loc.mcc_mnc.as_deref().and_then(parse_mcc);
    let country = mcc.and_then(mcc_country);
    if let Some(zone) = profile.and_then(|p| cfg.zones.get(p)) {
        let net_ok = zone.mcc_mnc.is_empty()
            || loc
                .mcc_mnc
                .as_ref()
                .is_some_and(|m| zone.mcc_mnc.iter().any(|z| z == m));
        let country_ok = zone.countries.is_empty()
            || country.is_some_and(|c| zone.countries.iter().any(|z| z.eq_ignore_ascii_case(c)));
        let tac_ok = zone.tacs.is_empty() || loc.tac.is_some_and(|t| zone.tacs.contains(&t));
        let lac_ok = zone.lacs.is_empty() || loc.lac.is_some_and(|l| zone.lacs.contains(&l));
        if !(net_ok && country_ok && tac_ok && lac_ok) {
            out.push(trigger(
                FindingKind::LocationOutsideZone,
                cfg.zone_severity,
                format!(
                    "attached at {} ({}) outside the allowed zone",
                    location_text(loc),
                    country.unwrap_or("?")
                ),
                session_evidence(a),
                at,
                "allowed_zone",
                loc.mcc_mnc.clone(),
            ));
        }
    }
    if let Some(m) = mcc
        && !st.mccs.iter().any(|&x| mcc_country(x) == country)
    {
        let first = st.mccs.is_empty();
        if st.mccs.len() >= 8 {
            st.mccs.remove(0);
        }
        st.mccs.push(m);
        if !first && cfg.new_country {
            out.push(trigger(
                FindingKind::NewCountry,
                cfg.new_country_severity,
                format!(
                    "entered {} (MCC {m}) for the first time",
                    country.unwrap_or("an unknown country")
                ),
                session_evidence(a),
                at,
                "known_countries",
                Some(format!("mcc:{m}")),
            ));
        }
    }
}

/// GPS: geofence and impossible travel.
pub(crate) fn gps(
    cfg: &LocationConfig,
    st: &mut IdentityState,
    profile: Option<&str>,
    m: &DeviceMetrics,
    out: &mut Vec<Trigger>,
) {
    let Some(p) = m.position.filter(GeoPoint::is_valid) else {
        return;
    };
    if !cfg.enabled {
        return;
    }
    let at = m.time.0;
    let metric = |name: &str, value: f64| Evidence::Metric {
        time: Timestamp(at),
        name: name.to_owned(),
        value,
    };
    if let Some(g) = profile
        .and_then(|p| cfg.zones.get(p))
        .and_then(|z| z.geofence)
    {
        let centre = GeoPoint {
            lat: g.lat,
            lon: g.lon,
            accuracy_m: None,
        };
        let d = centre.distance_km(&p);
        if d > g.radius_km {
            let mut t = trigger(
                FindingKind::Geofence,
                cfg.zone_severity,
                format!(
                    "position {:.5},{:.5} is {d:.1} km from the geofence centre (radius {} km)",
                    p.lat, p.lon, g.radius_km
                ),
                metric("distance_km", d),
                at,
                "geofence_radius_km",
                None,
            );
            t.threshold = Trigger::threshold("distance_km", g.radius_km, d, "profile");
            out.push(t);
        }
    }
    if let Some((lat, lon, t0)) = st.fix
        && at > t0
    {
        let prev = GeoPoint {
            lat,
            lon,
            accuracy_m: None,
        };
        let d = prev.distance_km(&p);
        let hours = (at - t0) as f64 / 3_600_000.0;
        let speed = d / hours.max(1.0 / 3600.0);
        if d >= cfg.min_distance_km && speed > cfg.max_speed_kmh {
            let mut t = trigger(
                FindingKind::ImpossibleTravel,
                cfg.travel_severity,
                format!(
                    "moved {d:.0} km in {:.0} s ({speed:.0} km/h)",
                    (at - t0) as f64 / 1000.0
                ),
                metric("speed_kmh", speed),
                at,
                "max_speed_kmh",
                None,
            );
            t.first_seen = t0;
            t.threshold = Trigger::threshold("speed_kmh", cfg.max_speed_kmh, speed, "fixed");
            out.push(t);
        }
    }
    if st.fix.is_none_or(|(_, _, t0)| at >= t0) {
        st.fix = Some((p.lat, p.lon, at));
    }
}
