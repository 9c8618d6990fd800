//! `[[policy.reply]]`: RADIUS attributes a policy adds to the Access-Accept of a code login
//! (Class, Filter-Id, vendor attributes), so that the VPN applies the right group policy.

use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// Longest value of a standard text attribute (an attribute holds 253 bytes).
pub const MAX_TEXT_LEN: usize = 253;
/// Longest value of a vendor attribute (253 less the vendor id, type and length).
pub const MAX_VENDOR_LEN: usize = 247;

/// One `[[policy.reply]]` entry: `attribute` or `vendor` + `type`, and a `value`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReplyAttribute {
    /// A standard attribute by name.
    #[serde(default)]
    pub attribute: Option<Spanned<StandardReply>>,
    /// A Vendor-Specific attribute: the vendor's SMI number (Fortinet 12356, Palo Alto
    /// 25461, Cisco 9, ...).
    #[serde(default)]
    pub vendor: Option<Spanned<i64>>,
    /// The vendor's attribute number (1..255).
    #[serde(default, rename = "type")]
    pub vendor_type: Option<Spanned<i64>>,
    /// Text, or a number for Idle-Timeout and integer vendor attributes.
    pub value: Spanned<ReplyValue>,
}

/// The standard attributes a policy may add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum StandardReply {
    /// Class (25): Cisco ASA "OU=group", strongSwan's class_group.
    Class,
    /// Filter-Id (11).
    #[serde(rename = "Filter-Id")]
    FilterId,
    /// Idle-Timeout (28), seconds.
    #[serde(rename = "Idle-Timeout")]
    IdleTimeout,
    /// Framed-Pool (88, RFC 2869).
    #[serde(rename = "Framed-Pool")]
    FramedPool,
}

impl StandardReply {
    /// The attribute's type number.
    pub fn type_number(self) -> u8 {
        match self {
            StandardReply::Class => 25,
            StandardReply::FilterId => 11,
            StandardReply::IdleTimeout => 28,
            StandardReply::FramedPool => 88,
        }
    }

    /// Whether its value is a number (else text).
    pub fn is_integer(self) -> bool {
        self == StandardReply::IdleTimeout
    }
}

/// A `value`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ReplyValue {
    /// Text.
    Text(String),
    /// A number (sent as a 32-bit big-endian integer).
    Number(i64),
}

impl ReplyAttribute {
    /// The bytes of the value (text as UTF-8, a number as 4 bytes big-endian). Only for
    /// entries that passed [`check_replies`].
    pub fn value_bytes(&self) -> Vec<u8> {
        match self.value.get_ref() {
            ReplyValue::Text(t) => t.as_bytes().to_vec(),
            ReplyValue::Number(n) => u32::try_from(*n).unwrap_or(0).to_be_bytes().to_vec(),
        }
    }
}

/// Checks a policy's `reply` entries.
pub(crate) fn check_replies(
    policy: &str,
    replies: &[ReplyAttribute],
    err: &mut impl FnMut(Range<usize>, String),
) {
    for r in replies {
        let at = r.value.span();
        let (max, integer) = match (&r.attribute, &r.vendor, &r.vendor_type) {
            (Some(a), None, None) => (MAX_TEXT_LEN, Some(a.get_ref().is_integer())),
            (None, Some(vendor), Some(vendor_type)) => {
                if !(1..=i64::from(u32::MAX)).contains(vendor.get_ref()) {
                    err(vendor.span(), format!("policy {policy:?}: expected a vendor number (its SMI enterprise number, e.g. 12356 for Fortinet), found {}", vendor.get_ref()));
                }
                if !(1..=255).contains(vendor_type.get_ref()) {
                    err(vendor_type.span(), format!("policy {policy:?}: expected a vendor attribute type from 1 to 255, found {}", vendor_type.get_ref()));
                }
                (MAX_VENDOR_LEN, None)
            }
            (Some(a), _, _) => {
                err(a.span(), format!("policy {policy:?}: a reply entry gives either `attribute` or `vendor` and `type`, not both"));
                continue;
            }
            _ => {
                err(at, format!("policy {policy:?}: a reply entry needs `attribute` (Class, Filter-Id, Idle-Timeout, Framed-Pool) or both `vendor` and `type`"));
                continue;
            }
        };
        match (r.value.get_ref(), integer) {
            (ReplyValue::Text(_), Some(true)) => err(at, format!("policy {policy:?}: Idle-Timeout is a number of seconds, e.g. value = 900; found text")),
            (ReplyValue::Number(_), Some(false)) => err(at, format!("policy {policy:?}: this attribute is text, e.g. value = \"OU=vpn-staff\"; found a number")),
            (ReplyValue::Text(t), _) if t.is_empty() || t.len() > max => {
                err(at, format!("policy {policy:?}: expected a value of 1 to {max} bytes, found {} bytes", t.len()))
            }
            (ReplyValue::Number(n), _) if !(0..=i64::from(u32::MAX)).contains(n) => {
                err(at, format!("policy {policy:?}: expected a number from 0 to {}, found {n}", u32::MAX))
            }
            _ => {}
        }
    }
}
