//! Changing the rules of a running shard: the state of unchanged rules carries over, the
//! active alarms of deleted or redefined rules are cleared (with an event, so everything
//! downstream of the findings learns it).

use std::sync::Arc;

use super::{Shard, retire};
use crate::finding::{FindingEvent, FindingKind};
use crate::rules::RuleConfig;

impl Shard {
    /// The rules this shard evaluates.
    pub fn rules(&self) -> &RuleConfig {
        &self.rule_set
    }

    /// Replaces the rules evaluated from the next observation on. `rules` must have been
    /// validated (see [`RuleConfig::validate`]). A rule whose definition did not change keeps
    /// its counters, active alarms and population; the active alarms of a deleted or
    /// redefined rule are cleared, a [`FindingEvent::Cleared`] each, at the shard's latest
    /// event time.
    pub fn set_rules(&mut self, rules: Arc<RuleConfig>, out: &mut Vec<FindingEvent>) {
        if *rules == *self.rule_set {
            self.rule_set = rules;
            return;
        }
        let gone = self.rules.retarget(&self.rule_set.rules, &rules.rules);
        self.rule_set = rules;
        let at = if self.max_seen == i64::MIN {
            0
        } else {
            self.max_seen
        };
        self.clear_rule_alarms(&gone, at, Some(out));
        self.take_updates(out);
    }

    /// Moves restored rule state saved under the rules `saved` to the running ones; alarms
    /// of rules that no longer stand are dropped without events (nothing downstream has
    /// seen them since the restart).
    pub(crate) fn adopt_rules(&mut self, saved: &RuleConfig) {
        let running = Arc::clone(&self.rule_set);
        let gone = self.rules.retarget(&saved.rules, &running.rules);
        self.clear_rule_alarms(&gone, self.max_seen.max(0), None);
    }

    fn clear_rule_alarms(
        &mut self,
        names: &[String],
        at: i64,
        mut out: Option<&mut Vec<FindingEvent>>,
    ) {
        if names.is_empty() {
            return;
        }
        let gone = |rule: Option<&str>| rule.is_some_and(|r| names.iter().any(|n| n == r));
        for dev in self.devices.values_mut() {
            dev.alarms.retain(|a| {
                if a.kind != FindingKind::Rule || !gone(a.rule.as_deref()) {
                    return true;
                }
                let (findings, stats) = (&mut self.findings, &mut self.stats);
                retire(findings, stats, &self.updates, a, at, out.as_deref_mut());
                false
            });
        }
    }
}
