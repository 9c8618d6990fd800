//! The strict decoder and [`PacketRef`], a zero-copy view of a validated RADIUS packet.

use crate::attr::{self, Attribute, Attributes};
use crate::code::Code;
use crate::error::Error;
use crate::password::{unhide_password, Password};
use crate::secret::SharedSecret;

/// Size of the RADIUS header: Code, Identifier, Length, Authenticator.
pub const HEADER_LEN: usize = 20;
/// Largest RADIUS packet (RFC 2865 §3).
pub const MAX_PACKET_LEN: usize = 4096;
/// Length of a Message-Authenticator attribute including its 2-byte header.
pub const MESSAGE_AUTHENTICATOR_ATTR_LEN: usize = 18;

/// A decoded, structurally valid RADIUS packet borrowed from the received datagram.
///
/// Only [`PacketRef::decode`] creates one, so every `PacketRef` has passed all the
/// structural checks. Decoding does not allocate and does not check any authenticator:
/// call [`PacketRef::verify_request`] (or [`PacketRef::verify_response`]) next.
#[derive(Debug, Clone, Copy)]
pub struct PacketRef<'a> {
    /// Exactly Length bytes (trailing datagram bytes beyond Length are cut off).
    bytes: &'a [u8],
    authenticator: &'a [u8; 16],
    /// Offset of the Message-Authenticator attribute (its type byte), if present.
    message_authenticator_at: Option<usize>,
}

impl<'a> PacketRef<'a> {
    /// Decodes and validates a received datagram.
    ///
    /// Refuses datagrams under 20 or over 4096 bytes, a Length field outside 20..=4096 or
    /// beyond the datagram, attribute type 0, attribute length under 2, attributes running
    /// past Length, a Message-Authenticator whose length is not 18, and more than one
    /// Message-Authenticator. Bytes after Length are ignored (RFC 2865 §3).
    pub fn decode(datagram: &'a [u8]) -> Result<Self, Error> {
        let received = datagram.len();
        if received < HEADER_LEN {
            return Err(Error::DatagramTooShort { received });
        }
        if received > MAX_PACKET_LEN {
            return Err(Error::DatagramTooLong { received });
        }
        let length = u16::from_be_bytes([datagram[2], datagram[3]]);
        let len = usize::from(length);
        if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&len) {
            return Err(Error::LengthFieldOutOfRange { length });
        }
        let Some(bytes) = datagram.get(..len) else {
            return Err(Error::Truncated { length, received });
        };
        let authenticator = match <&[u8; 16]>::try_from(&bytes[4..HEADER_LEN]) {
            Ok(a) => a,
            Err(_) => return Err(Error::DatagramTooShort { received }),
        };

        let mut message_authenticator_at = None;
        let mut offset = HEADER_LEN;
        while offset < len {
            let remaining = len - offset;
            if remaining < 2 {
                return Err(Error::AttributeHeaderTruncated { offset });
            }
            let attr_type = bytes[offset];
            let attr_len = bytes[offset + 1];
            if attr_type == 0 {
                return Err(Error::AttributeTypeZero { offset });
            }
            if attr_len < 2 {
                return Err(Error::AttributeTooShort {
                    attr_type,
                    offset,
                    length: attr_len,
                });
            }
            if usize::from(attr_len) > remaining {
                return Err(Error::AttributeOverflow {
                    attr_type,
                    offset,
                    length: attr_len,
                    remaining,
                });
            }
            if attr_type == attr::MESSAGE_AUTHENTICATOR {
                if usize::from(attr_len) != MESSAGE_AUTHENTICATOR_ATTR_LEN {
                    return Err(Error::MessageAuthenticatorLength {
                        offset,
                        length: attr_len,
                    });
                }
                if let Some(first_offset) = message_authenticator_at {
                    return Err(Error::DuplicateMessageAuthenticator {
                        first_offset,
                        offset,
                    });
                }
                message_authenticator_at = Some(offset);
            }
            offset += usize::from(attr_len);
        }

        Ok(PacketRef {
            bytes,
            authenticator,
            message_authenticator_at,
        })
    }

    /// The packet code.
    pub fn code(&self) -> Code {
        Code::from_u8(self.bytes[0])
    }

    /// The Identifier field.
    pub fn identifier(&self) -> u8 {
        self.bytes[1]
    }

    /// The Length field (also the length of [`PacketRef::as_bytes`]).
    pub fn length(&self) -> usize {
        self.bytes.len()
    }

    /// The Authenticator field (Request or Response Authenticator, depending on the code).
    pub fn authenticator(&self) -> &'a [u8; 16] {
        self.authenticator
    }

    /// The packet bytes, exactly Length long (datagram padding removed). Store these, not
    /// the datagram, when caching.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// All attributes, in wire order.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(&self.bytes[HEADER_LEN..])
    }

    /// The value of the first attribute of type `attr_type`.
    pub fn attribute(&self, attr_type: u8) -> Option<&'a [u8]> {
        self.attributes()
            .find(|a| a.attr_type == attr_type)
            .map(|a| a.value)
    }

    /// The values of every attribute of type `attr_type`, in wire order.
    pub fn attributes_of(&self, attr_type: u8) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.attributes()
            .filter(move |a: &Attribute<'a>| a.attr_type == attr_type)
            .map(|a| a.value)
    }

    /// Offset (of the type byte) of the Message-Authenticator attribute, if present.
    pub fn message_authenticator_offset(&self) -> Option<usize> {
        self.message_authenticator_at
    }

    /// The Message-Authenticator value, if present (not verified).
    pub fn message_authenticator(&self) -> Option<&'a [u8; 16]> {
        let at = self.message_authenticator_at?;
        <&[u8; 16]>::try_from(
            self.bytes
                .get(at + 2..at + MESSAGE_AUTHENTICATOR_ATTR_LEN)?,
        )
        .ok()
    }

    /// Unhides the first User-Password attribute with this packet's Request
    /// Authenticator; `Ok(None)` if there is none.
    ///
    /// Only meaningful for an Access-Request whose Message-Authenticator (if any) has
    /// already been verified.
    pub fn user_password(&self, secret: &SharedSecret) -> Result<Option<Password>, Error> {
        match self.attribute(attr::USER_PASSWORD) {
            None => Ok(None),
            Some(hidden) => unhide_password(hidden, self.authenticator, secret).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header for a packet of `len` bytes.
    fn header(code: u8, len: u16) -> Vec<u8> {
        let mut p = vec![code, 7];
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&[0xaa; 16]);
        p
    }

    /// A packet with the given attribute area and a correct Length field.
    fn with_attrs(attrs: &[u8]) -> Vec<u8> {
        let mut p = header(1, (HEADER_LEN + attrs.len()) as u16);
        p.extend_from_slice(attrs);
        p
    }

    #[test]
    fn minimal_packet() {
        let p = header(12, 20);
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(d.code(), Code::StatusServer);
        assert_eq!(d.identifier(), 7);
        assert_eq!(d.length(), 20);
        assert_eq!(d.authenticator(), &[0xaa; 16]);
        assert_eq!(d.attributes().count(), 0);
        assert_eq!(d.message_authenticator(), None);
    }

    #[test]
    fn attribute_accessors() {
        let mut attrs = vec![1, 6, b'n', b'e', b'm', b'o', 33, 3, b'x', 33, 2];
        attrs.extend_from_slice(&[80, 18]);
        attrs.extend_from_slice(&[0x55; 16]);
        let p = with_attrs(&attrs);
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(d.attribute(attr::USER_NAME), Some(&b"nemo"[..]));
        assert_eq!(d.attribute(attr::STATE), None);
        let proxy: Vec<&[u8]> = d.attributes_of(attr::PROXY_STATE).collect();
        assert_eq!(proxy, [&b"x"[..], &b""[..]]);
        assert_eq!(d.message_authenticator_offset(), Some(31));
        assert_eq!(d.message_authenticator(), Some(&[0x55; 16]));
        assert_eq!(d.attributes().count(), 4);
    }

    #[test]
    fn datagram_too_short() {
        assert_eq!(
            PacketRef::decode(&[1; 19]).unwrap_err(),
            Error::DatagramTooShort { received: 19 }
        );
        assert_eq!(
            PacketRef::decode(&[]).unwrap_err(),
            Error::DatagramTooShort { received: 0 }
        );
    }

    #[test]
    fn datagram_too_long() {
        let mut p = header(1, 20);
        p.resize(4097, 0);
        assert_eq!(
            PacketRef::decode(&p).unwrap_err(),
            Error::DatagramTooLong { received: 4097 }
        );
        // Exactly 4096 is fine.
        p.truncate(4096);
        assert!(PacketRef::decode(&p).is_ok());
    }

    #[test]
    fn length_field_out_of_range() {
        assert_eq!(
            PacketRef::decode(&header(1, 19)).unwrap_err(),
            Error::LengthFieldOutOfRange { length: 19 }
        );
        let mut p = header(1, 4097);
        p.resize(4096, 0);
        assert_eq!(
            PacketRef::decode(&p).unwrap_err(),
            Error::LengthFieldOutOfRange { length: 4097 }
        );
    }

    #[test]
    fn length_field_beyond_datagram() {
        let mut p = with_attrs(&[1, 6, b'n', b'e', b'm', b'o']);
        p.pop();
        assert_eq!(
            PacketRef::decode(&p).unwrap_err(),
            Error::Truncated {
                length: 26,
                received: 25
            }
        );
    }

    #[test]
    fn trailing_bytes_beyond_length_are_ignored() {
        let mut p = with_attrs(&[1, 6, b'n', b'e', b'm', b'o']);
        p.extend_from_slice(&[0, 0, 0, 0xff]);
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(d.length(), 26);
        assert_eq!(d.as_bytes(), &p[..26]);
        assert_eq!(d.attributes().count(), 1);
    }

    #[test]
    fn attribute_type_zero() {
        let p = with_attrs(&[1, 3, b'a', 0, 2]);
        assert_eq!(
            PacketRef::decode(&p).unwrap_err(),
            Error::AttributeTypeZero { offset: 23 }
        );
    }

    #[test]
    fn attribute_length_below_two() {
        for bad in [0u8, 1] {
            let p = with_attrs(&[1, 3, b'a', 18, bad, 0]);
            assert_eq!(
                PacketRef::decode(&p).unwrap_err(),
                Error::AttributeTooShort {
                    attr_type: 18,
                    offset: 23,
                    length: bad
                }
            );
        }
    }

    #[test]
    fn attribute_header_truncated() {
        let p = with_attrs(&[1, 3, b'a', 18]);
        assert_eq!(
            PacketRef::decode(&p).unwrap_err(),
            Error::AttributeHeaderTruncated { offset: 23 }
        );
    }

    #[test]
    fn attribute_overflowing_packet() {
        let mut attrs = vec![1, 2, 3, 40];
        attrs.extend_from_slice(&[0; 10]);
        let p = with_attrs(&attrs);
        let err = PacketRef::decode(&p).unwrap_err();
        assert_eq!(
            err,
            Error::AttributeOverflow {
                attr_type: 3,
                offset: 22,
                length: 40,
                remaining: 12
            }
        );
        assert_eq!(
            err.to_string(),
            "attribute 3 at offset 22 claims length 40 but only 12 bytes remain"
        );
        // Bytes beyond Length do not rescue an overflowing attribute.
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 64]);
        assert!(matches!(
            PacketRef::decode(&padded),
            Err(Error::AttributeOverflow { .. })
        ));
    }

    #[test]
    fn message_authenticator_wrong_length() {
        for len in [2u8, 17, 19] {
            let mut attrs = vec![80, len];
            attrs.resize(usize::from(len), 0);
            let p = with_attrs(&attrs);
            assert_eq!(
                PacketRef::decode(&p).unwrap_err(),
                Error::MessageAuthenticatorLength {
                    offset: 20,
                    length: len
                },
                "len {len}"
            );
        }
    }

    #[test]
    fn duplicate_message_authenticator() {
        let mut attrs = vec![80, 18];
        attrs.extend_from_slice(&[0; 16]);
        attrs.extend_from_slice(&[1, 3, b'a', 80, 18]);
        attrs.extend_from_slice(&[0; 16]);
        let p = with_attrs(&attrs);
        assert_eq!(
            PacketRef::decode(&p).unwrap_err(),
            Error::DuplicateMessageAuthenticator {
                first_offset: 20,
                offset: 41
            }
        );
    }
}
