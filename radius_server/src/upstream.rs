//! Passing a NAS's request to an upstream RADIUS server (the organisation's usual MFA) and
//! its answer back, as packets: no sockets here (the daemon sends and waits).
//!
//! The request upstream has a fresh Identifier and Request Authenticator, its User-Password
//! hidden again with the upstream's secret, Message-Authenticator first, and every other
//! attribute as the NAS sent it, Proxy-State included. The answer to the NAS has the
//! upstream's code and attributes (State, Reply-Message, Class, vendor attributes, the
//! NAS's Proxy-State echoed), signed again with the NAS's secret, Message-Authenticator first.

use sparekey_radius_codec::{
    attr, Error as WireError, MessageAuthenticatorPolicy, PacketRef, ReplyBuilder, RequestBuilder,
    SharedSecret,
};

/// The Access-Request for the upstream from the NAS's verified `request`.
pub fn forward_request(
    request: &PacketRef<'_>,
    nas_secret: &SharedSecret,
    upstream_secret: &SharedSecret,
    identifier: u8,
    authenticator: [u8; 16],
) -> Result<Vec<u8>, WireError> {
    let mut b = RequestBuilder::access_request(identifier, authenticator, upstream_secret);
    let mut has_chap_challenge = false;
    let mut has_chap_password = false;
    for a in request.attributes() {
        match a.attr_type {
            attr::MESSAGE_AUTHENTICATOR => {}
            attr::USER_PASSWORD => {
                if let Some(password) = request.user_password(nas_secret)? {
                    b.add_user_password(password.as_bytes())?;
                }
            }
            t => {
                has_chap_challenge |= t == attr::CHAP_CHALLENGE;
                has_chap_password |= t == attr::CHAP_PASSWORD;
                b.add(t, a.value)?;
            }
        }
    }
    // CHAP without a CHAP-Challenge hashes the Request Authenticator (RFC 2865 §2.2),
    // which is new on this leg: the NAS's goes along as the challenge.
    if has_chap_password && !has_chap_challenge {
        b.add(attr::CHAP_CHALLENGE, request.authenticator())?;
    }
    Ok(b.finish())
}

/// Verifies the upstream's `reply` to the request sent with `sent_authenticator`: its
/// Response Authenticator, and its Message-Authenticator when present (required when
/// `require_message_authenticator`).
pub fn verify_reply<'r>(
    reply: &'r [u8],
    sent_authenticator: &[u8; 16],
    upstream_secret: &SharedSecret,
    require_message_authenticator: bool,
) -> Result<PacketRef<'r>, WireError> {
    let packet = PacketRef::decode(reply)?;
    let policy = if require_message_authenticator {
        MessageAuthenticatorPolicy::Required
    } else {
        MessageAuthenticatorPolicy::IfPresent
    };
    packet.verify_response(sent_authenticator, upstream_secret, policy)?;
    Ok(packet)
}

/// The NAS's answer from the upstream's verified `reply` to what `request` asked.
pub fn relay_reply(
    reply: &PacketRef<'_>,
    request: &PacketRef<'_>,
    nas_secret: &SharedSecret,
) -> Result<Vec<u8>, WireError> {
    let mut b = ReplyBuilder::new(
        reply.code(),
        request.identifier(),
        request.authenticator(),
        nas_secret,
    )?;
    for a in reply.attributes() {
        if a.attr_type != attr::MESSAGE_AUTHENTICATOR {
            b.add(a.attr_type, a.value)?;
        }
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparekey_radius_codec::Code;

    const NAS: &[u8] = b"nas-secret-0123456789";
    const UP: &[u8] = b"upstream-secret-98765";

    fn nas_request() -> Vec<u8> {
        let s = SharedSecret::new(NAS).unwrap();
        let mut b = RequestBuilder::access_request(42, [9; 16], &s);
        b.add_str(attr::USER_NAME, "carol")
            .unwrap()
            .add_user_password(b"carol-pw")
            .unwrap()
            .add_str(attr::NAS_IDENTIFIER, "gw1")
            .unwrap()
            .add(attr::PROXY_STATE, b"hop-1")
            .unwrap();
        b.finish()
    }

    #[test]
    fn the_request_upstream_is_signed_and_hidden_with_its_secret() {
        let (nas, up) = (
            SharedSecret::new(NAS).unwrap(),
            SharedSecret::new(UP).unwrap(),
        );
        let raw = nas_request();
        let req = PacketRef::decode(&raw).unwrap();
        let out = forward_request(&req, &nas, &up, 7, [3; 16]).unwrap();
        let fwd = PacketRef::decode(&out).unwrap();
        fwd.verify_request(&up, MessageAuthenticatorPolicy::Required)
            .unwrap();
        assert!(fwd
            .verify_request(&nas, MessageAuthenticatorPolicy::Required)
            .is_err());
        assert_eq!(fwd.identifier(), 7);
        assert_eq!(
            fwd.user_password(&up).unwrap().unwrap().as_bytes(),
            b"carol-pw"
        );
        assert_eq!(fwd.attribute(attr::USER_NAME), Some(&b"carol"[..]));
        assert_eq!(fwd.attribute(attr::PROXY_STATE), Some(&b"hop-1"[..]));
        assert_eq!(fwd.attribute(attr::NAS_IDENTIFIER), Some(&b"gw1"[..]));
    }

    #[test]
    fn the_answer_goes_back_signed_with_the_nas_secret() {
        let (nas, up) = (
            SharedSecret::new(NAS).unwrap(),
            SharedSecret::new(UP).unwrap(),
        );
        let raw = nas_request();
        let req = PacketRef::decode(&raw).unwrap();
        let out = forward_request(&req, &nas, &up, 7, [3; 16]).unwrap();
        let fwd = PacketRef::decode(&out).unwrap();
        let mut r = ReplyBuilder::challenge(&fwd, &up);
        r.add(attr::STATE, b"upstream-state")
            .unwrap()
            .add_str(attr::REPLY_MESSAGE, "Enter your token")
            .unwrap()
            .copy_proxy_state(&fwd)
            .unwrap();
        let upstream_reply = r.finish();
        let verified = verify_reply(&upstream_reply, fwd.authenticator(), &up, true).unwrap();
        let wrong = SharedSecret::new(b"not-the-upstream-secret").unwrap();
        assert!(verify_reply(&upstream_reply, fwd.authenticator(), &wrong, false).is_err());
        assert!(verify_reply(&upstream_reply, &[0; 16], &up, false).is_err());
        let back = relay_reply(&verified, &req, &nas).unwrap();
        let b = PacketRef::decode(&back).unwrap();
        b.verify_response(
            req.authenticator(),
            &nas,
            MessageAuthenticatorPolicy::Required,
        )
        .unwrap();
        assert_eq!(b.code(), Code::AccessChallenge);
        assert_eq!(b.identifier(), 42);
        assert_eq!(b.attribute(attr::STATE), Some(&b"upstream-state"[..]));
        assert_eq!(b.attribute(attr::PROXY_STATE), Some(&b"hop-1"[..]));
    }
}
