//! Fuzz target: arbitrary datagrams through the RADIUS decoder, password unhiding, authenticator checks (access and accounting), salt-encrypted values passed on, and a reply round trip.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sparekey_radius_codec::salt::reencrypt;
use sparekey_radius_codec::{
    attr, MessageAuthenticatorPolicy, PacketRef, ReplyBuilder, SharedSecret,
};

fn secret() -> &'static SharedSecret {
    static SECRET: OnceLock<SharedSecret> = OnceLock::new();
    SECRET.get_or_init(|| SharedSecret::new(b"xyzzy5461").expect("non-empty secret"))
}

fuzz_target!(|data: &[u8]| {
    let secret = secret();
    let Ok(packet) = PacketRef::decode(data) else {
        return;
    };

    // Structural invariants the decoder promises.
    assert!(packet.length() >= 20 && packet.length() <= 4096);
    let covered: usize = packet.attributes().map(|a| 2 + a.value.len()).sum();
    assert_eq!(20 + covered, packet.length());
    assert!(packet.attributes().all(|a| a.attr_type != 0));
    assert!(
        packet
            .attributes()
            .filter(|a| a.attr_type == attr::MESSAGE_AUTHENTICATOR)
            .count()
            <= 1
    );

    // What the daemon does next; none of it may panic.
    let _ = packet.verify_request(secret, MessageAuthenticatorPolicy::Required);
    let _ = packet.verify_request(secret, MessageAuthenticatorPolicy::IfPresent);
    if let Ok(Some(password)) = packet.user_password(secret) {
        assert!(password.len() <= 128);
    }
    let _ = packet.verify_response(&[0; 16], secret, MessageAuthenticatorPolicy::IfPresent);
    let _ = packet.verify_accounting_request(secret);
    // A salt-encrypted value passed from one leg to another (an upstream's answer relayed):
    // any bytes, never a panic; what comes back has the same salt and length.
    for a in packet.attributes() {
        if let Some(again) = reencrypt(a.value, secret, &[0; 16], secret, &[1; 16]) {
            assert_eq!(again.len(), a.value.len());
            assert_eq!(again[..2], a.value[..2]);
        }
    }

    // A reply to any decodable packet must itself decode and verify.
    let mut reply = ReplyBuilder::accept(&packet, secret);
    let _ = reply.copy_proxy_state(&packet);
    let reply = reply.finish();
    let decoded = PacketRef::decode(&reply).expect("our own reply decodes");
    decoded
        .verify_response(
            packet.authenticator(),
            secret,
            MessageAuthenticatorPolicy::Required,
        )
        .expect("our own reply verifies");
});
