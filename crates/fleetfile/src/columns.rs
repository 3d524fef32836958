//! The columns of a fleet file: CSV header names and JSON Lines keys are the same words.

/// One column of a fleet file. The discriminant is the slot index in a parsed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// Device identifier; required, and the first column in CSV.
    DeviceId,
    /// Human name.
    Name,
    /// Device class.
    Profile,
    /// SIM subscriber identity.
    Imsi,
    /// SIM card identifier.
    Iccid,
    /// SIM phone number.
    Msisdn,
    /// `none`, `fixed` or `learn`.
    ImeiPolicy,
    /// IMEIs the SIM may be used in.
    AllowedImeis,
    /// Static IP addresses or CIDR networks of the device.
    Ips,
    /// Free-form tags.
    Tags,
    /// Firmware version.
    Firmware,
    /// Groups the device belongs to (optional column).
    Groups,
    /// Hardware address (optional column).
    Mac,
    /// Lifecycle state (optional column).
    State,
}

/// Number of columns; the size of a parsed row.
pub(crate) const COLUMN_COUNT: usize = 14;

impl Column {
    /// All columns in the order the writers emit them.
    pub const ALL: [Column; COLUMN_COUNT] = [
        Column::DeviceId,
        Column::Name,
        Column::Profile,
        Column::Imsi,
        Column::Iccid,
        Column::Msisdn,
        Column::ImeiPolicy,
        Column::AllowedImeis,
        Column::Ips,
        Column::Tags,
        Column::Firmware,
        Column::Groups,
        Column::Mac,
        Column::State,
    ];

    /// The header name / JSON key.
    pub fn name(self) -> &'static str {
        match self {
            Column::DeviceId => "device_id",
            Column::Name => "name",
            Column::Profile => "profile",
            Column::Imsi => "imsi",
            Column::Iccid => "iccid",
            Column::Msisdn => "msisdn",
            Column::ImeiPolicy => "imei_policy",
            Column::AllowedImeis => "allowed_imeis",
            Column::Ips => "ips",
            Column::Tags => "tags",
            Column::Firmware => "firmware",
            Column::Groups => "groups",
            Column::Mac => "mac",
            Column::State => "state",
        }
    }

    /// Looks a header name or key up, ignoring ASCII case and surrounding spaces.
    pub fn from_name(name: &str) -> Option<Column> {
        let name = name.trim();
        Column::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// Whether the cell holds a `;`-separated list (a JSON array in JSON Lines).
    pub fn is_list(self) -> bool {
        matches!(
            self,
            Column::AllowedImeis | Column::Ips | Column::Tags | Column::Groups
        )
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The comma-separated list of valid names, for error messages.
    pub(crate) fn expected_names() -> String {
        let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
        names.join(", ")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_index_matches_order() {
        for (i, c) in Column::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(Column::from_name(c.name()), Some(c));
        }
        assert_eq!(Column::from_name(" IMSI "), Some(Column::Imsi));
        assert_eq!(Column::from_name("imsis"), None);
    }
}
