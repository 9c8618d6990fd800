//! [`RequestBuilder`]: encodes Access-Request and Status-Server packets (client side, load generator, tests).

use crate::code::Code;
use crate::encode::Writer;
use crate::error::Error;
use crate::secret::SharedSecret;

/// Builds an Access-Request or Status-Server packet.
///
/// The caller supplies the Request Authenticator (16 random bytes from a CSPRNG in real
/// use; fixed in tests). Message-Authenticator, when included, is the first attribute
/// and is computed by [`RequestBuilder::finish`].
#[derive(Debug)]
pub struct RequestBuilder<'s> {
    writer: Writer,
    secret: &'s SharedSecret,
}

impl<'s> RequestBuilder<'s> {
    /// An Access-Request carrying a Message-Authenticator.
    pub fn access_request(
        identifier: u8,
        authenticator: [u8; 16],
        secret: &'s SharedSecret,
    ) -> Self {
        RequestBuilder {
            writer: Writer::new(Code::AccessRequest, identifier, &authenticator, true),
            secret,
        }
    }

    /// An Access-Request without Message-Authenticator, as plain RFC 2865 peers send
    /// (and as the RFC 2865 §7 examples are). Servers hardened against BlastRADIUS drop it.
    pub fn access_request_without_message_authenticator(
        identifier: u8,
        authenticator: [u8; 16],
        secret: &'s SharedSecret,
    ) -> Self {
        RequestBuilder {
            writer: Writer::new(Code::AccessRequest, identifier, &authenticator, false),
            secret,
        }
    }

    /// A Status-Server (RFC 5997), which always carries a Message-Authenticator.
    pub fn status_server(
        identifier: u8,
        authenticator: [u8; 16],
        secret: &'s SharedSecret,
    ) -> Self {
        RequestBuilder {
            writer: Writer::new(Code::StatusServer, identifier, &authenticator, true),
            secret,
        }
    }

    crate::encode::attribute_methods!();

    /// Appends a User-Password attribute hiding `password` (at most 128 bytes) with the
    /// shared secret and this request's authenticator (RFC 2865 §5.2).
    pub fn add_user_password(&mut self, password: &[u8]) -> Result<&mut Self, Error> {
        self.writer.add_user_password(password, self.secret)?;
        Ok(self)
    }

    /// Fills in Length and the Message-Authenticator and returns the datagram.
    pub fn finish(self) -> Vec<u8> {
        self.writer.finish_request(self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr;
    use crate::auth::MessageAuthenticatorPolicy;
    use crate::packet::PacketRef;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const AUTH: [u8; 16] = [7; 16];

    fn secret() -> SharedSecret {
        SharedSecret::new(b"testing123").unwrap()
    }

    #[test]
    fn access_request_round_trip() {
        let s = secret();
        let mut b = RequestBuilder::access_request(42, AUTH, &s);
        b.add_str(attr::USER_NAME, "bob")
            .unwrap()
            .add_user_password(b"a password longer than sixteen bytes")
            .unwrap()
            .add_ipv4(attr::NAS_IP_ADDRESS, Ipv4Addr::new(10, 0, 0, 1))
            .unwrap()
            .add_ipv6(attr::NAS_IPV6_ADDRESS, Ipv6Addr::LOCALHOST)
            .unwrap()
            .add_u32(attr::EVENT_TIMESTAMP, 1_700_000_000)
            .unwrap();
        let p = b.finish();
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(d.code(), Code::AccessRequest);
        assert_eq!(d.identifier(), 42);
        assert_eq!(d.authenticator(), &AUTH);
        assert_eq!(
            d.attributes().next().unwrap().attr_type,
            attr::MESSAGE_AUTHENTICATOR
        );
        d.verify_request(&s, MessageAuthenticatorPolicy::Required)
            .unwrap();
        assert_eq!(d.attribute(attr::USER_NAME), Some(&b"bob"[..]));
        assert_eq!(
            d.user_password(&s).unwrap().unwrap().as_bytes(),
            b"a password longer than sixteen bytes"
        );
        let attrs: Vec<_> = d.attributes().collect();
        assert_eq!(attrs[3].as_ipv4(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(attrs[4].as_ipv6(), Some(Ipv6Addr::LOCALHOST));
        assert_eq!(attrs[5].as_u32(), Some(1_700_000_000));
    }

    #[test]
    fn status_server_round_trip() {
        let s = secret();
        let mut b = RequestBuilder::status_server(1, AUTH, &s);
        b.add_str(attr::NAS_IDENTIFIER, "probe").unwrap();
        let p = b.finish();
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(d.code(), Code::StatusServer);
        assert!(d.message_authenticator().is_some());
        d.verify_request(&s, MessageAuthenticatorPolicy::Required)
            .unwrap();
    }

    #[test]
    fn encoder_limits() {
        let s = secret();
        let mut b = RequestBuilder::access_request(1, AUTH, &s);
        assert!(b.add(attr::REPLY_MESSAGE, &[b'x'; 253]).is_ok());
        assert_eq!(
            b.add(attr::REPLY_MESSAGE, &[b'x'; 254]).unwrap_err(),
            Error::AttributeValueTooLong {
                attr_type: attr::REPLY_MESSAGE,
                length: 254
            }
        );
        assert_eq!(
            b.add(0, b"x").unwrap_err(),
            Error::ReservedAttributeType { attr_type: 0 }
        );
        assert_eq!(
            b.add(attr::MESSAGE_AUTHENTICATOR, &[0; 16]).unwrap_err(),
            Error::ReservedAttributeType { attr_type: 80 }
        );
        assert_eq!(
            b.add_user_password(&[b'p'; 129]).unwrap_err(),
            Error::PasswordTooLong { length: 129 }
        );
        // 20 header + 18 M-A + 255 already; fill up to the 4096 limit exactly.
        let mut len = 20 + 18 + 255;
        while len + 255 <= 4096 {
            b.add(attr::REPLY_MESSAGE, &[b'y'; 253]).unwrap();
            len += 255;
        }
        let room = 4096 - len;
        assert_eq!(
            b.add(attr::REPLY_MESSAGE, &vec![b'z'; room - 1])
                .unwrap_err(),
            Error::PacketTooLong {
                attr_type: attr::REPLY_MESSAGE,
                length: 4097
            }
        );
        b.add(attr::REPLY_MESSAGE, &vec![b'z'; room - 2]).unwrap();
        let p = b.finish();
        assert_eq!(p.len(), 4096);
        let d = PacketRef::decode(&p).unwrap();
        d.verify_request(&s, MessageAuthenticatorPolicy::Required)
            .unwrap();
    }
}
