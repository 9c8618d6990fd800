//! sparekey-radius: sparekeyd, the daemon that serves the admin socket and (as it lands) answers
//! RADIUS. The wire codec lives in the sparekey-radius-codec crate, pure and without I/O.
#![forbid(unsafe_code)]

pub mod daemon;
