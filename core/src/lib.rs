//! sparekey-core.
