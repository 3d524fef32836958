//! A validated set of playbooks: loading (all or nothing), cross-checks, matching.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::action::ActionSpec;
use crate::error::{ErrorKind, Issue, PlaybookError, PlaybookErrors};
use crate::model::{FindingFacts, Playbook, Step};
use crate::raw::RawPlaybook;
use crate::spans::SpanIndex;

/// The largest playbook file accepted (a playbook is a few hundred bytes).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// What the deployment knows, for checks a single file cannot make on its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validator {
    /// Configured webhook endpoint names; a `webhook` step must name one of them.
    pub webhook_endpoints: BTreeSet<String>,
    /// Known group names, when groups are to be checked (`match.groups`, `move_to_group`).
    pub known_groups: Option<BTreeSet<String>>,
    /// Finding kinds detection emits, when kinds are to be checked (`"*"` always passes).
    pub known_kinds: Option<BTreeSet<String>>,
}

impl Validator {
    pub(crate) fn check_action(&self, path: &str, action: &ActionSpec, issues: &mut Vec<Issue>) {
        match action {
            ActionSpec::Webhook { endpoint } if !self.webhook_endpoints.contains(endpoint) => {
                issues.push(Issue::new(
                    ErrorKind::UnknownReference,
                    format!("{path}.endpoint"),
                    format!(
                        "unknown webhook endpoint {endpoint:?} (configured: {})",
                        list(&self.webhook_endpoints)
                    ),
                ));
            }
            ActionSpec::MoveToGroup { group } => {
                self.check_group(&format!("{path}.group"), group.as_str(), issues)
            }
            _ => {}
        }
    }

    fn check_group(&self, path: &str, group: &str, issues: &mut Vec<Issue>) {
        if let Some(known) = &self.known_groups
            && !known.contains(group)
        {
            issues.push(Issue::new(
                ErrorKind::UnknownReference,
                path,
                format!("unknown group {group:?}"),
            ));
        }
    }

    fn check_playbook(&self, p: &Playbook) -> Vec<Issue> {
        let mut issues = Vec::new();
        if let Some(known) = &self.known_kinds {
            for (i, k) in p.matcher.kinds.iter().enumerate() {
                if k != "*" && !known.contains(k) {
                    issues.push(Issue::new(
                        ErrorKind::UnknownReference,
                        format!("match.kinds[{i}]"),
                        format!("unknown finding kind {k:?}"),
                    ));
                }
            }
        }
        for (i, g) in p.matcher.groups.iter().enumerate() {
            self.check_group(&format!("match.groups[{i}]"), g.as_str(), &mut issues);
        }
        for (i, step) in p.steps.iter().enumerate() {
            if let Step::Action { action, .. } = step {
                self.check_action(&format!("steps[{i}]"), action, &mut issues);
            }
        }
        issues
    }
}

fn list(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "none".to_owned()
    } else {
        set.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A loaded, validated set of playbooks, kept in the order they run: priority, then name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaybookSet {
    /// (source file or upload name, playbook), in run order.
    entries: Vec<(String, Playbook)>,
}

/// One parsed file: the playbook and where its name is written (for duplicate reports).
struct Parsed {
    playbook: Playbook,
    name_at: (Option<usize>, Option<usize>),
}

fn parse_text(
    file: &str,
    text: &str,
    validator: Option<&Validator>,
) -> Result<Parsed, Vec<PlaybookError>> {
    if text.len() > MAX_FILE_BYTES {
        return Err(vec![PlaybookError {
            file: file.to_owned(),
            line: None,
            column: None,
            path: String::new(),
            kind: ErrorKind::Invalid,
            message: format!("file larger than {MAX_FILE_BYTES} bytes"),
        }]);
    }
    let index = SpanIndex::parse(file, text).map_err(|e| vec![e])?;
    let raw: RawPlaybook = toml::from_str(text).map_err(|e| vec![index.serde_error(file, &e)])?;
    let mut issues = Vec::new();
    let playbook = match raw.into_playbook() {
        Ok(p) => Some(p),
        Err(found) => {
            issues = found;
            None
        }
    };
    if let (Some(p), Some(v)) = (&playbook, validator) {
        issues.extend(v.check_playbook(p));
    }
    match playbook {
        Some(playbook) if issues.is_empty() => {
            let at = index.issue_error(file, Issue::invalid("name", ""));
            Ok(Parsed {
                playbook,
                name_at: (at.line, at.column),
            })
        }
        _ => Err(issues
            .into_iter()
            .map(|i| index.issue_error(file, i))
            .collect()),
    }
}

impl PlaybookSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses and validates one playbook (an API upload, or a file on its own).
    /// `name_or_path` only labels the errors.
    pub fn parse_one(name_or_path: &str, text: &str) -> Result<Playbook, PlaybookErrors> {
        Self::parse_one_checked(name_or_path, text, None)
    }

    /// [`parse_one`](Self::parse_one), also checking references against `validator`.
    pub fn parse_one_with(
        name_or_path: &str,
        text: &str,
        validator: &Validator,
    ) -> Result<Playbook, PlaybookErrors> {
        Self::parse_one_checked(name_or_path, text, Some(validator))
    }

    fn parse_one_checked(
        name_or_path: &str,
        text: &str,
        validator: Option<&Validator>,
    ) -> Result<Playbook, PlaybookErrors> {
        parse_text(name_or_path, text, validator)
            .map(|p| p.playbook)
            .map_err(PlaybookErrors::sorted)
    }

    /// Builds a set from `(file name, text)` pairs: every file is parsed and checked, names
    /// must be unique across files, and any error anywhere refuses the whole set (every error
    /// is reported).
    pub fn from_sources<I, N, T>(
        sources: I,
        validator: Option<&Validator>,
    ) -> Result<Self, PlaybookErrors>
    where
        I: IntoIterator<Item = (N, T)>,
        N: AsRef<str>,
        T: AsRef<str>,
    {
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        let mut first_of: BTreeMap<String, String> = BTreeMap::new();
        for (file, text) in sources {
            let file = file.as_ref();
            match parse_text(file, text.as_ref(), validator) {
                Err(e) => errors.extend(e),
                Ok(parsed) => {
                    let name = parsed.playbook.name.clone();
                    if let Some(other) = first_of.get(&name) {
                        errors.push(PlaybookError {
                            file: file.to_owned(),
                            line: parsed.name_at.0,
                            column: parsed.name_at.1,
                            path: "name".to_owned(),
                            kind: ErrorKind::Duplicate,
                            message: format!("playbook name {name:?} is also used by {other}"),
                        });
                    } else {
                        first_of.insert(name, file.to_owned());
                        entries.push((file.to_owned(), parsed.playbook));
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(PlaybookErrors::sorted(errors));
        }
        Ok(Self::ordered(entries))
    }

    /// Builds a set from playbooks already parsed (e.g. stored uploads), with the same checks
    /// as loading files; errors name the playbook instead of a file and carry no position.
    pub fn from_playbooks(
        playbooks: Vec<Playbook>,
        validator: Option<&Validator>,
    ) -> Result<Self, PlaybookErrors> {
        let mut errors = Vec::new();
        let mut seen = BTreeSet::new();
        let mut entries = Vec::with_capacity(playbooks.len());
        for p in playbooks {
            if let Err(e) = p.validate() {
                errors.extend(e);
                continue;
            }
            let issues = validator.map(|v| v.check_playbook(&p)).unwrap_or_default();
            if !issues.is_empty() {
                errors.extend(issues.into_iter().map(|i| PlaybookError {
                    file: p.name.clone(),
                    line: None,
                    column: None,
                    path: i.path,
                    kind: i.kind,
                    message: i.message,
                }));
                continue;
            }
            if !seen.insert(p.name.clone()) {
                errors.push(PlaybookError {
                    file: p.name.clone(),
                    line: None,
                    column: None,
                    path: "name".to_owned(),
                    kind: ErrorKind::Duplicate,
                    message: format!("playbook name {:?} is used twice", p.name),
                });
                continue;
            }
            entries.push((p.name.clone(), p));
        }
        if !errors.is_empty() {
            return Err(PlaybookErrors::sorted(errors));
        }
        Ok(Self::ordered(entries))
    }

    /// Loads every `*.toml` file directly in `dir` (not subdirectories; names starting with
    /// `.` are skipped, as editors leave those). All or nothing: any error refuses the set.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, PlaybookErrors> {
        Self::load_dir_checked(dir.as_ref(), None)
    }

    /// [`load_dir`](Self::load_dir), also checking references against `validator`.
    pub fn load_dir_with(
        dir: impl AsRef<Path>,
        validator: &Validator,
    ) -> Result<Self, PlaybookErrors> {
        Self::load_dir_checked(dir.as_ref(), Some(validator))
    }

    fn load_dir_checked(dir: &Path, validator: Option<&Validator>) -> Result<Self, PlaybookErrors> {
        let io_error = |file: &Path, e: std::io::Error| PlaybookError {
            file: file.display().to_string(),
            line: None,
            column: None,
            path: String::new(),
            kind: ErrorKind::Io,
            message: e.to_string(),
        };
        let read = std::fs::read_dir(dir).map_err(|e| PlaybookErrors(vec![io_error(dir, e)]))?;
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for entry in read {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    errors.push(io_error(dir, e));
                    continue;
                }
            };
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            files.push(path);
        }
        files.sort();
        let mut sources = Vec::with_capacity(files.len());
        for path in files {
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push((path.display().to_string(), text)),
                Err(e) => errors.push(io_error(&path, e)),
            }
        }
        match Self::from_sources(sources, validator) {
            Ok(set) if errors.is_empty() => Ok(set),
            Ok(_) => Err(PlaybookErrors::sorted(errors)),
            Err(e) => {
                errors.extend(e);
                Err(PlaybookErrors::sorted(errors))
            }
        }
    }

    fn ordered(mut entries: Vec<(String, Playbook)>) -> Self {
        entries.sort_by(|(_, a), (_, b)| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
        Self { entries }
    }

    /// How many playbooks (enabled or not).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every playbook in run order (priority, then name).
    pub fn iter(&self) -> impl Iterator<Item = &Playbook> {
        self.entries.iter().map(|(_, p)| p)
    }

    /// The playbook called `name`.
    pub fn get(&self, name: &str) -> Option<&Playbook> {
        self.iter().find(|p| p.name == name)
    }

    /// The file (or upload name) a playbook came from.
    pub fn source_of(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, p)| p.name == name)
            .map(|(s, _)| s.as_str())
    }

    /// Whether some enabled playbook may answer a finding of this kind, severity and scope
    /// (its device's profile, groups and tags not yet known).
    pub fn may_match(&self, facts: &FindingFacts) -> bool {
        self.iter().any(|p| p.enabled && p.matcher.may_match(facts))
    }

    /// The enabled playbooks that answer a finding, in run order (priority, then name).
    pub fn matching(&self, facts: &FindingFacts) -> Vec<&Playbook> {
        self.iter().filter(|p| p.matches(facts)).collect()
    }
}
