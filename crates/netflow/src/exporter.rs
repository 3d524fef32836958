//! What the collector remembers about one exporter besides its templates (which the parser
//! keeps): its name for the evidence, and per observation domain the sampling rates and boot
//! time that options data announced.

use std::sync::Arc;
use std::time::Instant;

use crate::fields::Fields;
use crate::plan::PlanScope;

/// Observation domains (IPFIX) or source ids (v9) remembered per exporter; beyond this,
/// options data of further domains is not remembered (their flows still decode).
pub(crate) const MAX_DOMAINS: usize = 16;

/// The header family a domain belongs to: a v9 source id and an IPFIX observation domain
/// with the same number are different scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    V9,
    Ipfix,
}

/// Options-data state of one (exporter, observation domain).
#[derive(Debug, Clone)]
pub(crate) struct Domain {
    pub(crate) family: Family,
    pub(crate) id: u32,
    /// A rate announced without a sampler id: applies to every record of the domain.
    pub(crate) default_sampling: Option<u64>,
    /// The exporter's boot time (IPFIX systemInitTimeMilliseconds in options data).
    pub(crate) system_init_ms: Option<i64>,
    /// Sampler id → 1-in-N rate (sampler tables), oldest first.
    pub(crate) samplers: Vec<(u64, u64)>,
}

/// One exporter (source address and port).
#[derive(Debug)]
pub(crate) struct Exporter {
    /// The address as text, shared by every flow it exports.
    pub(crate) name: Arc<str>,
    pub(crate) last_seen: Instant,
    pub(crate) domains: Vec<Domain>,
    /// Compiled data templates per template scope (at most [`MAX_DOMAINS`] per family).
    pub(crate) plans: Vec<PlanScope>,
}

impl Exporter {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            last_seen: Instant::now(),
            domains: Vec::new(),
            plans: Vec::new(),
        }
    }

    /// The plans of a template scope, created when there is room.
    pub(crate) fn plans_mut(&mut self, family: Family, id: u32) -> Option<&mut PlanScope> {
        let at = match self
            .plans
            .iter()
            .position(|p| p.family == family && p.id == id)
        {
            Some(at) => at,
            None if self.plans.len() < 2 * MAX_DOMAINS => {
                self.plans.push(PlanScope::new(family, id));
                self.plans.len() - 1
            }
            None => return None,
        };
        self.plans.get_mut(at)
    }

    /// Forgets a scope's plans (the parser dropped or may have changed its templates).
    pub(crate) fn forget_plans(&mut self, family: Family, id: u32) {
        self.plans.retain(|p| p.family != family || p.id != id);
    }
}

/// The domain's state, created when there is room.
pub(crate) fn domain(domains: &mut Vec<Domain>, family: Family, id: u32) -> Option<&mut Domain> {
    let at = match domains
        .iter()
        .position(|d| d.family == family && d.id == id)
    {
        Some(at) => at,
        None if domains.len() < MAX_DOMAINS => {
            domains.push(Domain {
                family,
                id,
                default_sampling: None,
                system_init_ms: None,
                samplers: Vec::new(),
            });
            domains.len() - 1
        }
        None => return None,
    };
    domains.get_mut(at)
}

impl Domain {
    /// Learns from one options-data record: a sampler's rate (sampler table), a rate for the
    /// whole domain, or the boot time.
    pub(crate) fn learn(&mut self, f: &Fields, max_samplers: usize) {
        if let Some(rate) = f.sampling() {
            match f.sampler_id {
                Some(id) => {
                    if let Some(entry) = self.samplers.iter_mut().find(|(sid, _)| *sid == id) {
                        entry.1 = rate;
                    } else if max_samplers > 0 {
                        if self.samplers.len() >= max_samplers {
                            self.samplers.remove(0);
                        }
                        self.samplers.push((id, rate));
                    }
                }
                None => self.default_sampling = Some(rate),
            }
        }
        if let Some(t) = f.system_init_ms {
            self.system_init_ms = Some(t);
        }
    }
}
