//! Free text from findings and operators: bounded, and without characters that break a log
//! line, a CEF record or a PostgreSQL text value (NUL).

use rampart_core::ValidationError;

/// Longest title.
pub(crate) const TITLE_MAX: usize = 256;
/// Longest finding summary kept on the timeline.
pub(crate) const SUMMARY_MAX: usize = 1024;
/// Longest note.
pub(crate) const NOTE_MAX: usize = 8192;
/// Longest actor, assignee, kind, finding id or action name.
pub(crate) const NAME_MAX: usize = 128;
/// Longest campaign key.
pub(crate) const KEY_MAX: usize = 256;

/// One line of machine-supplied text: control characters become spaces, surrounding space is
/// trimmed, and at most `max` characters are kept.
pub(crate) fn line(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    cleaned.trim().to_owned()
}

/// An operator's single-line value (assignee): refused rather than altered.
pub(crate) fn name(field: &'static str, s: &str) -> Result<String, ValidationError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ValidationError::Missing { field });
    }
    if s.chars().count() > NAME_MAX || s.chars().any(char::is_control) {
        return Err(ValidationError::Invalid {
            field,
            value: s.chars().take(64).collect(),
            reason: "must be at most 128 characters without control characters",
        });
    }
    Ok(s.to_owned())
}

/// An operator's note: several lines allowed, other control characters refused.
pub(crate) fn note(s: &str) -> Result<String, ValidationError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ValidationError::Missing { field: "note" });
    }
    if s.chars().count() > NOTE_MAX
        || s.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ValidationError::Invalid {
            field: "note",
            value: s.chars().take(64).collect(),
            reason: "must be at most 8192 characters without control characters other than line breaks and tabs",
        });
    }
    Ok(s.to_owned())
}

/// The actor of an entry: machine or operator supplied, cleaned rather than refused (the
/// action already happened; the record must not be lost over a bad name).
pub(crate) fn actor(by: Option<&str>) -> Option<String> {
    by.map(|b| line(b, NAME_MAX)).filter(|b| !b.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_and_refusing() {
        assert_eq!(line(" a\u{0}b\nc ", 10), "a b c");
        assert_eq!(line("ééé", 2), "éé");
        assert!(name("assignee", "").is_err());
        assert!(name("assignee", "a\tb").is_err());
        assert_eq!(name("assignee", " alice ").unwrap(), "alice");
        assert!(note("line 1\nline 2").is_ok());
        assert!(note("bell\u{7}").is_err());
        assert_eq!(actor(Some("\u{0}")), None);
    }
}
