//! The crate's single error type: every way a datagram, a secret or an encode request can be refused.

use core::fmt;

use crate::code::Code;

/// Everything the codec can refuse, with enough context to log what was wrong and where.
///
/// Offsets are byte offsets from the start of the datagram; "type" is the attribute type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The datagram is shorter than the 20-byte RADIUS header.
    DatagramTooShort {
        /// Bytes received.
        received: usize,
    },
    /// The datagram is longer than the 4096-byte RADIUS maximum.
    DatagramTooLong {
        /// Bytes received.
        received: usize,
    },
    /// The header's Length field is outside 20..=4096.
    LengthFieldOutOfRange {
        /// Value of the Length field.
        length: u16,
    },
    /// The header's Length field claims more bytes than the datagram holds.
    Truncated {
        /// Value of the Length field.
        length: u16,
        /// Bytes received.
        received: usize,
    },
    /// Only one byte is left for an attribute, which needs a 2-byte header.
    AttributeHeaderTruncated {
        /// Offset of the stray byte.
        offset: usize,
    },
    /// An attribute has type 0, which is reserved.
    AttributeTypeZero {
        /// Offset of the attribute.
        offset: usize,
    },
    /// An attribute's length field is below 2 (the header alone).
    AttributeTooShort {
        /// Attribute type.
        attr_type: u8,
        /// Offset of the attribute.
        offset: usize,
        /// Value of its length field.
        length: u8,
    },
    /// An attribute's length runs past the end of the packet (as given by the Length field).
    AttributeOverflow {
        /// Attribute type.
        attr_type: u8,
        /// Offset of the attribute.
        offset: usize,
        /// Value of its length field.
        length: u8,
        /// Bytes left in the packet from `offset`.
        remaining: usize,
    },
    /// A Message-Authenticator attribute whose length is not 18.
    MessageAuthenticatorLength {
        /// Offset of the attribute.
        offset: usize,
        /// Value of its length field.
        length: u8,
    },
    /// A second Message-Authenticator attribute.
    DuplicateMessageAuthenticator {
        /// Offset of the first one.
        first_offset: usize,
        /// Offset of the second one.
        offset: usize,
    },
    /// A Message-Authenticator is required (by policy, or by RFC 5997 for Status-Server) but absent.
    MissingMessageAuthenticator {
        /// Code of the packet.
        code: Code,
    },
    /// The Message-Authenticator does not match the packet and shared secret.
    BadMessageAuthenticator,
    /// The Response Authenticator does not match the packet, request and shared secret.
    BadResponseAuthenticator,
    /// An Accounting-Request's Request Authenticator does not match the packet and shared
    /// secret (RFC 2866 §3).
    BadRequestAuthenticator,
    /// The operation is not defined for packets of this code.
    UnsupportedCode {
        /// Code of the packet.
        code: Code,
    },
    /// The shared secret is empty (RFC 2865 §3 forbids it).
    EmptySecret,
    /// A hidden User-Password value whose length is not a multiple of 16 in 16..=128.
    HiddenPasswordLength {
        /// Length of the hidden value.
        length: usize,
    },
    /// A clear-text password over 128 bytes cannot be hidden.
    PasswordTooLong {
        /// Length of the password.
        length: usize,
    },
    /// An attribute value over 253 bytes cannot be encoded.
    AttributeValueTooLong {
        /// Attribute type.
        attr_type: u8,
        /// Length of the value.
        length: usize,
    },
    /// Adding the attribute would make the packet exceed 4096 bytes.
    PacketTooLong {
        /// Attribute type being added.
        attr_type: u8,
        /// Length the packet would have had.
        length: usize,
    },
    /// This attribute type cannot be added through the generic encoder API
    /// (type 0 is reserved; Message-Authenticator is managed by the encoder).
    ReservedAttributeType {
        /// Attribute type.
        attr_type: u8,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::DatagramTooShort { received } => write!(
                f,
                "datagram of {received} bytes is shorter than the 20-byte RADIUS header"
            ),
            Error::DatagramTooLong { received } => write!(
                f,
                "datagram of {received} bytes exceeds the 4096-byte RADIUS maximum"
            ),
            Error::LengthFieldOutOfRange { length } => write!(
                f,
                "header Length field is {length}; expected a value between 20 and 4096"
            ),
            Error::Truncated { length, received } => write!(
                f,
                "header Length field is {length} but the datagram holds only {received} bytes"
            ),
            Error::AttributeHeaderTruncated { offset } => write!(
                f,
                "attribute at offset {offset} needs a 2-byte header but only 1 byte remains"
            ),
            Error::AttributeTypeZero { offset } => {
                write!(f, "attribute at offset {offset} has reserved type 0")
            }
            Error::AttributeTooShort {
                attr_type,
                offset,
                length,
            } => write!(
                f,
                "attribute {attr_type} at offset {offset} claims length {length}; expected at least 2"
            ),
            Error::AttributeOverflow {
                attr_type,
                offset,
                length,
                remaining,
            } => write!(
                f,
                "attribute {attr_type} at offset {offset} claims length {length} but only {remaining} bytes remain"
            ),
            Error::MessageAuthenticatorLength { offset, length } => write!(
                f,
                "Message-Authenticator (80) at offset {offset} has length {length}; expected 18"
            ),
            Error::DuplicateMessageAuthenticator {
                first_offset,
                offset,
            } => write!(
                f,
                "second Message-Authenticator (80) at offset {offset}; the first is at offset {first_offset}"
            ),
            Error::MissingMessageAuthenticator { code } => write!(
                f,
                "{code} packet has no Message-Authenticator (80) but one is required"
            ),
            Error::BadMessageAuthenticator => f.write_str(
                "Message-Authenticator does not match the packet and shared secret",
            ),
            Error::BadRequestAuthenticator => f.write_str(
                "the Accounting-Request's Request Authenticator does not match the packet and shared secret",
            ),
            Error::BadResponseAuthenticator => f.write_str(
                "Response Authenticator does not match the packet, request and shared secret",
            ),
            Error::UnsupportedCode { code } => {
                write!(f, "operation is not supported for {code} packets")
            }
            Error::EmptySecret => f.write_str("shared secret is empty; expected at least 1 byte"),
            Error::HiddenPasswordLength { length } => write!(
                f,
                "hidden User-Password is {length} bytes; expected a multiple of 16 between 16 and 128"
            ),
            Error::PasswordTooLong { length } => write!(
                f,
                "password of {length} bytes cannot be hidden; expected at most 128"
            ),
            Error::AttributeValueTooLong { attr_type, length } => write!(
                f,
                "attribute {attr_type} value of {length} bytes; expected at most 253"
            ),
            Error::PacketTooLong { attr_type, length } => write!(
                f,
                "adding attribute {attr_type} would make the packet {length} bytes; expected at most 4096"
            ),
            Error::ReservedAttributeType { attr_type } => write!(
                f,
                "attribute type {attr_type} cannot be added directly (0 is reserved, 80 is added by the encoder)"
            ),
        }
    }
}

impl std::error::Error for Error {}
