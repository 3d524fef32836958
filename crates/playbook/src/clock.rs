//! Time arithmetic and serialisation without reading a clock.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, Time};

use crate::duration::DurationSpec;

/// `now + d`, saturating at the end of representable time instead of panicking.
pub(crate) fn add(now: OffsetDateTime, d: DurationSpec) -> OffsetDateTime {
    now.checked_add(d.to_time())
        .unwrap_or_else(|| Date::MAX.with_time(Time::MAX).assume_utc())
}

/// RFC 3339 text, for timelines.
pub(crate) mod rfc3339 {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}
