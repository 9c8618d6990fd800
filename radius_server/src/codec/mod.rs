//! RADIUS wire codec: RFC 2865 packets, RFC 3579 Message-Authenticator, RFC 5997 Status-Server. No I/O.
