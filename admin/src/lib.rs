//! sparekey-admin: the admin socket. Its protocol (shared by sparekeyd and sparekeyctl), who
//! may do what ([`caller`]), the request handlers (library code over sparekey-core, with the
//! time passed in), the socket server that sparekeyd runs, and the client sparekeyctl uses.
#![forbid(unsafe_code)]

pub mod caller;
pub mod client;
pub mod ctl;
mod error;
pub mod handler;
pub mod protocol;
pub mod server;
pub mod state;

pub use error::Error;
pub use state::State;
