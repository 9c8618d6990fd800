//! [`ReplyBuilder`]: encodes Access-Accept, Access-Reject and Access-Challenge replies with Message-Authenticator first.

use crate::attr;
use crate::code::Code;
use crate::encode::Writer;
use crate::error::Error;
use crate::packet::PacketRef;
use crate::secret::SharedSecret;

/// Builds a reply to a request.
///
/// The Message-Authenticator is the first attribute; [`ReplyBuilder::finish`] computes it
/// over the reply with the Request Authenticator in the Authenticator field (RFC 3579
/// §3.2), then fills in the Response Authenticator (RFC 2865 §3) over the final bytes.
#[derive(Debug)]
pub struct ReplyBuilder<'s> {
    writer: Writer,
    secret: &'s SharedSecret,
}

impl<'s> ReplyBuilder<'s> {
    /// A reply of `code` (Access-Accept, Access-Reject or Access-Challenge) to the request
    /// with `identifier` and `request_authenticator`, with Message-Authenticator.
    pub fn new(
        code: Code,
        identifier: u8,
        request_authenticator: &[u8; 16],
        secret: &'s SharedSecret,
    ) -> Result<Self, Error> {
        Self::with(code, identifier, request_authenticator, secret, true)
    }

    /// Like [`ReplyBuilder::new`] but without Message-Authenticator, as plain RFC 2865
    /// servers reply (and as the RFC 2865 §7 examples are). Not for sparekey's replies.
    pub fn new_without_message_authenticator(
        code: Code,
        identifier: u8,
        request_authenticator: &[u8; 16],
        secret: &'s SharedSecret,
    ) -> Result<Self, Error> {
        Self::with(code, identifier, request_authenticator, secret, false)
    }

    fn with(
        code: Code,
        identifier: u8,
        request_authenticator: &[u8; 16],
        secret: &'s SharedSecret,
        with_message_authenticator: bool,
    ) -> Result<Self, Error> {
        match code {
            Code::AccessAccept
            | Code::AccessReject
            | Code::AccessChallenge
            | Code::AccountingResponse => Ok(ReplyBuilder {
                writer: Writer::new(
                    code,
                    identifier,
                    request_authenticator,
                    with_message_authenticator,
                ),
                secret,
            }),
            code => Err(Error::UnsupportedCode { code }),
        }
    }

    pub(crate) fn for_request(
        code: Code,
        request: &PacketRef<'_>,
        secret: &'s SharedSecret,
    ) -> Self {
        ReplyBuilder {
            writer: Writer::new(code, request.identifier(), request.authenticator(), true),
            secret,
        }
    }

    /// An Access-Accept (with Message-Authenticator) answering `request`.
    pub fn accept(request: &PacketRef<'_>, secret: &'s SharedSecret) -> Self {
        Self::for_request(Code::AccessAccept, request, secret)
    }

    /// An Access-Reject (with Message-Authenticator) answering `request`.
    pub fn reject(request: &PacketRef<'_>, secret: &'s SharedSecret) -> Self {
        Self::for_request(Code::AccessReject, request, secret)
    }

    /// An Access-Challenge (with Message-Authenticator) answering `request`.
    pub fn challenge(request: &PacketRef<'_>, secret: &'s SharedSecret) -> Self {
        Self::for_request(Code::AccessChallenge, request, secret)
    }

    crate::encode::attribute_methods!();

    /// Copies every Proxy-State attribute of `request`, unmodified and in order, as
    /// RFC 2865 §5.33 requires of every reply.
    pub fn copy_proxy_state(&mut self, request: &PacketRef<'_>) -> Result<&mut Self, Error> {
        for value in request.attributes_of(attr::PROXY_STATE) {
            self.writer.add(attr::PROXY_STATE, value)?;
        }
        Ok(self)
    }

    /// Fills in Length, Message-Authenticator and Response Authenticator and returns the
    /// datagram.
    pub fn finish(self) -> Vec<u8> {
        self.writer.finish_reply(self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{response_authenticator, MessageAuthenticatorPolicy};
    use crate::request::RequestBuilder;

    const AUTH: [u8; 16] = *b"request-auth-16b";

    fn secret() -> SharedSecret {
        SharedSecret::new(b"testing123").unwrap()
    }

    fn request(s: &SharedSecret) -> Vec<u8> {
        let mut b = RequestBuilder::access_request(200, AUTH, s);
        b.add_str(attr::USER_NAME, "carol")
            .unwrap()
            .add(attr::PROXY_STATE, b"hop-1")
            .unwrap()
            .add(attr::PROXY_STATE, b"hop-2")
            .unwrap();
        b.finish()
    }

    #[test]
    fn accept_with_message_authenticator_first() {
        let s = secret();
        let req_bytes = request(&s);
        let req = PacketRef::decode(&req_bytes).unwrap();
        let mut b = ReplyBuilder::accept(&req, &s);
        b.add_u32(attr::SESSION_TIMEOUT, 300)
            .unwrap()
            .add_str(attr::REPLY_MESSAGE, "welcome")
            .unwrap()
            .copy_proxy_state(&req)
            .unwrap();
        let reply = b.finish();

        let d = PacketRef::decode(&reply).unwrap();
        assert_eq!(d.code(), Code::AccessAccept);
        assert_eq!(d.identifier(), 200);
        let attrs: Vec<_> = d.attributes().collect();
        assert_eq!(attrs[0].attr_type, attr::MESSAGE_AUTHENTICATOR);
        assert_eq!(attrs[1].as_u32(), Some(300));
        assert_eq!(attrs[2].as_str(), Some("welcome"));
        let proxy: Vec<&[u8]> = d.attributes_of(attr::PROXY_STATE).collect();
        assert_eq!(proxy, [&b"hop-1"[..], &b"hop-2"[..]]);
        assert_eq!(d.authenticator(), &response_authenticator(&d, &AUTH, &s));
        d.verify_response(&AUTH, &s, MessageAuthenticatorPolicy::Required)
            .unwrap();

        // The Message-Authenticator is keyed over the Request Authenticator, not the
        // Response Authenticator: recompute it independently.
        let mut with_req_auth = reply.clone();
        with_req_auth[4..20].copy_from_slice(&AUTH);
        with_req_auth[22..38].fill(0);
        let mut mac = s.hmac();
        hmac::Mac::update(&mut mac, &with_req_auth);
        let expected: [u8; 16] = hmac::Mac::finalize(mac).into_bytes().into();
        assert_eq!(&reply[22..38], &expected);
    }

    #[test]
    fn reject_and_challenge() {
        let s = secret();
        let req_bytes = request(&s);
        let req = PacketRef::decode(&req_bytes).unwrap();
        let reject = ReplyBuilder::reject(&req, &s).finish();
        let mut challenge = ReplyBuilder::challenge(&req, &s);
        challenge
            .add(attr::STATE, &[1, 2, 3, 4])
            .unwrap()
            .add_str(attr::REPLY_MESSAGE, "Enter code")
            .unwrap();
        let challenge = challenge.finish();
        for (bytes, code) in [
            (&reject, Code::AccessReject),
            (&challenge, Code::AccessChallenge),
        ] {
            let d = PacketRef::decode(bytes).unwrap();
            assert_eq!(d.code(), code);
            d.verify_response(&AUTH, &s, MessageAuthenticatorPolicy::Required)
                .unwrap();
        }
        assert_eq!(reject.len(), 38);
    }

    #[test]
    fn tampered_reply_fails() {
        let s = secret();
        let req_bytes = request(&s);
        let req = PacketRef::decode(&req_bytes).unwrap();
        let mut b = ReplyBuilder::accept(&req, &s);
        b.add_u32(attr::SESSION_TIMEOUT, 60).unwrap();
        let reply = b.finish();

        let mut bad_ra = reply.clone();
        bad_ra[10] ^= 1;
        let d = PacketRef::decode(&bad_ra).unwrap();
        assert_eq!(
            d.verify_response(&AUTH, &s, MessageAuthenticatorPolicy::Required),
            Err(Error::BadResponseAuthenticator)
        );

        // Wrong request authenticator: the response no longer matches.
        let d = PacketRef::decode(&reply).unwrap();
        assert_eq!(
            d.verify_response(&[0; 16], &s, MessageAuthenticatorPolicy::Required),
            Err(Error::BadResponseAuthenticator)
        );

        // M-A tampered but Response Authenticator recomputed to match: M-A check catches it.
        let mut bad_ma = reply.clone();
        bad_ma[25] ^= 0x80;
        let d = PacketRef::decode(&bad_ma).unwrap();
        let ra = response_authenticator(&d, &AUTH, &s);
        bad_ma[4..20].copy_from_slice(&ra);
        let d = PacketRef::decode(&bad_ma).unwrap();
        assert_eq!(
            d.verify_response(&AUTH, &s, MessageAuthenticatorPolicy::Required),
            Err(Error::BadMessageAuthenticator)
        );
    }

    #[test]
    fn reply_codes_are_checked() {
        let s = secret();
        assert_eq!(
            ReplyBuilder::new(Code::AccessRequest, 1, &AUTH, &s).unwrap_err(),
            Error::UnsupportedCode {
                code: Code::AccessRequest
            }
        );
        assert!(ReplyBuilder::new(Code::AccessChallenge, 1, &AUTH, &s).is_ok());
    }

    #[test]
    fn reply_without_message_authenticator_policy() {
        let s = secret();
        let reply =
            ReplyBuilder::new_without_message_authenticator(Code::AccessAccept, 3, &AUTH, &s)
                .unwrap()
                .finish();
        let d = PacketRef::decode(&reply).unwrap();
        assert_eq!(
            d.verify_response(&AUTH, &s, MessageAuthenticatorPolicy::Required),
            Err(Error::MissingMessageAuthenticator {
                code: Code::AccessAccept
            })
        );
        d.verify_response(&AUTH, &s, MessageAuthenticatorPolicy::IfPresent)
            .unwrap();
    }
}
