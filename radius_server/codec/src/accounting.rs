//! Accounting (RFC 2866): verifying an Accounting-Request's Request Authenticator (and its
//! Message-Authenticator when present), and the Accounting-Response that answers it.

use subtle::ConstantTimeEq;

use crate::auth;
use crate::code::Code;
use crate::error::Error;
use crate::packet::{PacketRef, HEADER_LEN};
use crate::reply::ReplyBuilder;
use crate::secret::SharedSecret;

/// Acct-Status-Type (40) values (RFC 2866 §5.1).
pub mod status {
    /// A session starts.
    pub const START: u32 = 1;
    /// A session ends.
    pub const STOP: u32 = 2;
    /// A running session's counters.
    pub const INTERIM_UPDATE: u32 = 3;
    /// The NAS starts accounting (after a reboot: its earlier sessions are gone).
    pub const ACCOUNTING_ON: u32 = 7;
    /// The NAS stops accounting.
    pub const ACCOUNTING_OFF: u32 = 8;
}

/// The Request Authenticator an Accounting-Request must carry: MD5 over the packet with
/// 16 zero octets in its Authenticator field, then the secret (RFC 2866 §3).
fn accounting_request_authenticator(packet: &[u8], secret: &SharedSecret) -> [u8; 16] {
    use md5::Digest;
    let mut md5 = md5::Md5::new();
    md5.update(&packet[..4]);
    md5.update([0u8; 16]);
    md5.update(&packet[HEADER_LEN..]);
    md5.update(secret.as_bytes());
    md5.finalize().into()
}

impl PacketRef<'_> {
    /// Verifies a received Accounting-Request: its Request Authenticator (always, in
    /// constant time), and its Message-Authenticator when present, computed with the
    /// Authenticator field as 16 zero octets as FreeRADIUS does.
    pub fn verify_accounting_request(&self, secret: &SharedSecret) -> Result<(), Error> {
        if self.code() != Code::AccountingRequest {
            return Err(Error::UnsupportedCode { code: self.code() });
        }
        let expected = accounting_request_authenticator(self.as_bytes(), secret);
        if !bool::from(expected.ct_eq(self.authenticator())) {
            return Err(Error::BadRequestAuthenticator);
        }
        if let (Some(at), Some(received)) = (
            self.message_authenticator_offset(),
            self.message_authenticator(),
        ) {
            let mac = auth::message_authenticator(self.as_bytes(), at, Some(&[0u8; 16]), secret);
            if !bool::from(mac.ct_eq(received)) {
                return Err(Error::BadMessageAuthenticator);
            }
        }
        Ok(())
    }
}

impl<'s> ReplyBuilder<'s> {
    /// An Accounting-Response (with Message-Authenticator) answering `request`.
    pub fn accounting_response(request: &PacketRef<'_>, secret: &'s SharedSecret) -> Self {
        Self::for_request(Code::AccountingResponse, request, secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr;
    use crate::auth::MessageAuthenticatorPolicy;

    /// An Accounting-Request as a NAS builds it: attributes, then the authenticator.
    fn accounting_request(secret: &SharedSecret, with_ma: bool) -> Vec<u8> {
        let mut p = vec![4u8, 7, 0, 0];
        p.extend_from_slice(&[0u8; 16]);
        let ma_at = with_ma.then(|| {
            p.extend_from_slice(&[attr::MESSAGE_AUTHENTICATOR, 18]);
            p.extend_from_slice(&[0u8; 16]);
            HEADER_LEN
        });
        p.extend_from_slice(&[attr::USER_NAME, 7]);
        p.extend_from_slice(b"alice");
        p.extend_from_slice(&[40, 6, 0, 0, 0, 1]); // Acct-Status-Type = Start
        let len = p.len() as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        if let Some(at) = ma_at {
            let mac = auth::message_authenticator(&p, at, Some(&[0u8; 16]), secret);
            p[at + 2..at + 18].copy_from_slice(&mac);
        }
        let a = accounting_request_authenticator(&p, secret);
        p[4..20].copy_from_slice(&a);
        p
    }

    #[test]
    fn verifies_the_request_authenticator() {
        let s = SharedSecret::new(b"acct-secret").unwrap();
        for with_ma in [false, true] {
            let p = accounting_request(&s, with_ma);
            let d = PacketRef::decode(&p).unwrap();
            d.verify_accounting_request(&s).unwrap();
            let other = SharedSecret::new(b"other-secret").unwrap();
            assert_eq!(
                d.verify_accounting_request(&other),
                Err(Error::BadRequestAuthenticator)
            );
            for byte in 0..p.len() {
                let mut q = p.clone();
                q[byte] ^= 0x10;
                if let Ok(d) = PacketRef::decode(&q) {
                    assert!(d.verify_accounting_request(&s).is_err(), "byte {byte}");
                }
            }
        }
    }

    #[test]
    fn an_access_request_is_not_accounting() {
        let s = SharedSecret::new(b"acct-secret").unwrap();
        let p = crate::RequestBuilder::access_request(1, [7; 16], &s).finish();
        let d = PacketRef::decode(&p).unwrap();
        assert!(matches!(
            d.verify_accounting_request(&s),
            Err(Error::UnsupportedCode { .. })
        ));
    }

    #[test]
    fn the_response_verifies_against_the_request() {
        let s = SharedSecret::new(b"acct-secret").unwrap();
        let p = accounting_request(&s, true);
        let d = PacketRef::decode(&p).unwrap();
        let reply = ReplyBuilder::accounting_response(&d, &s).finish();
        let r = PacketRef::decode(&reply).unwrap();
        assert_eq!(r.code(), Code::AccountingResponse);
        assert_eq!(
            r.authenticator(),
            &auth::response_authenticator(&r, d.authenticator(), &s)
        );
        let _ = MessageAuthenticatorPolicy::Required;
    }
}
