//! pam_sparekey: sparekey temporary codes as a PAM second factor, checked in-process against
//! the local store (no daemon needed), as DESIGN.md section 4 and README.md describe.
//!
//! `args` parses the PAM line, `auth` holds the logic over the [`handler::PamHandler`] trait
//! (tested with a scripted fake), and `ffi` is the thin shell over libpam that `pam_hooks!`
//! exports as `pam_sm_authenticate` and friends. Unsafe code lives only in pam-bindings
//! (its macro and its checked wrappers over libpam); this crate's own code has none, and
//! `deny(unsafe_code)` keeps it so.

#![deny(unsafe_code)]

pub mod args;
pub mod auth;
pub mod ffi;
pub mod handler;

use ffi::PamSparekey;

pam::pam_hooks!(PamSparekey);
