//! sparekey-admin: what an admin request may do and does. Who the caller is and which roles
//! they hold ([`caller`]), and the request handlers ([`handler`]): library code over
//! sparekey-core's [`sparekey_core::Site`], with the time passed in. The socket server that
//! feeds them is sparekeyd's (the sparekey-daemon crate); the protocol is
//! sparekey-admin-protocol, which sparekeyctl shares without linking any of this.
#![forbid(unsafe_code)]

pub mod caller;
pub mod handler;

pub use sparekey_admin_protocol as protocol;
