//! Where a RADIUS login comes from, worded for the audit log:
//! `radius client=vpn-gw nas=gw1.example calling-station=203.0.113.7`.

use sparekey_radius_codec::{attr, PacketRef};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The most bytes of one attribute shown; the rest is cut and marked with "...".
pub const MAX_SHOWN: usize = 64;

/// The audit `source` of a request from the client named `client`: the NAS by
/// NAS-Identifier, else NAS-IP-Address, else NAS-IPv6-Address, and the Calling-Station-Id;
/// "-" for what the request does not carry.
pub fn describe(client: &str, packet: &PacketRef<'_>) -> String {
    let nas = match (
        packet.attribute(attr::NAS_IDENTIFIER),
        packet.attribute(attr::NAS_IP_ADDRESS),
        packet.attribute(attr::NAS_IPV6_ADDRESS),
    ) {
        (Some(id), _, _) => printable(id),
        (None, Some(v4), _) => <[u8; 4]>::try_from(v4)
            .map(|a| Ipv4Addr::from(a).to_string())
            .unwrap_or_else(|_| printable(v4)),
        (None, None, Some(v6)) => <[u8; 16]>::try_from(v6)
            .map(|a| Ipv6Addr::from(a).to_string())
            .unwrap_or_else(|_| printable(v6)),
        (None, None, None) => "-".into(),
    };
    let calling = packet
        .attribute(attr::CALLING_STATION_ID)
        .map_or_else(|| "-".into(), printable);
    format!(
        "radius client={} nas={nas} calling-station={calling}",
        printable(client.as_bytes())
    )
}

/// `bytes` as one word of printable ASCII: anything else (spaces, quotes, backslashes,
/// control and non-ASCII bytes) as `\xNN`, at most [`MAX_SHOWN`] bytes of it. Empty is "-".
pub fn printable(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    let mut out = String::with_capacity(bytes.len().min(MAX_SHOWN) + 3);
    for &b in bytes.iter().take(MAX_SHOWN) {
        if b.is_ascii_graphic() && b != b'\\' && b != b'"' && b != b'\'' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if bytes.len() > MAX_SHOWN {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparekey_radius_codec::{RequestBuilder, SharedSecret};

    fn packet(build: impl FnOnce(&mut RequestBuilder<'_>)) -> Vec<u8> {
        let s = SharedSecret::new(b"secret").unwrap();
        let mut b = RequestBuilder::access_request(1, [7; 16], &s);
        build(&mut b);
        b.finish()
    }

    #[test]
    fn nas_identifier_is_preferred() {
        let p = packet(|b| {
            b.add_str(attr::NAS_IDENTIFIER, "gw1.example").unwrap();
            b.add_ipv4(attr::NAS_IP_ADDRESS, Ipv4Addr::new(192, 0, 2, 1))
                .unwrap();
            b.add_str(attr::CALLING_STATION_ID, "203.0.113.7").unwrap();
        });
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(
            describe("vpn-gw", &d),
            "radius client=vpn-gw nas=gw1.example calling-station=203.0.113.7"
        );
    }

    #[test]
    fn nas_address_when_no_identifier_and_dashes_for_absent() {
        let p = packet(|b| {
            b.add_ipv4(attr::NAS_IP_ADDRESS, Ipv4Addr::new(192, 0, 2, 1))
                .unwrap();
        });
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(
            describe("gw", &d),
            "radius client=gw nas=192.0.2.1 calling-station=-"
        );
        let p = packet(|b| {
            b.add_ipv6(attr::NAS_IPV6_ADDRESS, "2001:db8::1".parse().unwrap())
                .unwrap();
        });
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(
            describe("gw", &d),
            "radius client=gw nas=2001:db8::1 calling-station=-"
        );
        let p = packet(|_| {});
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(
            describe("gw", &d),
            "radius client=gw nas=- calling-station=-"
        );
    }

    #[test]
    fn hostile_text_cannot_forge_fields_or_lines() {
        assert_eq!(printable(b"a b=c\nd"), "a\\x20b=c\\x0ad");
        assert_eq!(printable("é\"\\".as_bytes()), "\\xc3\\xa9\\x22\\x5c");
        assert_eq!(printable(b""), "-");
        let long = [b'x'; 100];
        assert_eq!(printable(&long), format!("{}...", "x".repeat(MAX_SHOWN)));
    }
}
