//! Known-answer tests against the RFC 2865 §7.1 (PAP) and §7.2 (CHAP) example packets.

use std::net::Ipv4Addr;

use crate::{
    attr, Code, Error, MessageAuthenticatorPolicy, PacketRef, ReplyBuilder, RequestBuilder,
    SharedSecret,
};

/// Parses whitespace-separated hex bytes.
pub(crate) fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// RFC 2865 §7.1 Access-Request: "nemo" / "arctangent", NAS 192.168.1.16 port 3.
pub(crate) const RFC2865_7_1_REQUEST: &str = "
    01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
    98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
    93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
    01 10 05 06 00 00 00 03";

/// RFC 2865 §7.1 Access-Accept: Service-Type Login, Login-Service Telnet, Login-IP-Host 192.168.1.3.
pub(crate) const RFC2865_7_1_ACCEPT: &str = "
    02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
    9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
    0e 06 c0 a8 01 03";

/// RFC 2865 §7.2 Access-Request: CHAP for "flopsy", NAS port 20, Framed-User, PPP.
pub(crate) const RFC2865_7_2_REQUEST: &str = "
    01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e
    0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9
    75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04
    06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00
    02 07 06 00 00 00 01";

/// RFC 2865 §7.2 Access-Accept, byte for byte as printed in the RFC. Some transcriptions
/// change Framed-Routing from the printed 2 to 0 (None); the printed Response
/// Authenticator only verifies over the hex as printed, so that is what we keep.
pub(crate) const RFC2865_7_2_ACCEPT: &str = "
    02 01 00 38 15 ef bc 7d ab 26 cf a3 dc 34 d9 c0
    3c 86 01 a4 06 06 00 00 00 02 07 06 00 00 00 01
    08 06 ff ff ff fe 0a 06 00 00 00 02 0d 06 00 00
    00 01 0c 06 00 00 05 dc";

fn secret() -> SharedSecret {
    SharedSecret::new(b"xyzzy5461").unwrap()
}

#[test]
fn rfc2865_7_1_request_decodes() {
    let s = secret();
    let bytes = hex(RFC2865_7_1_REQUEST);
    let p = PacketRef::decode(&bytes).unwrap();
    assert_eq!(p.code(), Code::AccessRequest);
    assert_eq!(p.identifier(), 0);
    assert_eq!(p.length(), 56);
    assert_eq!(p.attribute(attr::USER_NAME), Some(&b"nemo"[..]));
    assert_eq!(
        p.user_password(&s).unwrap().unwrap().as_bytes(),
        b"arctangent"
    );
    let attrs: Vec<_> = p.attributes().collect();
    assert_eq!(attrs.len(), 4);
    assert_eq!(attrs[2].attr_type, attr::NAS_IP_ADDRESS);
    assert_eq!(attrs[2].as_ipv4(), Some(Ipv4Addr::new(192, 168, 1, 16)));
    assert_eq!(attrs[3].attr_type, attr::NAS_PORT);
    assert_eq!(attrs[3].as_u32(), Some(3));
    // A pre-RFC 3579 request: fine only if Message-Authenticator is not required.
    assert_eq!(
        p.verify_request(&s, MessageAuthenticatorPolicy::Required),
        Err(Error::MissingMessageAuthenticator {
            code: Code::AccessRequest
        })
    );
    p.verify_request(&s, MessageAuthenticatorPolicy::IfPresent)
        .unwrap();
}

#[test]
fn rfc2865_7_1_request_encodes_byte_exact() {
    let s = secret();
    let expected = hex(RFC2865_7_1_REQUEST);
    let auth: [u8; 16] = expected[4..20].try_into().unwrap();
    let mut b = RequestBuilder::access_request_without_message_authenticator(0, auth, &s);
    b.add_str(attr::USER_NAME, "nemo")
        .unwrap()
        .add_user_password(b"arctangent")
        .unwrap()
        .add_ipv4(attr::NAS_IP_ADDRESS, Ipv4Addr::new(192, 168, 1, 16))
        .unwrap()
        .add_u32(attr::NAS_PORT, 3)
        .unwrap();
    assert_eq!(b.finish(), expected);
}

#[test]
fn rfc2865_7_1_accept_encodes_byte_exact() {
    let s = secret();
    let request = hex(RFC2865_7_1_REQUEST);
    let request = PacketRef::decode(&request).unwrap();
    let mut b = ReplyBuilder::new_without_message_authenticator(
        Code::AccessAccept,
        request.identifier(),
        request.authenticator(),
        &s,
    )
    .unwrap();
    b.add_u32(attr::SERVICE_TYPE, 1) // Login-User
        .unwrap()
        .add_u32(attr::LOGIN_SERVICE, 0) // Telnet
        .unwrap()
        .add_ipv4(attr::LOGIN_IP_HOST, Ipv4Addr::new(192, 168, 1, 3))
        .unwrap();
    let reply = b.finish();
    let expected = hex(RFC2865_7_1_ACCEPT);
    assert_eq!(reply, expected);
    assert_eq!(
        &reply[4..20],
        &[
            0x86, 0xfe, 0x22, 0x0e, 0x76, 0x24, 0xba, 0x2a, 0x10, 0x05, 0xf6, 0xbf, 0x9b, 0x55,
            0xe0, 0xb2
        ]
    );

    let d = PacketRef::decode(&expected).unwrap();
    d.verify_response(
        request.authenticator(),
        &s,
        MessageAuthenticatorPolicy::IfPresent,
    )
    .unwrap();
    let wrong = SharedSecret::new(b"xyzzy5462").unwrap();
    assert_eq!(
        d.verify_response(
            request.authenticator(),
            &wrong,
            MessageAuthenticatorPolicy::IfPresent
        ),
        Err(Error::BadResponseAuthenticator)
    );
}

#[test]
fn rfc2865_7_1_hardened_accept_verifies() {
    let s = secret();
    let request = hex(RFC2865_7_1_REQUEST);
    let request = PacketRef::decode(&request).unwrap();
    let mut b = ReplyBuilder::accept(&request, &s);
    b.add_u32(attr::SERVICE_TYPE, 1).unwrap();
    let reply = b.finish();
    let d = PacketRef::decode(&reply).unwrap();
    assert_eq!(
        d.attributes().next().unwrap().attr_type,
        attr::MESSAGE_AUTHENTICATOR
    );
    d.verify_response(
        request.authenticator(),
        &s,
        MessageAuthenticatorPolicy::Required,
    )
    .unwrap();
}

#[test]
fn rfc2865_7_2_chap_request_decodes() {
    let bytes = hex(RFC2865_7_2_REQUEST);
    let p = PacketRef::decode(&bytes).unwrap();
    assert_eq!(p.code(), Code::AccessRequest);
    assert_eq!(p.identifier(), 1);
    assert_eq!(p.length(), 71);
    assert_eq!(p.attribute(attr::USER_NAME), Some(&b"flopsy"[..]));
    let chap = p.attribute(attr::CHAP_PASSWORD).unwrap();
    assert_eq!(chap.len(), 17);
    assert_eq!(chap[0], 0x16); // CHAP identifier
    assert_eq!(p.attribute(attr::USER_PASSWORD), None);
    assert!(p.user_password(&secret()).unwrap().is_none());
    let ints: Vec<(u8, Option<u32>)> = p
        .attributes()
        .skip(2)
        .map(|a| (a.attr_type, a.as_u32()))
        .collect();
    assert_eq!(
        ints,
        [
            (attr::NAS_IP_ADDRESS, Some(0xc0a8_0110)),
            (attr::NAS_PORT, Some(20)),
            (attr::SERVICE_TYPE, Some(2)),    // Framed-User
            (attr::FRAMED_PROTOCOL, Some(1)), // PPP
        ]
    );
}

#[test]
fn rfc2865_7_2_accept_decodes_and_verifies() {
    let bytes = hex(RFC2865_7_2_ACCEPT);
    let p = PacketRef::decode(&bytes).unwrap();
    assert_eq!(p.code(), Code::AccessAccept);
    assert_eq!(p.identifier(), 1);
    let got: Vec<(u8, Option<u32>)> = p.attributes().map(|a| (a.attr_type, a.as_u32())).collect();
    assert_eq!(
        got,
        [
            (attr::SERVICE_TYPE, Some(2)),
            (attr::FRAMED_PROTOCOL, Some(1)),
            (attr::FRAMED_IP_ADDRESS, Some(0xffff_fffe)),
            (attr::FRAMED_ROUTING, Some(2)),
            (attr::FRAMED_COMPRESSION, Some(1)),
            (attr::FRAMED_MTU, Some(1500)),
        ]
    );

    let request = hex(RFC2865_7_2_REQUEST);
    let request = PacketRef::decode(&request).unwrap();
    p.verify_response(
        request.authenticator(),
        &secret(),
        MessageAuthenticatorPolicy::IfPresent,
    )
    .unwrap();
}
