//! sparekey-radius-codec: RADIUS packets on the wire, pure and without I/O.
//!
//! Covers RFC 2865 (packets, attributes, User-Password hiding, Response Authenticator),
//! RFC 3579 §3.2 (Message-Authenticator) and RFC 5997 (Status-Server). Decoding borrows
//! from the datagram and does not allocate.
//!
//! Per received datagram, in this order (cheapest rejection first):
//!
//! 1. [`PacketRef::decode`] — structural checks only, no crypto, no allocation.
//! 2. Dispatch on [`PacketRef::code`]; look up the duplicate cache by
//!    (source, [`PacketRef::identifier`], [`PacketRef::authenticator`]).
//! 3. [`PacketRef::verify_request`] with the client's [`SharedSecret`] (built once at
//!    configuration load) — one HMAC-MD5.
//! 4. [`PacketRef::user_password`] — only after verification.
//! 5. [`ReplyBuilder::accept`] / [`ReplyBuilder::reject`] / [`ReplyBuilder::challenge`],
//!    then [`ReplyBuilder::copy_proxy_state`] and [`ReplyBuilder::finish`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounting;
pub mod attr;
pub mod auth;
pub mod code;
mod encode;
pub mod error;
pub mod member;
pub mod packet;
pub mod password;
pub mod reply;
pub mod request;
pub mod salt;
pub mod secret;

#[cfg(test)]
mod robustness_tests;
#[cfg(test)]
mod test_vectors;

pub use attr::{Attribute, Attributes};
pub use auth::{response_authenticator, MessageAuthenticatorPolicy};
pub use code::Code;
pub use error::Error;
pub use packet::{PacketRef, HEADER_LEN, MAX_PACKET_LEN};
pub use password::{hide_password, unhide_password, Password, MAX_PASSWORD_LEN};
pub use reply::ReplyBuilder;
pub use request::RequestBuilder;
pub use secret::SharedSecret;
