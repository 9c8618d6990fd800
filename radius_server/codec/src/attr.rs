//! Attribute type numbers, the borrowed [`Attribute`] view and the iterator over a packet's attributes.

use std::net::{Ipv4Addr, Ipv6Addr};

/// User-Name (1, RFC 2865).
pub const USER_NAME: u8 = 1;
/// User-Password (2, RFC 2865), hidden with the shared secret (see [`crate::password`]).
pub const USER_PASSWORD: u8 = 2;
/// CHAP-Password (3, RFC 2865).
pub const CHAP_PASSWORD: u8 = 3;
/// NAS-IP-Address (4, RFC 2865).
pub const NAS_IP_ADDRESS: u8 = 4;
/// NAS-Port (5, RFC 2865).
pub const NAS_PORT: u8 = 5;
/// Service-Type (6, RFC 2865).
pub const SERVICE_TYPE: u8 = 6;
/// Framed-Protocol (7, RFC 2865).
pub const FRAMED_PROTOCOL: u8 = 7;
/// Framed-IP-Address (8, RFC 2865).
pub const FRAMED_IP_ADDRESS: u8 = 8;
/// Framed-IP-Netmask (9, RFC 2865).
pub const FRAMED_IP_NETMASK: u8 = 9;
/// Framed-Routing (10, RFC 2865).
pub const FRAMED_ROUTING: u8 = 10;
/// Filter-Id (11, RFC 2865).
pub const FILTER_ID: u8 = 11;
/// Framed-MTU (12, RFC 2865).
pub const FRAMED_MTU: u8 = 12;
/// Framed-Compression (13, RFC 2865).
pub const FRAMED_COMPRESSION: u8 = 13;
/// Login-IP-Host (14, RFC 2865).
pub const LOGIN_IP_HOST: u8 = 14;
/// Login-Service (15, RFC 2865).
pub const LOGIN_SERVICE: u8 = 15;
/// Reply-Message (18, RFC 2865).
pub const REPLY_MESSAGE: u8 = 18;
/// State (24, RFC 2865).
pub const STATE: u8 = 24;
/// Class (25, RFC 2865).
pub const CLASS: u8 = 25;
/// Vendor-Specific (26, RFC 2865).
pub const VENDOR_SPECIFIC: u8 = 26;
/// Session-Timeout (27, RFC 2865), seconds as a 32-bit integer.
pub const SESSION_TIMEOUT: u8 = 27;
/// Idle-Timeout (28, RFC 2865).
pub const IDLE_TIMEOUT: u8 = 28;
/// Termination-Action (29, RFC 2865).
pub const TERMINATION_ACTION: u8 = 29;
/// Called-Station-Id (30, RFC 2865).
pub const CALLED_STATION_ID: u8 = 30;
/// Calling-Station-Id (31, RFC 2865).
pub const CALLING_STATION_ID: u8 = 31;
/// NAS-Identifier (32, RFC 2865).
pub const NAS_IDENTIFIER: u8 = 32;
/// Proxy-State (33, RFC 2865); must be copied unmodified into the reply.
pub const PROXY_STATE: u8 = 33;
/// Acct-Session-Id (44, RFC 2866).
pub const ACCT_SESSION_ID: u8 = 44;
/// Acct-Status-Type (RFC 2866 §5.1).
pub const ACCT_STATUS_TYPE: u8 = 40;
/// Acct-Session-Time, seconds (RFC 2866 §5.7).
pub const ACCT_SESSION_TIME: u8 = 46;
/// Acct-Terminate-Cause (RFC 2866 §5.10).
pub const ACCT_TERMINATE_CAUSE: u8 = 49;
/// Framed-Pool (RFC 2869 §5.18).
pub const FRAMED_POOL: u8 = 88;
/// Tunnel-Password (RFC 2868 §3.5): tag, salt, salt-encrypted string.
pub const TUNNEL_PASSWORD: u8 = 69;
/// Microsoft's vendor number (RFC 2548).
pub const VENDOR_MICROSOFT: u32 = 311;
/// MS-MPPE-Send-Key (RFC 2548 §2.4.2), salt-encrypted.
pub const MS_MPPE_SEND_KEY: u8 = 16;
/// MS-MPPE-Recv-Key (RFC 2548 §2.4.3), salt-encrypted.
pub const MS_MPPE_RECV_KEY: u8 = 17;
/// Event-Timestamp (55, RFC 2869).
pub const EVENT_TIMESTAMP: u8 = 55;
/// CHAP-Challenge (60, RFC 2865).
pub const CHAP_CHALLENGE: u8 = 60;
/// NAS-Port-Type (61, RFC 2865).
pub const NAS_PORT_TYPE: u8 = 61;
/// EAP-Message (79, RFC 3579).
pub const EAP_MESSAGE: u8 = 79;
/// Message-Authenticator (80, RFC 3579); always 16 bytes of HMAC-MD5.
pub const MESSAGE_AUTHENTICATOR: u8 = 80;
/// NAS-Port-Id (87, RFC 2869).
pub const NAS_PORT_ID: u8 = 87;
/// NAS-IPv6-Address (95, RFC 3162).
pub const NAS_IPV6_ADDRESS: u8 = 95;
/// Error-Cause (101, RFC 5176).
pub const ERROR_CAUSE: u8 = 101;

/// Largest attribute value: 255 minus the 2-byte type/length header.
pub const MAX_VALUE_LEN: usize = 253;

/// One attribute of a decoded packet, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute type (see the constants in this module).
    pub attr_type: u8,
    /// Value bytes, without the type/length header (0..=253 bytes).
    pub value: &'a [u8],
}

impl<'a> Attribute<'a> {
    /// The value as a big-endian 32-bit integer, if it is exactly 4 bytes.
    pub fn as_u32(&self) -> Option<u32> {
        value_as_u32(self.value)
    }

    /// The value as UTF-8 text, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.value).ok()
    }

    /// The value as an IPv4 address, if it is exactly 4 bytes.
    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        <[u8; 4]>::try_from(self.value).ok().map(Ipv4Addr::from)
    }

    /// The value as an IPv6 address, if it is exactly 16 bytes.
    pub fn as_ipv6(&self) -> Option<Ipv6Addr> {
        <[u8; 16]>::try_from(self.value).ok().map(Ipv6Addr::from)
    }
}

/// Reads a 4-byte big-endian integer value.
pub fn value_as_u32(value: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(value).ok().map(u32::from_be_bytes)
}

/// Iterator over the attributes of a decoded packet, in wire order.
///
/// Created by [`crate::PacketRef::attributes`]; the packet was validated when decoded,
/// so iteration does no allocation and cannot fail.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Attributes<'a> {
    /// Iterates over an attribute area that has already been validated by the decoder.
    pub(crate) fn new(area: &'a [u8]) -> Self {
        Attributes { rest: area }
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Attribute<'a>> {
        let attr_type = *self.rest.first()?;
        let len = usize::from(*self.rest.get(1)?);
        // The decoder guarantees 2 <= len <= rest.len(); stay panic-free regardless.
        let (value, rest) = match (self.rest.get(2..len), self.rest.get(len..)) {
            (Some(value), Some(rest)) if len >= 2 => (value, rest),
            _ => {
                self.rest = &[];
                return None;
            }
        };
        self.rest = rest;
        Some(Attribute { attr_type, value })
    }
}

impl core::iter::FusedIterator for Attributes<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_helpers() {
        let a = Attribute {
            attr_type: SESSION_TIMEOUT,
            value: &[0, 0, 1, 0],
        };
        assert_eq!(a.as_u32(), Some(256));
        assert_eq!(a.as_ipv4(), Some(Ipv4Addr::new(0, 0, 1, 0)));
        assert_eq!(a.as_ipv6(), None);
        let s = Attribute {
            attr_type: USER_NAME,
            value: b"nemo",
        };
        assert_eq!(s.as_str(), Some("nemo"));
        assert_eq!(
            Attribute {
                attr_type: 1,
                value: &[0xff]
            }
            .as_str(),
            None
        );
    }

    #[test]
    fn iterator_stops_on_malformed_area() {
        let mut it = Attributes::new(&[1, 3, b'a', 2, 9, 0]);
        assert_eq!(
            it.next(),
            Some(Attribute {
                attr_type: 1,
                value: b"a"
            })
        );
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
        assert_eq!(Attributes::new(&[1, 1]).next(), None);
    }
}
