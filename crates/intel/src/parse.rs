//! Feed file formats, as pure functions over bytes so they can be fuzzed and tested without
//! files.
//!
//! Both formats are line-oriented: `\n` or `\r\n` line ends, a UTF-8 byte-order mark is
//! skipped, `#` starts a comment anywhere on a line, blank lines are ignored, and an entry is
//! what is left after trimming. They differ only in where the family name comes from:
//!
//! * [`Format::Plain`]: the family configured for the feed (default: the feed's name).
//! * [`Format::Maltrail`]: the file name without extension and platform prefix
//!   (`elf_mirai.txt` is `mirai`), with `# Aliases: a, b` in the header kept as aliases.
//!
//! In either, a `# Family: name` (or `Threat:` / `Name:`) comment before the first entry
//! overrides the family. Plain lists also accept hosts-file lines (`0.0.0.0 evil.com`).

use std::sync::Arc;

use serde::Deserialize;

use crate::error::{BadLine, EntryError};
use crate::indicator::Indicator;

/// How many bad lines a [`ParsedFile`] keeps with details; the rest are only counted, so a
/// binary file fed by mistake costs a counter, not a vector as long as the file.
pub const MAX_BAD_LINE_DETAILS: usize = 32;

/// Prefixes Maltrail puts before a family name to say which platform it infects.
const PLATFORM_PREFIXES: [&str; 5] = ["elf_", "android_", "osx_", "win_", "linux_"];

/// Addresses hosts-file blocklists point names at.
const SINKHOLES: [&str; 4] = ["0.0.0.0", "127.0.0.1", "::", "::1"];

/// A feed file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One IP, CIDR or domain (or any other indicator shape) per line.
    #[default]
    Plain,
    /// Maltrail's static trails: the family comes from the file name.
    Maltrail,
}

/// Where an indicator came from; shared by every entry of one file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    /// The configured feed name.
    pub feed: Box<str>,
    /// The malware family or threat name.
    pub family: Box<str>,
    /// Other names of the family, from the file header.
    pub aliases: Box<[Box<str>]>,
    /// The file name within the feed (empty for in-memory input).
    pub file: Box<str>,
}

/// What one file yielded.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    /// Provenance shared by all entries.
    pub source: Arc<Source>,
    /// Entries in file order, duplicates included.
    pub entries: Vec<Indicator>,
    /// Number of bad lines.
    pub bad_line_count: usize,
    /// The first [`MAX_BAD_LINE_DETAILS`] bad lines.
    pub bad_lines: Vec<BadLine>,
    /// Number of lines read.
    pub lines: usize,
}

/// Parses one file. `file_name` names the family for Maltrail; `family` is the configured
/// family for plain lists (default: the feed name).
pub fn parse(
    format: Format,
    bytes: &[u8],
    feed: &str,
    file_name: &str,
    family: Option<&str>,
) -> ParsedFile {
    let default_family = match format {
        Format::Plain => family.unwrap_or(feed).to_owned(),
        Format::Maltrail => family
            .map(str::to_owned)
            .unwrap_or_else(|| family_from_file_name(file_name).unwrap_or_else(|| feed.into())),
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut header_family = None;
    let mut aliases = Vec::new();
    let mut in_header = true;
    let mut out = ParsedFile {
        source: Arc::new(Source {
            feed: feed.into(),
            family: "".into(),
            aliases: Box::new([]),
            file: file_name.into(),
        }),
        entries: Vec::new(),
        bad_line_count: 0,
        bad_lines: Vec::new(),
        lines: 0,
    };
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        out.lines = index + 1;
        let trimmed = raw.trim_ascii();
        if let Some(comment) = trimmed.strip_prefix(b"#") {
            if in_header {
                let comment = String::from_utf8_lossy(comment);
                read_header(&comment, &mut header_family, &mut aliases);
            }
            continue;
        }
        let Ok(line) = std::str::from_utf8(trimmed) else {
            out.bad(index + 1, EntryError::NotUtf8);
            continue;
        };
        let entry = line.split_once('#').map_or(line, |(e, _)| e).trim();
        if entry.is_empty() {
            continue;
        }
        in_header = false;
        let entry = match format {
            Format::Plain => hosts_file_name(entry).unwrap_or(entry),
            Format::Maltrail => entry,
        };
        match Indicator::parse(entry) {
            Ok(indicator) => out.entries.push(indicator),
            Err(error) => out.bad(index + 1, error),
        }
    }
    if bytes.ends_with(b"\n") || bytes.is_empty() {
        out.lines = out.lines.saturating_sub(1);
    }
    out.source = Arc::new(Source {
        feed: feed.into(),
        family: header_family.unwrap_or(default_family).into(),
        aliases: aliases.into_iter().map(String::into_boxed_str).collect(),
        file: file_name.into(),
    });
    out
}

impl ParsedFile {
    fn bad(&mut self, line: usize, error: EntryError) {
        self.bad_line_count += 1;
        if self.bad_lines.len() < MAX_BAD_LINE_DETAILS {
            self.bad_lines.push(BadLine { line, error });
        }
    }
}

/// `elf_mirai.txt` is `mirai`; `None` for a name with nothing left.
pub fn family_from_file_name(file_name: &str) -> Option<String> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
    let stem = stem.to_ascii_lowercase();
    let family = PLATFORM_PREFIXES
        .iter()
        .find_map(|p| stem.strip_prefix(p))
        .unwrap_or(&stem);
    (!family.is_empty()).then(|| family.to_owned())
}

/// Reads `Family:`/`Threat:`/`Name:` and `Aliases:` from a header comment.
fn read_header(comment: &str, family: &mut Option<String>, aliases: &mut Vec<String>) {
    let Some((key, value)) = comment.split_once(':') else {
        return;
    };
    let key = key.trim().to_ascii_lowercase();
    let value = value.trim();
    match key.as_str() {
        "family" | "threat" | "name" if !value.is_empty() && family.is_none() => {
            *family = Some(value.to_ascii_lowercase());
        }
        "aliases" | "alias" => aliases.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
        ),
        _ => {}
    }
}

/// `0.0.0.0 evil.com` is `evil.com`; anything else is left alone.
fn hosts_file_name(entry: &str) -> Option<&str> {
    let mut words = entry.split_ascii_whitespace();
    let (first, second) = (words.next()?, words.next()?);
    (words.next().is_none() && SINKHOLES.contains(&first)).then_some(second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_list_with_comments_crlf_and_bad_lines() {
        let text = "\u{feff}# Family: Testbot\r\n\r\n1.2.3.4\r\n10.0.0.0/8  # lab\r\nEvil.COM.\r\n\
                    not a line\r\n0.0.0.0 sink.example.org\r\n999.1.1.1\r\n   \r\n";
        let parsed = parse(Format::Plain, text.as_bytes(), "lists", "x.txt", None);
        assert_eq!(&*parsed.source.family, "testbot");
        assert_eq!(&*parsed.source.feed, "lists");
        let shown: Vec<String> = parsed.entries.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["1.2.3.4", "10.0.0.0/8", "evil.com", "sink.example.org"]
        );
        assert_eq!(parsed.bad_line_count, 2);
        assert_eq!(parsed.bad_lines[0].line, 6);
        assert_eq!(parsed.bad_lines[1].line, 8);
        assert_eq!(parsed.lines, 9);
    }

    #[test]
    fn maltrail_family_and_aliases() {
        let text = "# Copyright\n# Aliases: kaiten, tsunami\n\n# Reference: http://x.org/a:b\n\
                    111.230.241.23:2407\nhttp://1.2.3.4\n/bins/x.arm\n# Name: late\nevil.cc\n";
        let parsed = parse(
            Format::Maltrail,
            text.as_bytes(),
            "maltrail",
            "elf_kaiten.txt",
            None,
        );
        assert_eq!(&*parsed.source.family, "kaiten");
        assert_eq!(&*parsed.source.aliases, ["kaiten".into(), "tsunami".into()]);
        assert_eq!(parsed.entries.len(), 4);
        assert_eq!(parsed.bad_line_count, 0);
    }

    #[test]
    fn family_names() {
        assert_eq!(
            family_from_file_name("elf_mirai.txt").as_deref(),
            Some("mirai")
        );
        assert_eq!(
            family_from_file_name("dir/meris.txt").as_deref(),
            Some("meris")
        );
        assert_eq!(
            family_from_file_name("Android_Hydra").as_deref(),
            Some("hydra")
        );
        assert_eq!(family_from_file_name(".txt"), None);
    }

    #[test]
    fn non_utf8_line_is_counted() {
        let parsed = parse(Format::Plain, b"a.com\n\xff\xfe\nb.com", "f", "", None);
        assert_eq!(parsed.entries.len(), 2);
        assert_eq!(
            parsed.bad_lines,
            [BadLine {
                line: 2,
                error: EntryError::NotUtf8
            }]
        );
    }
}
