//! pam_sparekey: sparekey temporary codes as a PAM second factor, checked in-process against
//! the local store (no daemon needed), as DESIGN.md section 4 and README.md describe.
//!
//! `args` parses the PAM line, `auth` holds the logic over the [`handler::PamHandler`] trait
//! (tested with a scripted fake), and `ffi` is the thin shell over libpam that `pam_hooks!`
//! exports as `pam_sm_authenticate` and friends. Unsafe code lives only in pam-bindings
//! (its macro and its checked wrappers over libpam); this crate's own code has none, and
//! `deny(unsafe_code)` keeps it so.

#![deny(unsafe_code)]

// The deliberate panics of the end-to-end test are never in an optimised build: the packages
// are built with `--release`, so they cannot carry them, whatever features are asked for.
#[cfg(all(feature = "x-test-panic", not(debug_assertions)))]
compile_error!("the x-test-panic feature is for the tests only and is refused in release builds");

pub mod args;
pub mod auth;
pub mod ffi;
pub mod handler;
mod member;
pub mod offline;
pub mod site_client;

use ffi::PamSparekey;

// The entry points libpam looks up (pam_sm_authenticate and friends), made by the macro.
#[allow(missing_docs)]
mod entry_points {
    use super::PamSparekey;
    pam::pam_hooks!(PamSparekey);
}
