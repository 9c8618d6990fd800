//! sparekey-radius: the RADIUS wire codec (pure, no I/O), the UDP responder, and the daemon.
#![forbid(unsafe_code)]


