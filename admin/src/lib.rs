//! sparekey-admin: the admin socket protocol, its authorization and handlers, and the client.
