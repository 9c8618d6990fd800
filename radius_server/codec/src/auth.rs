//! Message-Authenticator (RFC 3579 §3.2) and Response Authenticator (RFC 2865 §3) computation and constant-time verification.

use hmac::Mac;
use md5::Digest;
use subtle::ConstantTimeEq;

use crate::code::Code;
use crate::error::Error;
use crate::packet::{PacketRef, HEADER_LEN, MESSAGE_AUTHENTICATOR_ATTR_LEN};
use crate::secret::SharedSecret;

/// Whether a packet without Message-Authenticator is acceptable.
///
/// Status-Server always requires one (RFC 5997), whatever the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAuthenticatorPolicy {
    /// A Message-Authenticator must be present and valid (the BlastRADIUS-safe default).
    Required,
    /// A Message-Authenticator is verified when present; its absence is accepted.
    IfPresent,
}

/// HMAC-MD5 over `packet` (exactly Length bytes) with the 16-byte value of the
/// Message-Authenticator attribute at `attr_at` taken as zeros and, if given, the
/// Authenticator field taken as `authenticator`.
///
/// `packet` must contain the header and the whole attribute; callers guarantee it.
pub(crate) fn message_authenticator(
    packet: &[u8],
    attr_at: usize,
    authenticator: Option<&[u8; 16]>,
    secret: &SharedSecret,
) -> [u8; 16] {
    let value_at = attr_at + 2;
    let value_end = attr_at + MESSAGE_AUTHENTICATOR_ATTR_LEN;
    let mut mac = secret.hmac();
    match authenticator {
        Some(a) => {
            mac.update(&packet[..4]);
            mac.update(a);
            mac.update(&packet[HEADER_LEN..value_at]);
        }
        None => mac.update(&packet[..value_at]),
    }
    mac.update(&[0u8; 16]);
    mac.update(&packet[value_end..]);
    mac.finalize().into_bytes().into()
}

/// `MD5(Code + Identifier + Length + request_authenticator + Attributes + secret)` over
/// `packet` (exactly Length bytes, at least the header).
pub(crate) fn response_authenticator_raw(
    packet: &[u8],
    request_authenticator: &[u8; 16],
    secret: &SharedSecret,
) -> [u8; 16] {
    let mut md5 = md5::Md5::new();
    md5.update(&packet[..4]);
    md5.update(request_authenticator);
    md5.update(&packet[HEADER_LEN..]);
    md5.update(secret.as_bytes());
    md5.finalize().into()
}

/// The Response Authenticator a reply should carry, computed over the decoded `reply`
/// (its own Authenticator field is ignored) for the request with `request_authenticator`.
pub fn response_authenticator(
    reply: &PacketRef<'_>,
    request_authenticator: &[u8; 16],
    secret: &SharedSecret,
) -> [u8; 16] {
    response_authenticator_raw(reply.as_bytes(), request_authenticator, secret)
}

/// Checks the Message-Authenticator of `packet`, with the Authenticator field replaced
/// by `authenticator` when given; applies `policy` (and RFC 5997) when it is absent.
fn check_message_authenticator(
    packet: &PacketRef<'_>,
    authenticator: Option<&[u8; 16]>,
    secret: &SharedSecret,
    policy: MessageAuthenticatorPolicy,
) -> Result<(), Error> {
    let (Some(at), Some(received)) = (
        packet.message_authenticator_offset(),
        packet.message_authenticator(),
    ) else {
        let code = packet.code();
        if policy == MessageAuthenticatorPolicy::Required || code == Code::StatusServer {
            return Err(Error::MissingMessageAuthenticator { code });
        }
        return Ok(());
    };
    let expected = message_authenticator(packet.as_bytes(), at, authenticator, secret);
    if bool::from(expected.ct_eq(received)) {
        Ok(())
    } else {
        Err(Error::BadMessageAuthenticator)
    }
}

pub(crate) fn verify_request(
    packet: &PacketRef<'_>,
    secret: &SharedSecret,
    policy: MessageAuthenticatorPolicy,
) -> Result<(), Error> {
    match packet.code() {
        Code::AccessRequest | Code::StatusServer => {
            check_message_authenticator(packet, None, secret, policy)
        }
        code => Err(Error::UnsupportedCode { code }),
    }
}

pub(crate) fn verify_response(
    packet: &PacketRef<'_>,
    request_authenticator: &[u8; 16],
    secret: &SharedSecret,
    policy: MessageAuthenticatorPolicy,
) -> Result<(), Error> {
    match packet.code() {
        Code::AccessAccept | Code::AccessReject | Code::AccessChallenge => {}
        code => return Err(Error::UnsupportedCode { code }),
    }
    let expected = response_authenticator(packet, request_authenticator, secret);
    if !bool::from(expected.ct_eq(packet.authenticator())) {
        return Err(Error::BadResponseAuthenticator);
    }
    check_message_authenticator(packet, Some(request_authenticator), secret, policy)
}

/// Verification lives beside the authenticators it checks, so that the decoder does not
/// depend on this module.
impl PacketRef<'_> {
    /// Verifies a received Access-Request or Status-Server (server side).
    ///
    /// Checks the Message-Authenticator (RFC 3579 §3.2) in constant time when present.
    /// When absent, fails for Status-Server always (RFC 5997 requires it) and for
    /// Access-Request under [`MessageAuthenticatorPolicy::Required`]. Other codes fail
    /// with [`Error::UnsupportedCode`].
    pub fn verify_request(
        &self,
        secret: &SharedSecret,
        policy: MessageAuthenticatorPolicy,
    ) -> Result<(), Error> {
        verify_request(self, secret, policy)
    }

    /// Verifies a received Access-Accept, Access-Reject or Access-Challenge against the
    /// request it answers (client side): the Response Authenticator, and the
    /// Message-Authenticator when present or required, both in constant time.
    pub fn verify_response(
        &self,
        request_authenticator: &[u8; 16],
        secret: &SharedSecret,
        policy: MessageAuthenticatorPolicy,
    ) -> Result<(), Error> {
        verify_response(self, request_authenticator, secret, policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr;
    use crate::request::RequestBuilder;

    const AUTH: [u8; 16] = *b"0123456789abcdef";

    fn secret() -> SharedSecret {
        SharedSecret::new(b"s3cr3t").unwrap()
    }

    fn request(code: Code, with_ma: bool) -> Vec<u8> {
        let s = secret();
        let mut b = match (code, with_ma) {
            (Code::StatusServer, _) => RequestBuilder::status_server(9, AUTH, &s),
            (_, true) => RequestBuilder::access_request(9, AUTH, &s),
            (_, false) => RequestBuilder::access_request_without_message_authenticator(9, AUTH, &s),
        };
        b.add_str(attr::USER_NAME, "alice").unwrap();
        b.finish()
    }

    /// Independent HMAC-MD5 (RFC 2104) from plain MD5, as a known-answer oracle.
    fn hmac_md5_oracle(key: &[u8], msg: &[u8]) -> [u8; 16] {
        let mut k = [0u8; 64];
        k[..key.len()].copy_from_slice(key);
        let mut inner = md5::Md5::new();
        inner.update(k.map(|b| b ^ 0x36));
        inner.update(msg);
        let inner: [u8; 16] = inner.finalize().into();
        let mut outer = md5::Md5::new();
        outer.update(k.map(|b| b ^ 0x5c));
        outer.update(inner);
        outer.finalize().into()
    }

    #[test]
    fn hmac_md5_rfc2202_vector() {
        // RFC 2202 test case 2.
        let s = SharedSecret::new(b"Jefe").unwrap();
        let mut mac = s.hmac();
        mac.update(b"what do ya want for nothing?");
        let got: [u8; 16] = mac.finalize().into_bytes().into();
        assert_eq!(
            got,
            [
                0x75, 0x0c, 0x78, 0x3e, 0x6a, 0xb0, 0xb5, 0x03, 0xea, 0xa8, 0x6e, 0x31, 0x0a, 0x5d,
                0xb7, 0x38
            ]
        );
        assert_eq!(
            got,
            hmac_md5_oracle(b"Jefe", b"what do ya want for nothing?")
        );
    }

    #[test]
    fn message_authenticator_known_answer() {
        let p = request(Code::AccessRequest, true);
        // Layout: header, M-A first, then User-Name.
        assert_eq!(&p[20..22], &[80, 18]);
        let mut zeroed = p.clone();
        zeroed[22..38].fill(0);
        assert_eq!(&p[22..38], &hmac_md5_oracle(b"s3cr3t", &zeroed));

        let d = PacketRef::decode(&p).unwrap();
        d.verify_request(&secret(), MessageAuthenticatorPolicy::Required)
            .unwrap();
        let wrong = SharedSecret::new(b"s3cr3T").unwrap();
        assert_eq!(
            d.verify_request(&wrong, MessageAuthenticatorPolicy::Required),
            Err(Error::BadMessageAuthenticator)
        );
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let p = request(Code::AccessRequest, true);
        for byte in 0..p.len() {
            for bit in 0..8 {
                let mut q = p.clone();
                q[byte] ^= 1 << bit;
                let Ok(d) = PacketRef::decode(&q) else {
                    continue; // structural damage: dropped by the decoder
                };
                let r = d.verify_request(&secret(), MessageAuthenticatorPolicy::Required);
                assert!(
                    r.is_err(),
                    "flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn missing_message_authenticator_policy() {
        let p = request(Code::AccessRequest, false);
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(
            d.verify_request(&secret(), MessageAuthenticatorPolicy::Required),
            Err(Error::MissingMessageAuthenticator {
                code: Code::AccessRequest
            })
        );
        assert_eq!(
            d.verify_request(&secret(), MessageAuthenticatorPolicy::IfPresent),
            Ok(())
        );
    }

    #[test]
    fn status_server_requires_message_authenticator() {
        let p = request(Code::StatusServer, true);
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(d.code(), Code::StatusServer);
        d.verify_request(&secret(), MessageAuthenticatorPolicy::IfPresent)
            .unwrap();

        // Hand-built Status-Server without M-A: refused even under IfPresent.
        let mut bare = vec![12, 1, 0, 20];
        bare.extend_from_slice(&AUTH);
        let d = PacketRef::decode(&bare).unwrap();
        assert_eq!(
            d.verify_request(&secret(), MessageAuthenticatorPolicy::IfPresent),
            Err(Error::MissingMessageAuthenticator {
                code: Code::StatusServer
            })
        );
    }

    #[test]
    fn verify_request_refuses_other_codes() {
        let mut p = vec![4, 1, 0, 20];
        p.extend_from_slice(&AUTH);
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(
            d.verify_request(&secret(), MessageAuthenticatorPolicy::IfPresent),
            Err(Error::UnsupportedCode {
                code: Code::AccountingRequest
            })
        );
        assert_eq!(
            d.verify_response(&AUTH, &secret(), MessageAuthenticatorPolicy::IfPresent),
            Err(Error::UnsupportedCode {
                code: Code::AccountingRequest
            })
        );
    }
}
