//! The shared packet writer behind [`crate::RequestBuilder`] and [`crate::ReplyBuilder`]: header, size limits, attribute encoding.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::attr::{self, MAX_VALUE_LEN};
use crate::auth;
use crate::code::Code;
use crate::error::Error;
use crate::packet::{HEADER_LEN, MAX_PACKET_LEN, MESSAGE_AUTHENTICATOR_ATTR_LEN};
use crate::password::{self, hidden_len};
use crate::secret::SharedSecret;

/// Initial buffer capacity: enough for typical requests and replies without regrowth.
const INITIAL_CAPACITY: usize = 256;

/// A packet under construction. The Length field is filled in by the `finish_*` methods.
#[derive(Debug)]
pub(crate) struct Writer {
    buf: Vec<u8>,
    /// Offset of the Message-Authenticator placeholder, which is always the first attribute.
    message_authenticator_at: Option<usize>,
}

impl Writer {
    /// Writes the header (Authenticator field = `authenticator`) and, if asked, a zeroed
    /// Message-Authenticator as the first attribute.
    pub(crate) fn new(
        code: Code,
        identifier: u8,
        authenticator: &[u8; 16],
        with_message_authenticator: bool,
    ) -> Self {
        let mut buf = Vec::with_capacity(INITIAL_CAPACITY);
        buf.extend_from_slice(&[code.as_u8(), identifier, 0, 0]);
        buf.extend_from_slice(authenticator);
        let message_authenticator_at = with_message_authenticator.then(|| {
            buf.extend_from_slice(&[
                attr::MESSAGE_AUTHENTICATOR,
                MESSAGE_AUTHENTICATOR_ATTR_LEN as u8,
            ]);
            buf.extend_from_slice(&[0; 16]);
            HEADER_LEN
        });
        Writer {
            buf,
            message_authenticator_at,
        }
    }

    /// The Authenticator field as written in the header.
    fn authenticator(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buf[4..HEADER_LEN]);
        a
    }

    /// Checks that an attribute of `attr_type` with a `value_len`-byte value may be added.
    fn check(&self, attr_type: u8, value_len: usize) -> Result<(), Error> {
        if attr_type == 0 || attr_type == attr::MESSAGE_AUTHENTICATOR {
            return Err(Error::ReservedAttributeType { attr_type });
        }
        if value_len > MAX_VALUE_LEN {
            return Err(Error::AttributeValueTooLong {
                attr_type,
                length: value_len,
            });
        }
        let length = self.buf.len() + 2 + value_len;
        if length > MAX_PACKET_LEN {
            return Err(Error::PacketTooLong { attr_type, length });
        }
        Ok(())
    }

    /// Appends an attribute with a raw value.
    pub(crate) fn add(&mut self, attr_type: u8, value: &[u8]) -> Result<(), Error> {
        self.check(attr_type, value.len())?;
        self.buf.push(attr_type);
        self.buf.push((value.len() + 2) as u8);
        self.buf.extend_from_slice(value);
        Ok(())
    }

    /// Appends a UTF-8 text attribute.
    pub(crate) fn add_str(&mut self, attr_type: u8, value: &str) -> Result<(), Error> {
        self.add(attr_type, value.as_bytes())
    }

    /// Appends a 32-bit big-endian integer attribute.
    pub(crate) fn add_u32(&mut self, attr_type: u8, value: u32) -> Result<(), Error> {
        self.add(attr_type, &value.to_be_bytes())
    }

    /// Appends an IPv4 address attribute.
    pub(crate) fn add_ipv4(&mut self, attr_type: u8, value: Ipv4Addr) -> Result<(), Error> {
        self.add(attr_type, &value.octets())
    }

    /// Appends an IPv6 address attribute.
    pub(crate) fn add_ipv6(&mut self, attr_type: u8, value: Ipv6Addr) -> Result<(), Error> {
        self.add(attr_type, &value.octets())
    }

    /// Appends a User-Password attribute hiding `password` with the header's
    /// Authenticator (which must be the final Request Authenticator).
    pub(crate) fn add_user_password(
        &mut self,
        password: &[u8],
        secret: &SharedSecret,
    ) -> Result<(), Error> {
        if password.len() > password::MAX_PASSWORD_LEN {
            return Err(Error::PasswordTooLong {
                length: password.len(),
            });
        }
        let hidden = hidden_len(password.len());
        self.check(attr::USER_PASSWORD, hidden)?;
        let authenticator = self.authenticator();
        self.buf.push(attr::USER_PASSWORD);
        self.buf.push((hidden + 2) as u8);
        password::hide_into(password, &authenticator, secret, &mut self.buf)
    }

    /// Writes the Length field and the Message-Authenticator computed over the packet as
    /// it stands (Authenticator field included).
    fn seal_message_authenticator(&mut self, secret: &SharedSecret) {
        let length = self.buf.len() as u16; // <= 4096, enforced by `check`
        self.buf[2..4].copy_from_slice(&length.to_be_bytes());
        if let Some(at) = self.message_authenticator_at {
            // Accounting packets compute it over an Authenticator field of zeros, as
            // FreeRADIUS does (RFC 3579 defines it for Access packets only).
            let accounting = matches!(
                Code::from_u8(self.buf[0]),
                Code::AccountingRequest | Code::AccountingResponse
            );
            let zeros = [0u8; 16];
            let mac =
                auth::message_authenticator(&self.buf, at, accounting.then_some(&zeros), secret);
            self.buf[at + 2..at + MESSAGE_AUTHENTICATOR_ATTR_LEN].copy_from_slice(&mac);
        }
    }

    /// Finishes a request: Length, then Message-Authenticator over the packet with the
    /// Request Authenticator in place.
    pub(crate) fn finish_request(mut self, secret: &SharedSecret) -> Vec<u8> {
        self.seal_message_authenticator(secret);
        self.buf
    }

    /// Finishes a reply whose header holds the Request Authenticator: Length, then
    /// Message-Authenticator (RFC 3579: computed with the Request Authenticator), then
    /// the Response Authenticator over the final attributes.
    pub(crate) fn finish_reply(mut self, secret: &SharedSecret) -> Vec<u8> {
        self.seal_message_authenticator(secret);
        let request_authenticator = self.authenticator();
        let response = auth::response_authenticator_raw(&self.buf, &request_authenticator, secret);
        self.buf[4..HEADER_LEN].copy_from_slice(&response);
        self.buf
    }
}

/// The attribute-appending methods both builders share; each forwards to the builder's
/// `writer` and returns the builder for chaining.
macro_rules! attribute_methods {
    () => {
        /// Appends an attribute with a raw value (at most 253 bytes; not type 0 or 80).
        pub fn add(&mut self, attr_type: u8, value: &[u8]) -> Result<&mut Self, Error> {
            self.writer.add(attr_type, value)?;
            Ok(self)
        }

        /// Appends a text attribute (User-Name, Reply-Message, ...).
        pub fn add_str(&mut self, attr_type: u8, value: &str) -> Result<&mut Self, Error> {
            self.writer.add_str(attr_type, value)?;
            Ok(self)
        }

        /// Appends a Vendor-Specific attribute holding sparekey's sub-attribute `sub_type`
        /// (see [`crate::member`]).
        pub fn add_vendor(&mut self, sub_type: u8, value: &[u8]) -> Result<&mut Self, Error> {
            let v = crate::member::vendor_value(sub_type, value)?;
            self.writer.add(crate::attr::VENDOR_SPECIFIC, &v)?;
            Ok(self)
        }

        /// Appends a Vendor-Specific attribute of `vendor` holding one sub-attribute
        /// (Fortinet-Group-Name, PaloAlto-User-Group, ...).
        pub fn add_vendor_attribute(
            &mut self,
            vendor: u32,
            sub_type: u8,
            value: &[u8],
        ) -> Result<&mut Self, Error> {
            let v = crate::member::any_vendor_value(vendor, sub_type, value)?;
            self.writer.add(crate::attr::VENDOR_SPECIFIC, &v)?;
            Ok(self)
        }

        /// Appends a 32-bit big-endian integer attribute (Session-Timeout, NAS-Port, ...).
        pub fn add_u32(&mut self, attr_type: u8, value: u32) -> Result<&mut Self, Error> {
            self.writer.add_u32(attr_type, value)?;
            Ok(self)
        }

        /// Appends an IPv4 address attribute (NAS-IP-Address, ...).
        pub fn add_ipv4(
            &mut self,
            attr_type: u8,
            value: std::net::Ipv4Addr,
        ) -> Result<&mut Self, Error> {
            self.writer.add_ipv4(attr_type, value)?;
            Ok(self)
        }

        /// Appends an IPv6 address attribute (NAS-IPv6-Address, ...).
        pub fn add_ipv6(
            &mut self,
            attr_type: u8,
            value: std::net::Ipv6Addr,
        ) -> Result<&mut Self, Error> {
            self.writer.add_ipv6(attr_type, value)?;
            Ok(self)
        }
    };
}

pub(crate) use attribute_methods;
