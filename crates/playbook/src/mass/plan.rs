//! A mass action: which devices, what to do, and how carefully (waves, pace, abort rule,
//! approval above a blast radius).

use serde::{Deserialize, Serialize};

use crate::action::ActionSpec;
use crate::duration::DurationSpec;
use crate::error::{ErrorKind, Issue, PlaybookError, PlaybookErrors};
use crate::mass::Selector;
use crate::set::Validator;
use crate::spans::SpanIndex;

/// The most actions one mass plan may apply per device.
pub const MAX_MASS_ACTIONS: usize = 16;
/// The most waves.
pub const MAX_WAVES: usize = 32;
/// The fastest pace accepted, in targets per second.
pub const MAX_RATE_PER_SEC: u32 = 1_000_000;
/// The longest pause between waves.
pub const MAX_PAUSE: DurationSpec = DurationSpec::from_secs(24 * 3_600);

/// Where a wave ends, cumulatively: `percent = 10` ends once 10% of all targets were
/// dispatched, `count = 500` once 500 were. Targets left after the last wave form one more,
/// final wave, so a plan never silently leaves devices out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Wave {
    /// A share of all targets, in (0, 100].
    Percent(f64),
    /// A number of targets, at least 1.
    Count(u64),
}

/// When to stop a mass run by itself. Checked on every reported result and at the end of
/// every wave; a run aborts when either limit is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbortCondition {
    /// Failures over results, in [0, 1]; only judged once `min_sample` results are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failure_ratio: Option<f64>,
    /// Failures allowed in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<u64>,
    /// Results needed before the ratio is judged.
    #[serde(default = "default_min_sample")]
    pub min_sample: u64,
}

fn default_min_sample() -> u64 {
    10
}

impl Default for AbortCondition {
    /// Without an `abort` table: abort above 10% failures once 10 results are in.
    fn default() -> Self {
        Self {
            max_failure_ratio: Some(0.1),
            max_failures: None,
            min_sample: default_min_sample(),
        }
    }
}

impl AbortCondition {
    /// A condition that never aborts (undo runs use it: stopping half-way through an undo
    /// helps nobody).
    pub fn never() -> Self {
        Self {
            max_failure_ratio: None,
            max_failures: None,
            min_sample: 0,
        }
    }

    /// Why a run with these counts must stop, if it must.
    pub fn reason(&self, succeeded: u64, failed: u64) -> Option<String> {
        if let Some(max) = self.max_failures
            && failed > max
        {
            return Some(format!("{failed} failures, more than the {max} allowed"));
        }
        let done = succeeded.saturating_add(failed);
        if let Some(ratio) = self.max_failure_ratio
            && done > 0
            && done >= self.min_sample
        {
            // Integer-exact comparison failed/done > ratio, with the ratio in millionths.
            let millionths = (ratio.clamp(0.0, 1.0) * 1e6).round() as u128;
            if u128::from(failed) * 1_000_000 > millionths * u128::from(done) {
                return Some(format!(
                    "{failed} of {done} failed, more than the {:.2}% allowed",
                    ratio * 100.0
                ));
            }
        }
        None
    }
}

/// A mass action plan. Parse it with [`MassPlan::from_json`] or [`MassPlan::from_toml`],
/// which validate it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MassPlan {
    /// Which devices.
    pub selector: Selector,
    /// What to do to each, in order.
    pub actions: Vec<ActionSpec>,
    /// Cumulative wave ends; empty: one wave of everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<Wave>,
    /// The pause after each wave completes, before the next starts.
    #[serde(default)]
    pub pause_between_waves: DurationSpec,
    /// The most targets dispatched per second (bursts up to one second's worth).
    pub rate_per_sec: u32,
    /// When to stop by itself.
    #[serde(default)]
    pub abort: AbortCondition,
    /// Above this many targets, the run waits for an approval before dispatching anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blast_radius_cap: Option<u64>,
}

/// A mass plan's numbers for a given target count, without running it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MassDryRun {
    /// How many targets.
    pub targets: u64,
    /// Targets per wave, in order (empty waves dropped).
    pub wave_sizes: Vec<u64>,
    /// Whether the run would wait for an approval first.
    pub needs_approval: bool,
    /// A lower bound on the run's duration in seconds: pace and pauses, not action latency.
    pub min_duration_secs: u64,
}

impl MassPlan {
    /// Checks the plan, and its references against `validator` when given (parsing does
    /// this; call it for plans built in code). Errors name the field path, under the file
    /// name `mass plan`.
    pub fn validate(&self, validator: Option<&Validator>) -> Result<(), PlaybookErrors> {
        let issues = self.issues(validator);
        if issues.is_empty() {
            return Ok(());
        }
        Err(PlaybookErrors::sorted(
            issues
                .into_iter()
                .map(|i| PlaybookError {
                    file: "mass plan".to_owned(),
                    line: None,
                    column: None,
                    path: i.path,
                    kind: i.kind,
                    message: i.message,
                })
                .collect(),
        ))
    }

    fn issues(&self, validator: Option<&Validator>) -> Vec<Issue> {
        let mut issues = Vec::new();
        self.selector.check("selector", &mut issues);
        if self.actions.is_empty() {
            issues.push(Issue::new(
                ErrorKind::MissingField,
                "actions",
                "a mass plan needs at least one action",
            ));
        }
        if self.actions.len() > MAX_MASS_ACTIONS {
            issues.push(Issue::invalid(
                "actions",
                format!("at most {MAX_MASS_ACTIONS} actions"),
            ));
        }
        if let Some(v) = validator {
            for (i, a) in self.actions.iter().enumerate() {
                v.check_action(&format!("actions[{i}]"), a, &mut issues);
            }
        }
        self.check_waves(&mut issues);
        if self.pause_between_waves > MAX_PAUSE {
            issues.push(Issue::invalid(
                "pause_between_waves",
                format!(
                    "a pause of \"{}\" is longer than the {MAX_PAUSE} maximum",
                    self.pause_between_waves
                ),
            ));
        }
        if self.rate_per_sec == 0 || self.rate_per_sec > MAX_RATE_PER_SEC {
            issues.push(Issue::invalid(
                "rate_per_sec",
                format!("must be between 1 and {MAX_RATE_PER_SEC}"),
            ));
        }
        if let Some(r) = self.abort.max_failure_ratio
            && !(0.0..=1.0).contains(&r)
        {
            issues.push(Issue::invalid(
                "abort.max_failure_ratio",
                "must be between 0 and 1",
            ));
        }
        issues
    }

    fn check_waves(&self, issues: &mut Vec<Issue>) {
        if self.waves.len() > MAX_WAVES {
            issues.push(Issue::invalid(
                "waves",
                format!("at most {MAX_WAVES} waves"),
            ));
        }
        let percents = self
            .waves
            .iter()
            .filter(|w| matches!(w, Wave::Percent(_)))
            .count();
        if percents != 0 && percents != self.waves.len() {
            issues.push(Issue::invalid(
                "waves",
                "waves are all `percent` or all `count`, not a mix",
            ));
            return;
        }
        let mut previous = 0.0_f64;
        for (i, w) in self.waves.iter().enumerate() {
            let (value, ok) = match *w {
                Wave::Percent(p) => (p, p.is_finite() && p > 0.0 && p <= 100.0),
                Wave::Count(c) => (c as f64, c > 0),
            };
            if !ok {
                issues.push(Issue::invalid(
                    format!("waves[{i}]"),
                    "a percent is in (0, 100], a count at least 1",
                ));
            } else if value <= previous {
                issues.push(Issue::invalid(
                    format!("waves[{i}]"),
                    "waves are cumulative: each ends further than the one before",
                ));
            }
            previous = previous.max(value);
        }
    }

    /// Where each wave ends (exclusive index into the sorted targets) for `n` targets:
    /// strictly increasing, the last one `n`. Empty when `n` is 0.
    pub fn wave_ends(&self, n: usize) -> Vec<usize> {
        let mut ends = Vec::with_capacity(self.waves.len() + 1);
        let mut last = 0;
        for w in &self.waves {
            let end = match *w {
                Wave::Percent(p) => {
                    let share = (n as f64 * p.clamp(0.0, 100.0) / 100.0).ceil();
                    (share as usize).max(1)
                }
                Wave::Count(c) => usize::try_from(c).unwrap_or(usize::MAX),
            }
            .min(n);
            if end > last {
                ends.push(end);
                last = end;
            }
        }
        if last < n {
            ends.push(n);
        }
        ends
    }

    /// The numbers of running this plan on `targets` targets.
    pub fn dry_run(&self, targets: u64) -> MassDryRun {
        let n = usize::try_from(targets).unwrap_or(usize::MAX);
        let ends = self.wave_ends(n);
        let mut start = 0;
        let wave_sizes: Vec<u64> = ends
            .iter()
            .map(|&end| {
                let size = (end - start) as u64;
                start = end;
                size
            })
            .collect();
        let rate = u64::from(self.rate_per_sec.max(1));
        // The first second's worth goes out at once; the rest at the pace.
        let pacing: u64 = wave_sizes
            .iter()
            .map(|s| s.saturating_sub(rate).div_ceil(rate))
            .sum();
        let pauses =
            self.pause_between_waves.as_secs() * (wave_sizes.len().saturating_sub(1) as u64);
        MassDryRun {
            targets,
            needs_approval: self.blast_radius_cap.is_some_and(|cap| targets > cap),
            wave_sizes,
            min_duration_secs: pacing.saturating_add(pauses),
        }
    }

    /// Parses and validates a JSON plan (an API body); `source` labels the errors.
    pub fn from_json(
        source: &str,
        text: &str,
        validator: Option<&Validator>,
    ) -> Result<Self, PlaybookErrors> {
        let plan: Self = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            // serde_json appends " at line L column C"; positions are reported separately.
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m)
                .to_owned();
            let kind = if e.is_syntax() || e.is_eof() {
                ErrorKind::Syntax
            } else if message.starts_with("unknown field") {
                ErrorKind::UnknownField
            } else if message.starts_with("missing field") {
                ErrorKind::MissingField
            } else {
                ErrorKind::Invalid
            };
            PlaybookErrors(vec![PlaybookError {
                file: source.to_owned(),
                line: Some(e.line()),
                column: Some(e.column()),
                path: String::new(),
                kind,
                message,
            }])
        })?;
        plan.validate(validator).map_err(|e| {
            PlaybookErrors(
                e.into_iter()
                    .map(|e| PlaybookError {
                        file: source.to_owned(),
                        ..e
                    })
                    .collect(),
            )
        })?;
        Ok(plan)
    }

    /// Parses and validates a TOML plan; errors carry line, column and field path.
    pub fn from_toml(
        source: &str,
        text: &str,
        validator: Option<&Validator>,
    ) -> Result<Self, PlaybookErrors> {
        let index = SpanIndex::parse(source, text).map_err(|e| PlaybookErrors(vec![e]))?;
        let plan: Self = toml::from_str(text)
            .map_err(|e| PlaybookErrors(vec![index.serde_error(source, &e)]))?;
        let issues = plan.issues(validator);
        if !issues.is_empty() {
            return Err(PlaybookErrors::sorted(
                issues
                    .into_iter()
                    .map(|i| index.issue_error(source, i))
                    .collect(),
            ));
        }
        Ok(plan)
    }

    /// The plan that undoes this one: its reversible actions in reverse order, one wave, the
    /// same pace, no abort rule and no approval (an undo is the way back, not a new risk).
    pub fn undo_plan(&self) -> Self {
        Self {
            selector: self.selector.clone(),
            actions: self
                .actions
                .iter()
                .rev()
                .filter(|a| a.is_reversible())
                .cloned()
                .collect(),
            waves: Vec::new(),
            pause_between_waves: DurationSpec::from_secs(0),
            rate_per_sec: self.rate_per_sec,
            abort: AbortCondition::never(),
            blast_radius_cap: None,
        }
    }
}
