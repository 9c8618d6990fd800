//! Shared helpers for sparekey's end-to-end tests: a throwaway site (config, key, store in a
//! temporary directory), the real sparekeyd and sparekeyctl processes, and libpam glue.

pub mod bins;
pub mod pam;
pub mod postgres;
pub mod radius;
pub mod radius_modes;
pub mod site;
