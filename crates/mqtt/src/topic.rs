//! Device identity from the topic: a pattern such as `rampart/devices/{device}/metrics` names
//! the level that carries the device id, and yields the subscription filter
//! (`rampart/devices/+/metrics`).

use rampart_core::DeviceId;

/// The placeholder for the device id level.
pub const DEVICE_PLACEHOLDER: &str = "{device}";

/// A topic pattern with exactly one `{device}` level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPattern {
    pattern: String,
    filter: String,
    /// Index of the `{device}` level.
    device_level: usize,
}

/// Why a topic pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicPatternError {
    /// Empty, or longer than MQTT's 65535 bytes.
    #[error("topic pattern must be 1 to 65535 bytes")]
    Length,
    /// The pattern has no `{device}` level, or more than one.
    #[error("topic pattern {0:?} must contain exactly one level that is exactly {{device}}")]
    Placeholder(String),
    /// MQTT wildcards or NUL in the pattern: the filter is derived from it.
    #[error("topic pattern {0:?} must not contain '+', '#' or NUL")]
    Wildcard(String),
}

/// Why a received topic yields no device id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The topic does not have the pattern's shape.
    #[error("topic {0:?} does not match the pattern")]
    Mismatch(String),
    /// The device level is not a valid device id.
    #[error("topic device id {0:?} is not a valid device id")]
    DeviceId(String),
}

impl TopicPattern {
    /// Parses a pattern; its levels are separated by `/`, and one of them is `{device}`.
    pub fn parse(pattern: &str) -> Result<Self, TopicPatternError> {
        if pattern.is_empty() || pattern.len() > 65_535 {
            return Err(TopicPatternError::Length);
        }
        if pattern.contains(['+', '#', '\0']) {
            return Err(TopicPatternError::Wildcard(crate::error::excerpt(pattern)));
        }
        let mut device_level = None;
        for (i, level) in pattern.split('/').enumerate() {
            if level.contains(DEVICE_PLACEHOLDER) {
                if level != DEVICE_PLACEHOLDER || device_level.is_some() {
                    return Err(TopicPatternError::Placeholder(crate::error::excerpt(
                        pattern,
                    )));
                }
                device_level = Some(i);
            }
        }
        let device_level = device_level
            .ok_or_else(|| TopicPatternError::Placeholder(crate::error::excerpt(pattern)))?;
        let filter = pattern
            .split('/')
            .enumerate()
            .map(|(i, l)| if i == device_level { "+" } else { l })
            .collect::<Vec<_>>()
            .join("/");
        Ok(Self {
            pattern: pattern.to_owned(),
            filter,
            device_level,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The MQTT subscription filter: the pattern with `{device}` replaced by `+`.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The topic a device with this id publishes to.
    pub fn topic_for(&self, device_id: &str) -> String {
        self.pattern.replacen(DEVICE_PLACEHOLDER, device_id, 1)
    }

    /// The device id a topic names, checked against [`DeviceId`]'s rules (1-128 letters,
    /// digits and `-_.:=@`).
    pub fn device_id<'t>(&self, topic: &'t str) -> Result<&'t str, TopicError> {
        let mut found = None;
        let mut levels = self.pattern.split('/').enumerate();
        let mut topic_levels = topic.split('/');
        loop {
            match (levels.next(), topic_levels.next()) {
                (None, None) => break,
                (Some((i, _)), Some(t)) if i == self.device_level => found = Some(t),
                (Some((_, p)), Some(t)) if p == t => {}
                _ => return Err(TopicError::Mismatch(crate::error::excerpt(topic))),
            }
        }
        let id = found.ok_or_else(|| TopicError::Mismatch(crate::error::excerpt(topic)))?;
        match DeviceId::parse(id) {
            Ok(parsed) if parsed.as_str() == id => Ok(id),
            _ => Err(TopicError::DeviceId(crate::error::excerpt(id))),
        }
    }
}

impl std::fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_and_identity() {
        let p = TopicPattern::parse("rampart/devices/{device}/metrics").unwrap();
        assert_eq!(p.filter(), "rampart/devices/+/metrics");
        assert_eq!(
            p.device_id("rampart/devices/meter-1/metrics"),
            Ok("meter-1")
        );
        assert_eq!(p.topic_for("meter-1"), "rampart/devices/meter-1/metrics");
        assert!(matches!(
            p.device_id("rampart/devices/meter-1/other"),
            Err(TopicError::Mismatch(_))
        ));
        assert!(matches!(
            p.device_id("rampart/devices/meter-1/metrics/x"),
            Err(TopicError::Mismatch(_))
        ));
        assert!(matches!(
            p.device_id("rampart/devices"),
            Err(TopicError::Mismatch(_))
        ));
        assert!(matches!(
            p.device_id("rampart/devices//metrics"),
            Err(TopicError::DeviceId(_))
        ));
        assert!(matches!(
            p.device_id("rampart/devices/a b/metrics"),
            Err(TopicError::DeviceId(_))
        ));
        assert!(matches!(
            p.device_id("rampart/devices/ ab/metrics"),
            Err(TopicError::DeviceId(_))
        ));
        let first = TopicPattern::parse("{device}").unwrap();
        assert_eq!(first.filter(), "+");
        assert_eq!(first.device_id("urn:dev:mac=0011"), Ok("urn:dev:mac=0011"));
    }

    #[test]
    fn bad_patterns() {
        for bad in [
            "",
            "rampart/devices/metrics",
            "a/{device}/{device}",
            "a/x{device}/b",
            "a/+/{device}",
            "a/{device}/#",
        ] {
            assert!(TopicPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
