//! 3GPP-User-Location-Info (TS 29.061 §16.4.7.2) and the PLMN identity it carries.
//!
//! Location types 0–2 and 128–130 are those of TS 29.061 (field layouts from TS 29.274
//! §8.21); 135–137 (NCGI, 5GS TAI) are the 5GS additions of newer TS 29.061 releases, not
//! in the FreeRADIUS/Wireshark dictionaries. Other types are kept raw.

use std::fmt;

use crate::error::ValueError;

/// A PLMN identity: MCC and a 2- or 3-digit MNC (TS 23.003 §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Plmn {
    mcc: u16,
    mnc: u16,
    three_digit_mnc: bool,
}

impl Plmn {
    /// A PLMN; the MNC digit count matters ("01" and "001" are different networks).
    pub fn new(mcc: u16, mnc: u16, three_digit_mnc: bool) -> Result<Self, ValueError> {
        let mnc_max = if three_digit_mnc { 999 } else { 99 };
        if mcc > 999 {
            return Err(ValueError::OutOfRange {
                field: "mcc",
                value: mcc.into(),
            });
        }
        if mnc > mnc_max {
            return Err(ValueError::OutOfRange {
                field: "mnc",
                value: mnc.into(),
            });
        }
        Ok(Self {
            mcc,
            mnc,
            three_digit_mnc,
        })
    }

    /// Parses the digit string used by 3GPP-IMSI-MCC-MNC and friends: 3 MCC digits then
    /// 2 or 3 MNC digits.
    pub fn from_digits(digits: &str) -> Result<Self, ValueError> {
        let parse = |s: &str| {
            if s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse::<u16>().map_err(|_| ValueError::InvalidDigits)
            } else {
                Err(ValueError::InvalidDigits)
            }
        };
        match digits.len() {
            5 | 6 if digits.is_ascii() => Self::new(
                parse(&digits[..3])?,
                parse(&digits[3..])?,
                digits.len() == 6,
            ),
            n => Err(ValueError::WrongLength {
                expected: 5,
                actual: n,
            }),
        }
    }

    /// Mobile Country Code.
    pub fn mcc(&self) -> u16 {
        self.mcc
    }

    /// Mobile Network Code.
    pub fn mnc(&self) -> u16 {
        self.mnc
    }

    /// Whether the MNC has three digits.
    pub fn three_digit_mnc(&self) -> bool {
        self.three_digit_mnc
    }

    /// Decodes the 3-octet swapped-nibble BCD form; MNC digit 3 = 0xF marks a 2-digit MNC.
    pub fn decode(octets: [u8; 3]) -> Result<Self, ValueError> {
        let digit = |d: u8| {
            if d <= 9 {
                Ok(u16::from(d))
            } else {
                Err(ValueError::InvalidBcd { digit: d })
            }
        };
        let mcc =
            digit(octets[0] & 0xf)? * 100 + digit(octets[0] >> 4)? * 10 + digit(octets[1] & 0xf)?;
        let mnc12 = digit(octets[2] & 0xf)? * 10 + digit(octets[2] >> 4)?;
        let mnc3 = octets[1] >> 4;
        if mnc3 == 0xf {
            Self::new(mcc, mnc12, false)
        } else {
            Self::new(mcc, mnc12 * 10 + digit(mnc3)?, true)
        }
    }

    /// Encodes the 3-octet swapped-nibble BCD form.
    pub fn encode(&self) -> [u8; 3] {
        // Digits are < 10 by construction, so the casts cannot truncate.
        let d = |n: u16, div: u16| ((n / div) % 10) as u8;
        let (mnc1, mnc2, mnc3) = if self.three_digit_mnc {
            (d(self.mnc, 100), d(self.mnc, 10), d(self.mnc, 1))
        } else {
            (d(self.mnc, 10), d(self.mnc, 1), 0xf)
        };
        [
            d(self.mcc, 10) << 4 | d(self.mcc, 100),
            mnc3 << 4 | d(self.mcc, 1),
            mnc2 << 4 | mnc1,
        ]
    }
}

impl fmt::Display for Plmn {
    /// `MCC-MNC`, e.g. `262-01` or `310-410`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.three_digit_mnc {
            write!(f, "{:03}-{:03}", self.mcc, self.mnc)
        } else {
            write!(f, "{:03}-{:02}", self.mcc, self.mnc)
        }
    }
}

/// Cell Global Identity (2G).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cgi {
    /// PLMN.
    pub plmn: Plmn,
    /// Location Area Code.
    pub lac: u16,
    /// Cell Identity.
    pub ci: u16,
}

/// Service Area Identity (3G).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sai {
    /// PLMN.
    pub plmn: Plmn,
    /// Location Area Code.
    pub lac: u16,
    /// Service Area Code.
    pub sac: u16,
}

/// Routing Area Identity (2G/3G packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rai {
    /// PLMN.
    pub plmn: Plmn,
    /// Location Area Code.
    pub lac: u16,
    /// Routing Area Code (the first of two octets; the second is all ones on the wire).
    pub rac: u8,
}

/// Tracking Area Identity (EPS), 16-bit TAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tai {
    /// PLMN.
    pub plmn: Plmn,
    /// Tracking Area Code.
    pub tac: u16,
}

/// E-UTRAN Cell Global Identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ecgi {
    /// PLMN.
    pub plmn: Plmn,
    /// E-UTRAN Cell Identifier, 28 bits (eNodeB id << 8 | cell).
    pub eci: u32,
}

/// 5GS Tracking Area Identity, 24-bit TAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveGsTai {
    /// PLMN.
    pub plmn: Plmn,
    /// Tracking Area Code, 24 bits.
    pub tac: u32,
}

/// NR Cell Global Identifier.
///
/// The 36-bit NCI fills the top of 5 octets with 4 spare bits at the end, the packing of
/// the NGAP bit string and what Wireshark 4.0 decodes (unlike the ECI, whose spare bits
/// come first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ncgi {
    /// PLMN.
    pub plmn: Plmn,
    /// NR Cell Identity, 36 bits.
    pub nci: u64,
}

/// A decoded 3GPP-User-Location-Info value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserLocationInfo {
    /// Type 0.
    Cgi(Cgi),
    /// Type 1.
    Sai(Sai),
    /// Type 2.
    Rai(Rai),
    /// Type 128.
    Tai(Tai),
    /// Type 129.
    Ecgi(Ecgi),
    /// Type 130.
    TaiEcgi(Tai, Ecgi),
    /// Type 135.
    Ncgi(Ncgi),
    /// Type 136.
    FiveGsTai(FiveGsTai),
    /// Type 137.
    FiveGsTaiNcgi(FiveGsTai, Ncgi),
    /// Any other Geographic Location Type, data kept raw.
    Unknown {
        /// Geographic Location Type.
        location_type: u8,
        /// Octets after the type.
        data: Vec<u8>,
    },
}

const ECI_MAX: u32 = (1 << 28) - 1;
const NCI_MAX: u64 = (1 << 36) - 1;
const TAC5GS_MAX: u32 = (1 << 24) - 1;

impl UserLocationInfo {
    /// The Geographic Location Type octet.
    pub fn location_type(&self) -> u8 {
        match self {
            Self::Cgi(_) => 0,
            Self::Sai(_) => 1,
            Self::Rai(_) => 2,
            Self::Tai(_) => 128,
            Self::Ecgi(_) => 129,
            Self::TaiEcgi(..) => 130,
            Self::Ncgi(_) => 135,
            Self::FiveGsTai(_) => 136,
            Self::FiveGsTaiNcgi(..) => 137,
            Self::Unknown { location_type, .. } => *location_type,
        }
    }

    /// The (first) PLMN: the serving network, for roaming checks.
    pub fn plmn(&self) -> Option<Plmn> {
        Some(match self {
            Self::Cgi(c) => c.plmn,
            Self::Sai(s) => s.plmn,
            Self::Rai(r) => r.plmn,
            Self::Tai(t) | Self::TaiEcgi(t, _) => t.plmn,
            Self::Ecgi(e) => e.plmn,
            Self::Ncgi(n) => n.plmn,
            Self::FiveGsTai(t) | Self::FiveGsTaiNcgi(t, _) => t.plmn,
            Self::Unknown { .. } => return None,
        })
    }

    /// Location Area Code, for 2G/3G types.
    pub fn lac(&self) -> Option<u16> {
        match self {
            Self::Cgi(c) => Some(c.lac),
            Self::Sai(s) => Some(s.lac),
            Self::Rai(r) => Some(r.lac),
            _ => None,
        }
    }

    /// Tracking Area Code (16-bit EPS or 24-bit 5GS).
    pub fn tac(&self) -> Option<u32> {
        match self {
            Self::Tai(t) | Self::TaiEcgi(t, _) => Some(t.tac.into()),
            Self::FiveGsTai(t) | Self::FiveGsTaiNcgi(t, _) => Some(t.tac),
            _ => None,
        }
    }

    /// E-UTRAN Cell Identifier.
    pub fn eci(&self) -> Option<u32> {
        match self {
            Self::Ecgi(e) | Self::TaiEcgi(_, e) => Some(e.eci),
            _ => None,
        }
    }

    /// NR Cell Identity.
    pub fn nci(&self) -> Option<u64> {
        match self {
            Self::Ncgi(n) | Self::FiveGsTaiNcgi(_, n) => Some(n.nci),
            _ => None,
        }
    }

    /// Decodes the attribute value: one type octet, then the location fields.
    pub fn decode(value: &[u8]) -> Result<Self, ValueError> {
        let Some((&location_type, data)) = value.split_first() else {
            return Err(ValueError::WrongLength {
                expected: 1,
                actual: 0,
            });
        };
        let expected = match location_type {
            0..=2 => 7,
            128 => 5,
            129 => 7,
            130 => 12,
            135 => 8,
            136 => 6,
            137 => 14,
            _ => {
                return Ok(Self::Unknown {
                    location_type,
                    data: data.to_vec(),
                });
            }
        };
        if data.len() != expected {
            return Err(ValueError::WrongLength {
                expected: expected + 1,
                actual: value.len(),
            });
        }
        let plmn = |at: usize| Plmn::decode([data[at], data[at + 1], data[at + 2]]);
        let u16_at = |at: usize| u16::from_be_bytes([data[at], data[at + 1]]);
        let tai = |at| {
            Ok::<_, ValueError>(Tai {
                plmn: plmn(at)?,
                tac: u16_at(at + 3),
            })
        };
        let ecgi = |at: usize| {
            let eci = u32::from_be_bytes([data[at + 3], data[at + 4], data[at + 5], data[at + 6]]);
            Ok::<_, ValueError>(Ecgi {
                plmn: plmn(at)?,
                eci: eci & ECI_MAX,
            })
        };
        let tai5 = |at: usize| {
            let tac = u32::from_be_bytes([0, data[at + 3], data[at + 4], data[at + 5]]);
            Ok::<_, ValueError>(FiveGsTai {
                plmn: plmn(at)?,
                tac,
            })
        };
        let ncgi = |at: usize| {
            let mut octets = [0u8; 8];
            octets[3..].copy_from_slice(&data[at + 3..at + 8]);
            let nci = u64::from_be_bytes(octets) >> 4;
            Ok::<_, ValueError>(Ncgi {
                plmn: plmn(at)?,
                nci,
            })
        };
        Ok(match location_type {
            0 => Self::Cgi(Cgi {
                plmn: plmn(0)?,
                lac: u16_at(3),
                ci: u16_at(5),
            }),
            1 => Self::Sai(Sai {
                plmn: plmn(0)?,
                lac: u16_at(3),
                sac: u16_at(5),
            }),
            2 => Self::Rai(Rai {
                plmn: plmn(0)?,
                lac: u16_at(3),
                rac: data[5],
            }),
            128 => Self::Tai(tai(0)?),
            129 => Self::Ecgi(ecgi(0)?),
            130 => Self::TaiEcgi(tai(0)?, ecgi(5)?),
            135 => Self::Ncgi(ncgi(0)?),
            136 => Self::FiveGsTai(tai5(0)?),
            _ => Self::FiveGsTaiNcgi(tai5(0)?, ncgi(6)?),
        })
    }

    /// Encodes the attribute value; fails if an identifier exceeds its bit width.
    pub fn encode(&self) -> Result<Vec<u8>, ValueError> {
        let mut out = Vec::with_capacity(15);
        out.push(self.location_type());
        match self {
            Self::Cgi(c) => put(
                &mut out,
                c.plmn,
                &[&c.lac.to_be_bytes(), &c.ci.to_be_bytes()],
            ),
            Self::Sai(s) => put(
                &mut out,
                s.plmn,
                &[&s.lac.to_be_bytes(), &s.sac.to_be_bytes()],
            ),
            Self::Rai(r) => put(&mut out, r.plmn, &[&r.lac.to_be_bytes(), &[r.rac, 0xff]]),
            Self::Tai(t) => put_tai(&mut out, t),
            Self::Ecgi(e) => put_ecgi(&mut out, e)?,
            Self::TaiEcgi(t, e) => {
                put_tai(&mut out, t);
                put_ecgi(&mut out, e)?;
            }
            Self::Ncgi(n) => put_ncgi(&mut out, n)?,
            Self::FiveGsTai(t) => put_tai5(&mut out, t)?,
            Self::FiveGsTaiNcgi(t, n) => {
                put_tai5(&mut out, t)?;
                put_ncgi(&mut out, n)?;
            }
            Self::Unknown { data, .. } => out.extend_from_slice(data),
        }
        Ok(out)
    }
}

fn put(out: &mut Vec<u8>, plmn: Plmn, parts: &[&[u8]]) {
    out.extend_from_slice(&plmn.encode());
    for part in parts {
        out.extend_from_slice(part);
    }
}

fn put_tai(out: &mut Vec<u8>, t: &Tai) {
    put(out, t.plmn, &[&t.tac.to_be_bytes()]);
}

fn put_ecgi(out: &mut Vec<u8>, e: &Ecgi) -> Result<(), ValueError> {
    if e.eci > ECI_MAX {
        return Err(ValueError::OutOfRange {
            field: "eci",
            value: e.eci.into(),
        });
    }
    put(out, e.plmn, &[&e.eci.to_be_bytes()]);
    Ok(())
}

fn put_tai5(out: &mut Vec<u8>, t: &FiveGsTai) -> Result<(), ValueError> {
    if t.tac > TAC5GS_MAX {
        return Err(ValueError::OutOfRange {
            field: "5gs tac",
            value: t.tac.into(),
        });
    }
    put(out, t.plmn, &[&t.tac.to_be_bytes()[1..]]);
    Ok(())
}

fn put_ncgi(out: &mut Vec<u8>, n: &Ncgi) -> Result<(), ValueError> {
    if n.nci > NCI_MAX {
        return Err(ValueError::OutOfRange {
            field: "nci",
            value: n.nci,
        });
    }
    put(out, n.plmn, &[&(n.nci << 4).to_be_bytes()[3..]]);
    Ok(())
}
