//! sparekey-radius-codec: RADIUS packets on the wire, pure and without I/O.
