//! sparekey-conf: the TOML files admins edit.
