//! RADIUS packet codes (RFC 2865 §3, RFC 2866, RFC 5997).

use core::fmt;

/// The Code field of a RADIUS packet.
///
/// [`Code::from_u8`] never yields `Unknown` for a value that has a named variant, so
/// comparisons against named variants are reliable for decoded packets. Constructing
/// `Unknown(1)` by hand is possible but pointless; [`Code::as_u8`] still maps it to 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Access-Request (1).
    AccessRequest,
    /// Access-Accept (2).
    AccessAccept,
    /// Access-Reject (3).
    AccessReject,
    /// Accounting-Request (4).
    AccountingRequest,
    /// Accounting-Response (5).
    AccountingResponse,
    /// Access-Challenge (11).
    AccessChallenge,
    /// Status-Server (12, RFC 5997).
    StatusServer,
    /// Status-Client (13).
    StatusClient,
    /// Any other code.
    Unknown(u8),
}

impl Code {
    /// Maps a wire value to a code.
    pub const fn from_u8(value: u8) -> Self {
        match value {
            1 => Code::AccessRequest,
            2 => Code::AccessAccept,
            3 => Code::AccessReject,
            4 => Code::AccountingRequest,
            5 => Code::AccountingResponse,
            11 => Code::AccessChallenge,
            12 => Code::StatusServer,
            13 => Code::StatusClient,
            other => Code::Unknown(other),
        }
    }

    /// The wire value of this code.
    pub const fn as_u8(self) -> u8 {
        match self {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccountingRequest => 4,
            Code::AccountingResponse => 5,
            Code::AccessChallenge => 11,
            Code::StatusServer => 12,
            Code::StatusClient => 13,
            Code::Unknown(other) => other,
        }
    }
}

impl From<u8> for Code {
    fn from(value: u8) -> Self {
        Code::from_u8(value)
    }
}

impl From<Code> for u8 {
    fn from(code: Code) -> Self {
        code.as_u8()
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Code::AccessRequest => f.write_str("Access-Request"),
            Code::AccessAccept => f.write_str("Access-Accept"),
            Code::AccessReject => f.write_str("Access-Reject"),
            Code::AccountingRequest => f.write_str("Accounting-Request"),
            Code::AccountingResponse => f.write_str("Accounting-Response"),
            Code::AccessChallenge => f.write_str("Access-Challenge"),
            Code::StatusServer => f.write_str("Status-Server"),
            Code::StatusClient => f.write_str("Status-Client"),
            Code::Unknown(other) => write!(f, "code-{other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn every_byte_round_trips() {
        for value in 0..=u8::MAX {
            assert_eq!(Code::from_u8(value).as_u8(), value);
        }
        assert_eq!(Code::from_u8(12), Code::StatusServer);
        assert_eq!(Code::from_u8(6), Code::Unknown(6));
        assert_eq!(Code::AccessChallenge.to_string(), "Access-Challenge");
    }
}
