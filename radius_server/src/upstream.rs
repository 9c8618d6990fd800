//! Passing a NAS's request to an upstream RADIUS server (the organisation's usual MFA) and
//! its answer back, as packets: no sockets here (the daemon sends and waits).
//!
//! The request upstream has a fresh Identifier and Request Authenticator, its User-Password
//! hidden again with the upstream's secret, Message-Authenticator first, and every other
//! attribute as the NAS sent it, Proxy-State included. The answer to the NAS has the
//! upstream's code and attributes (State, Reply-Message, Class, vendor attributes, the
//! NAS's Proxy-State echoed), signed again with the NAS's secret, Message-Authenticator first.

use sparekey_radius_codec::salt::reencrypt;
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

/// The two legs of a relayed answer: the upstream's secret and the Request Authenticator
/// sent to it, the NAS's secret and its request.
#[derive(Debug, Clone, Copy)]
pub struct Legs<'a> {
    /// The upstream's secret.
    pub upstream_secret: &'a SharedSecret,
    /// The Request Authenticator of the request sent upstream.
    pub sent_authenticator: &'a [u8; 16],
    /// The NAS's secret.
    pub nas_secret: &'a SharedSecret,
}

/// The NAS's answer from the upstream's verified `reply` to what `request` asked. Values
/// hidden with the upstream leg's secret and authenticator (Tunnel-Password, MS-MPPE-Send-Key
/// and MS-MPPE-Recv-Key) are hidden again for the NAS's; one that is not well formed is
/// left out.
pub fn relay_reply(
    reply: &PacketRef<'_>,
    request: &PacketRef<'_>,
    legs: &Legs<'_>,
) -> Result<Vec<u8>, WireError> {
    let mut b = ReplyBuilder::new(
        reply.code(),
        request.identifier(),
        request.authenticator(),
        legs.nas_secret,
    )?;
    let again = |hidden: &[u8]| {
        reencrypt(
            hidden,
            legs.upstream_secret,
            legs.sent_authenticator,
            legs.nas_secret,
            request.authenticator(),
        )
    };
    for a in reply.attributes() {
        match a.attr_type {
            attr::MESSAGE_AUTHENTICATOR => {}
            attr::TUNNEL_PASSWORD => {
                // Tag, then salt and string.
                if let Some((tag, hidden)) = a.value.split_first() {
                    if let Some(v) = again(hidden) {
                        let mut value = vec![*tag];
                        value.extend_from_slice(&v);
                        b.add(attr::TUNNEL_PASSWORD, &value)?;
                    }
                }
            }
            attr::VENDOR_SPECIFIC if is_mppe_key(a.value) => {
                // Vendor (4), type, length, then salt and string.
                if let Some(v) = again(&a.value[6..]) {
                    b.add_vendor_attribute(attr::VENDOR_MICROSOFT, a.value[4], &v)?;
                }
            }
            t => {
                b.add(t, a.value)?;
            }
        }
    }
    Ok(b.finish())
}

/// Whether a Vendor-Specific value is one MS-MPPE-Send-Key or MS-MPPE-Recv-Key.
fn is_mppe_key(value: &[u8]) -> bool {
    value.len() > 6
        && value[..4] == attr::VENDOR_MICROSOFT.to_be_bytes()
        && matches!(value[4], attr::MS_MPPE_SEND_KEY | attr::MS_MPPE_RECV_KEY)
        && usize::from(value[5]) == value.len() - 4
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
        let legs = Legs {
            upstream_secret: &up,
            sent_authenticator: fwd.authenticator(),
            nas_secret: &nas,
        };
        let back = relay_reply(&verified, &req, &legs).unwrap();
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

    #[test]
    fn keys_hidden_for_the_upstream_leg_are_hidden_again_for_the_nas() {
        let (nas, up) = (
            SharedSecret::new(NAS).unwrap(),
            SharedSecret::new(UP).unwrap(),
        );
        let raw = nas_request();
        let req = PacketRef::decode(&raw).unwrap();
        let out = forward_request(&req, &nas, &up, 7, [3; 16]).unwrap();
        let fwd = PacketRef::decode(&out).unwrap();
        // Salt and two blocks, as the upstream hid them (the bytes themselves do not matter).
        let hidden: Vec<u8> = [0x80, 0x05].iter().copied().chain(1..=32).collect();
        let mut r = ReplyBuilder::accept(&fwd, &up);
        r.add_vendor_attribute(attr::VENDOR_MICROSOFT, attr::MS_MPPE_RECV_KEY, &hidden)
            .unwrap();
        let mut tunnel = vec![0x01];
        tunnel.extend_from_slice(&hidden);
        r.add(attr::TUNNEL_PASSWORD, &tunnel).unwrap();
        let upstream_reply = r.finish();
        let verified = verify_reply(&upstream_reply, fwd.authenticator(), &up, true).unwrap();
        let legs = Legs {
            upstream_secret: &up,
            sent_authenticator: fwd.authenticator(),
            nas_secret: &nas,
        };
        let back = relay_reply(&verified, &req, &legs).unwrap();
        let b = PacketRef::decode(&back).unwrap();
        let key = b.attribute(attr::VENDOR_SPECIFIC).unwrap();
        assert_eq!(&key[..6], &[0, 0, 1, 55, attr::MS_MPPE_RECV_KEY, 36]);
        assert_ne!(&key[6..], &hidden[..], "hidden again");
        // Undone for the NAS's leg and done for the upstream's: the upstream's bytes.
        let undo = |v: &[u8]| reencrypt(v, &nas, req.authenticator(), &up, fwd.authenticator());
        assert_eq!(undo(&key[6..]).unwrap(), hidden);
        let t = b.attribute(attr::TUNNEL_PASSWORD).unwrap();
        assert_eq!(t[0], 0x01, "the tag kept");
        assert_eq!(undo(&t[1..]).unwrap(), hidden);
    }
}
