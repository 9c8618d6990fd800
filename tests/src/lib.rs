//! Shared helpers for sparekey end-to-end tests.
