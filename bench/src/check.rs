//! Checking a reply against the request it answers: the codec's client-side checks.

use crate::requests::Expect;
use sparekey_radius_codec::{
    Code, Error as WireError, MessageAuthenticatorPolicy, PacketRef, SharedSecret,
};

/// What was wrong with a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadReply {
    /// Not a structurally valid RADIUS packet.
    Malformed(WireError),
    /// A code other than Access-Accept and Access-Reject (e.g. Access-Challenge).
    UnexpectedCode(Code),
    /// Response Authenticator or Message-Authenticator wrong or missing.
    Authenticator(WireError),
}

impl std::fmt::Display for BadReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadReply::Malformed(e) => write!(f, "malformed reply: {e}"),
            BadReply::UnexpectedCode(c) => write!(f, "unexpected reply code {c}"),
            BadReply::Authenticator(e) => write!(f, "reply fails verification: {e}"),
        }
    }
}

/// The Identifier of a datagram, if it is long enough to have one.
pub fn identifier(datagram: &[u8]) -> Option<u8> {
    datagram.get(1).copied()
}

/// Checks `reply` as the answer to a request with `request_authenticator`: structure, code
/// (Access-Accept or Access-Reject), Response Authenticator and Message-Authenticator
/// (`policy`). The caller has matched the Identifier to the request. Returns the verdict.
pub fn check_reply(
    reply: &[u8],
    request_authenticator: &[u8; 16],
    secret: &SharedSecret,
    policy: MessageAuthenticatorPolicy,
) -> Result<Expect, BadReply> {
    let packet = PacketRef::decode(reply).map_err(BadReply::Malformed)?;
    let verdict = match packet.code() {
        Code::AccessAccept => Expect::Accept,
        Code::AccessReject => Expect::Reject,
        other => return Err(BadReply::UnexpectedCode(other)),
    };
    packet
        .verify_response(request_authenticator, secret, policy)
        .map_err(BadReply::Authenticator)?;
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::{build_request, NasAttributes, RequestSpec};
    use sparekey_radius_codec::{attr, ReplyBuilder};

    fn secret() -> SharedSecret {
        SharedSecret::new(b"bench-secret").unwrap()
    }

    fn request(id: u8, auth: [u8; 16]) -> Vec<u8> {
        let spec = RequestSpec {
            user: "alice".into(),
            password: "12345-67890".into(),
            expect: None,
        };
        build_request(&spec, &NasAttributes::default(), id, auth, &secret()).unwrap()
    }

    #[test]
    fn accept_and_reject_from_the_codec_pass() {
        let s = secret();
        let req = request(5, [9; 16]);
        let r = PacketRef::decode(&req).unwrap();
        let mut accept = ReplyBuilder::accept(&r, &s);
        accept.add_u32(attr::SESSION_TIMEOUT, 3600).unwrap();
        let accept = accept.finish();
        assert_eq!(identifier(&accept), Some(5));
        assert_eq!(
            check_reply(&accept, &[9; 16], &s, MessageAuthenticatorPolicy::Required),
            Ok(Expect::Accept)
        );
        let reject = ReplyBuilder::reject(&r, &s).finish();
        assert_eq!(
            check_reply(&reject, &[9; 16], &s, MessageAuthenticatorPolicy::Required),
            Ok(Expect::Reject)
        );
    }

    #[test]
    fn a_reply_to_another_request_fails() {
        // Same Identifier, different Request Authenticator: a late reply to an earlier
        // request that used this Identifier.
        let s = secret();
        let req = request(5, [9; 16]);
        let r = PacketRef::decode(&req).unwrap();
        let reply = ReplyBuilder::accept(&r, &s).finish();
        assert!(matches!(
            check_reply(&reply, &[8; 16], &s, MessageAuthenticatorPolicy::Required),
            Err(BadReply::Authenticator(WireError::BadResponseAuthenticator))
        ));
    }

    #[test]
    fn wrong_secret_or_tampering_fails() {
        let s = secret();
        let other = SharedSecret::new(b"another-secret").unwrap();
        let req = request(1, [1; 16]);
        let r = PacketRef::decode(&req).unwrap();
        let reply = ReplyBuilder::accept(&r, &other).finish();
        assert!(matches!(
            check_reply(&reply, &[1; 16], &s, MessageAuthenticatorPolicy::Required),
            Err(BadReply::Authenticator(_))
        ));
        let mut tampered = ReplyBuilder::accept(&r, &s).finish();
        tampered[0] = 3; // Accept turned into Reject
        assert!(matches!(
            check_reply(
                &tampered,
                &[1; 16],
                &s,
                MessageAuthenticatorPolicy::Required
            ),
            Err(BadReply::Authenticator(_))
        ));
        assert!(matches!(
            check_reply(
                &tampered[..10],
                &[1; 16],
                &s,
                MessageAuthenticatorPolicy::Required
            ),
            Err(BadReply::Malformed(_))
        ));
    }

    #[test]
    fn message_authenticator_is_required_unless_told_otherwise() {
        let s = secret();
        let req = request(2, [2; 16]);
        let r = PacketRef::decode(&req).unwrap();
        let bare = ReplyBuilder::new_without_message_authenticator(
            Code::AccessReject,
            r.identifier(),
            r.authenticator(),
            &s,
        )
        .unwrap()
        .finish();
        assert!(matches!(
            check_reply(&bare, &[2; 16], &s, MessageAuthenticatorPolicy::Required),
            Err(BadReply::Authenticator(
                WireError::MissingMessageAuthenticator { .. }
            ))
        ));
        assert_eq!(
            check_reply(&bare, &[2; 16], &s, MessageAuthenticatorPolicy::IfPresent),
            Ok(Expect::Reject)
        );
    }

    #[test]
    fn challenge_is_not_a_verdict() {
        let s = secret();
        let req = request(3, [3; 16]);
        let r = PacketRef::decode(&req).unwrap();
        let challenge = ReplyBuilder::challenge(&r, &s).finish();
        assert_eq!(
            check_reply(
                &challenge,
                &[3; 16],
                &s,
                MessageAuthenticatorPolicy::Required
            ),
            Err(BadReply::UnexpectedCode(Code::AccessChallenge))
        );
    }
}
