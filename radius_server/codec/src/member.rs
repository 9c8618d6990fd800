//! The member protocol's attributes: what pam_sparekey on a member host and the site's
//! sparekeyd say to each other beyond RFC 2865, as Vendor-Specific attributes (RFC 2865
//! §5.26) of one vendor, one sub-attribute each.
//!
//! A request names the user (User-Name), the host (NAS-Identifier), where the login comes
//! from (Calling-Station-Id: PAM_RHOST) and, in sparekey attributes, what is asked
//! ([`Op`]), the PAM service, PAM_TTY and PAM_RUSER. A reply's [`Refusal`] says which PAM
//! result an Access-Reject stands for; an Access-Accept of a code carries when it stops
//! working and how many uses it has left.

use crate::packet::PacketRef;
use crate::{attr, Error};

/// The vendor number of sparekey's attributes. 32473 is the number RFC 5612 sets aside for
/// examples and documentation: these attributes travel only between a member host and its
/// site, and a registered Private Enterprise Number replaces it before 1.0.
pub const VENDOR_ID: u32 = 32473;

/// The sub-attribute types.
pub mod vsa {
    /// [`super::Op`], as a 32-bit integer.
    pub const OP: u8 = 1;
    /// The PAM service (PAM_SERVICE, or the module's `service=`), text.
    pub const SERVICE: u8 = 2;
    /// PAM_TTY, text.
    pub const TTY: u8 = 3;
    /// PAM_RUSER, text.
    pub const RUSER: u8 = 4;
    /// In an Access-Reject: [`super::Refusal`], as a 32-bit integer.
    pub const REFUSAL: u8 = 5;
    /// In an Access-Accept of a code: when it stops working, Unix time (32 bits).
    pub const NOT_AFTER: u8 = 6;
    /// In an Access-Accept of a counted code: the uses it has left.
    pub const USES_LEFT: u8 = 7;
    /// In the Access-Accept of a retire: how many credentials it ended.
    pub const ENDED: u8 = 8;
    /// In a report: when the offline login was, by the host's clock (Unix time, 32 bits).
    pub const OFFLINE_AT: u8 = 9;
    /// In a report: until when the response it rests on works (Unix time, 32 bits).
    pub const OFFLINE_UNTIL: u8 = 10;
    /// In a report: what happened, text ("response accepted", ...).
    pub const OFFLINE_WHAT: u8 = 11;
}

/// What a member host asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Whether to ask the user for a code: Access-Challenge for yes, else Access-Reject.
    Probe,
    /// Check the code in User-Password: Access-Accept or Access-Reject.
    Code,
    /// The user's usual second factor succeeded: end their temporary codes (Access-Accept).
    Retire,
    /// An offline login the host let in while the site was out of reach, for the site's
    /// audit log (Access-Accept once recorded).
    Report,
}

impl Op {
    /// Its number on the wire.
    pub const fn as_u32(self) -> u32 {
        match self {
            Op::Probe => 1,
            Op::Code => 2,
            Op::Retire => 3,
            Op::Report => 4,
        }
    }

    /// The op numbered `n`, if any.
    pub const fn from_u32(n: u32) -> Option<Self> {
        match n {
            1 => Some(Op::Probe),
            2 => Some(Op::Code),
            3 => Some(Op::Retire),
            4 => Some(Op::Report),
            _ => None,
        }
    }
}

/// What an Access-Reject to a member host stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing for sparekey here: no usable code, no policy, or codes switched off
    /// (PAM_IGNORE; the usual MFA decides).
    NothingHere,
    /// A code was given and refused (PAM_AUTH_ERR).
    Refused,
    /// Too many wrong codes lately (PAM_MAXTRIES).
    LockedOut,
    /// The site does not answer for this host: it was revoked (PAM_AUTHINFO_UNAVAIL).
    HostRefused,
}

impl Refusal {
    /// Its number on the wire.
    pub const fn as_u32(self) -> u32 {
        match self {
            Refusal::NothingHere => 1,
            Refusal::Refused => 2,
            Refusal::LockedOut => 3,
            Refusal::HostRefused => 4,
        }
    }

    /// The refusal numbered `n`, if any.
    pub const fn from_u32(n: u32) -> Option<Self> {
        match n {
            1 => Some(Refusal::NothingHere),
            2 => Some(Refusal::Refused),
            3 => Some(Refusal::LockedOut),
            4 => Some(Refusal::HostRefused),
            _ => None,
        }
    }
}

/// The value of a Vendor-Specific attribute carrying sparekey's sub-attribute `sub_type`
/// with `value` (at most 247 bytes, so that the attribute fits in 255).
pub fn vendor_value(sub_type: u8, value: &[u8]) -> Result<Vec<u8>, Error> {
    any_vendor_value(VENDOR_ID, sub_type, value)
}

/// The value of a Vendor-Specific attribute (RFC 2865 §5.26) of `vendor` holding one
/// sub-attribute of `sub_type`.
pub fn any_vendor_value(vendor: u32, sub_type: u8, value: &[u8]) -> Result<Vec<u8>, Error> {
    let len = u8::try_from(value.len() + 2)
        .ok()
        .filter(|l| usize::from(*l) + 4 <= attr::MAX_VALUE_LEN)
        .ok_or(Error::AttributeValueTooLong {
            attr_type: attr::VENDOR_SPECIFIC,
            length: value.len() + 6,
        })?;
    let mut v = Vec::with_capacity(value.len() + 6);
    v.extend_from_slice(&vendor.to_be_bytes());
    v.push(sub_type);
    v.push(len);
    v.extend_from_slice(value);
    Ok(v)
}

/// The value of sparekey's sub-attribute `sub_type` in `packet`: the first Vendor-Specific
/// attribute of [`VENDOR_ID`] whose single sub-attribute has that type and a consistent
/// length. Others (other vendors, malformed ones) are passed over.
pub fn vendor_attribute<'a>(packet: &PacketRef<'a>, sub_type: u8) -> Option<&'a [u8]> {
    packet
        .attributes_of(attr::VENDOR_SPECIFIC)
        .find_map(|v| match v {
            [a, b, c, d, t, len, rest @ ..]
                if u32::from_be_bytes([*a, *b, *c, *d]) == VENDOR_ID
                    && *t == sub_type
                    && usize::from(*len) == rest.len() + 2 =>
            {
                Some(rest)
            }
            _ => None,
        })
}

/// Sub-attribute `sub_type` of `packet` as a 32-bit integer, if present and four bytes.
pub fn vendor_u32(packet: &PacketRef<'_>, sub_type: u8) -> Option<u32> {
    vendor_attribute(packet, sub_type).and_then(attr::value_as_u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RequestBuilder, SharedSecret};

    #[test]
    fn sub_attributes_round_trip_and_foreign_ones_are_passed_over() {
        let secret = SharedSecret::new(b"0123456789abcdef").unwrap();
        let mut b = RequestBuilder::access_request(1, [3; 16], &secret);
        // Another vendor's attribute with the same sub-type, then a malformed one of ours.
        b.add(
            attr::VENDOR_SPECIFIC,
            &[0, 0, 0, 9, vsa::SERVICE, 5, b'x', b'y', b'z'],
        )
        .unwrap();
        b.add(
            attr::VENDOR_SPECIFIC,
            &[0, 0, 0x7e, 0xd9, vsa::SERVICE, 9, b'x'],
        )
        .unwrap();
        b.add_vendor(vsa::SERVICE, b"sshd").unwrap();
        b.add_vendor(vsa::OP, &Op::Code.as_u32().to_be_bytes())
            .unwrap();
        let bytes = b.finish();
        let p = PacketRef::decode(&bytes).unwrap();
        assert_eq!(vendor_attribute(&p, vsa::SERVICE), Some(&b"sshd"[..]));
        assert_eq!(
            vendor_u32(&p, vsa::OP).and_then(Op::from_u32),
            Some(Op::Code)
        );
        assert_eq!(vendor_attribute(&p, vsa::TTY), None);
    }

    #[test]
    fn a_value_too_long_for_one_attribute_is_refused() {
        assert!(vendor_value(vsa::SERVICE, &[b'a'; 247]).is_ok());
        assert!(matches!(
            vendor_value(vsa::SERVICE, &[b'a'; 248]),
            Err(Error::AttributeValueTooLong { .. })
        ));
    }

    #[test]
    fn numbers_round_trip() {
        for op in [Op::Probe, Op::Code, Op::Retire, Op::Report] {
            assert_eq!(Op::from_u32(op.as_u32()), Some(op));
        }
        for r in [
            Refusal::NothingHere,
            Refusal::Refused,
            Refusal::LockedOut,
            Refusal::HostRefused,
        ] {
            assert_eq!(Refusal::from_u32(r.as_u32()), Some(r));
        }
        assert_eq!(Op::from_u32(0), None);
        assert_eq!(Refusal::from_u32(9), None);
    }
}
