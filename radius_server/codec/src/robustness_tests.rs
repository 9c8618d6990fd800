//! Property-style robustness tests: random and truncated datagrams never panic the decoder and are judged consistently.

use crate::test_vectors::{
    hex, RFC2865_7_1_ACCEPT, RFC2865_7_1_REQUEST, RFC2865_7_2_ACCEPT, RFC2865_7_2_REQUEST,
};
use crate::{
    attr, Error, MessageAuthenticatorPolicy, PacketRef, ReplyBuilder, RequestBuilder, SharedSecret,
};

/// xorshift64*: small, deterministic, good enough to shake a parser.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

/// Exercises everything a daemon would do with a decoded packet and checks invariants.
fn exercise(datagram: &[u8], secret: &SharedSecret) {
    let Ok(p) = PacketRef::decode(datagram) else {
        return;
    };
    let len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    assert_eq!(p.length(), len);
    assert_eq!(p.as_bytes(), &datagram[..len]);
    let mut covered = 20;
    let mut mas = 0;
    for a in p.attributes() {
        assert_ne!(a.attr_type, 0);
        covered += 2 + a.value.len();
        if a.attr_type == attr::MESSAGE_AUTHENTICATOR {
            mas += 1;
            assert_eq!(a.value.len(), 16);
        }
    }
    assert_eq!(covered, len, "attributes must tile the packet exactly");
    assert!(mas <= 1);
    assert_eq!(p.message_authenticator().is_some(), mas == 1);
    let _ = p.user_password(secret);
    let _ = p.verify_request(secret, MessageAuthenticatorPolicy::Required);
    let _ = p.verify_response(&[0; 16], secret, MessageAuthenticatorPolicy::IfPresent);
}

/// Random bytes shaped like attributes: mostly well-formed, sometimes not.
fn attribute_soup(rng: &mut Rng, out: &mut Vec<u8>) {
    let n = rng.below(12);
    for _ in 0..n {
        let attr_type = match rng.below(10) {
            0 => 0,
            1 | 2 => attr::MESSAGE_AUTHENTICATOR,
            3 => attr::USER_PASSWORD,
            _ => rng.byte(),
        };
        let value_len = match attr_type {
            attr::MESSAGE_AUTHENTICATOR if rng.below(4) != 0 => 16,
            attr::USER_PASSWORD => 16 * rng.below(9),
            _ => rng.below(40),
        };
        let claimed = match rng.below(20) {
            0 => rng.byte(),
            1 => rng.below(2) as u8,
            _ => (value_len + 2) as u8,
        };
        out.push(attr_type);
        out.push(claimed);
        for _ in 0..value_len {
            out.push(rng.byte());
        }
    }
}

#[test]
fn random_datagrams_never_panic() {
    let secret = SharedSecret::new(b"fuzz-secret").unwrap();
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut buf = Vec::with_capacity(5000);
    let mut decoded = 0usize;
    for i in 0..100_000 {
        buf.clear();
        match i % 4 {
            // Pure noise, mostly small, sometimes around and beyond the limits.
            0 => {
                let len = if rng.below(50) == 0 {
                    4090 + rng.below(12)
                } else {
                    rng.below(300)
                };
                buf.resize(len, 0);
                rng.fill(&mut buf);
            }
            // Noise behind a header whose Length matches (or nearly matches) the datagram.
            1 => {
                let len = 20 + rng.below(200);
                buf.resize(len, 0);
                rng.fill(&mut buf);
                let claimed = (len as i64 + rng.below(5) as i64 - 2).clamp(0, 65535) as u16;
                buf[2..4].copy_from_slice(&claimed.to_be_bytes());
            }
            // Attribute-shaped soup behind a correct header, sometimes with trailing junk.
            _ => {
                buf.resize(20, 0);
                rng.fill(&mut buf);
                attribute_soup(&mut rng, &mut buf);
                let len = buf.len().min(4096) as u16;
                buf[2..4].copy_from_slice(&len.to_be_bytes());
                if rng.below(4) == 0 {
                    for _ in 0..rng.below(8) {
                        buf.push(rng.byte());
                    }
                }
            }
        }
        if PacketRef::decode(&buf).is_ok() {
            decoded += 1;
        }
        exercise(&buf, &secret);
    }
    // The generators must reach past the header checks, or this test proves little.
    assert!(decoded > 5_000, "only {decoded} random datagrams decoded");
}

fn valid_packets() -> Vec<Vec<u8>> {
    let s = SharedSecret::new(b"xyzzy5461").unwrap();
    let mut b = RequestBuilder::access_request(5, [3; 16], &s);
    b.add_str(attr::USER_NAME, "someone")
        .unwrap()
        .add_user_password(&[b'p'; 40])
        .unwrap()
        .add(attr::PROXY_STATE, b"ps")
        .unwrap();
    let request = b.finish();
    let req = PacketRef::decode(&request).unwrap();
    let mut r = ReplyBuilder::challenge(&req, &s);
    r.add(attr::STATE, &[9; 32])
        .unwrap()
        .add_str(attr::REPLY_MESSAGE, "code?")
        .unwrap();
    let reply = r.finish();
    vec![
        hex(RFC2865_7_1_REQUEST),
        hex(RFC2865_7_1_ACCEPT),
        hex(RFC2865_7_2_REQUEST),
        hex(RFC2865_7_2_ACCEPT),
        request,
        reply,
        RequestBuilder::status_server(1, [0; 16], &s).finish(),
    ]
}

#[test]
fn every_truncation_below_length_is_rejected() {
    let secret = SharedSecret::new(b"xyzzy5461").unwrap();
    for packet in valid_packets() {
        assert!(PacketRef::decode(&packet).is_ok());
        let length = packet.len() as u16;
        for cut in 0..packet.len() {
            let err = PacketRef::decode(&packet[..cut]).unwrap_err();
            let want = if cut < 20 {
                Error::DatagramTooShort { received: cut }
            } else {
                Error::Truncated {
                    length,
                    received: cut,
                }
            };
            assert_eq!(err, want);
            exercise(&packet[..cut], &secret);
        }
    }
}

#[test]
fn trailing_bytes_do_not_change_the_packet() {
    let mut rng = Rng(42);
    for packet in valid_packets() {
        let original = PacketRef::decode(&packet).unwrap();
        let attrs: Vec<_> = original.attributes().collect();
        let mut padded = packet.clone();
        for _ in 0..1 + rng.below(30) {
            padded.push(rng.byte());
        }
        let p = PacketRef::decode(&padded).unwrap();
        assert_eq!(p.as_bytes(), &packet[..]);
        assert_eq!(p.attributes().collect::<Vec<_>>(), attrs);
    }
}

#[test]
fn bit_flipped_valid_packets_never_panic() {
    let secret = SharedSecret::new(b"xyzzy5461").unwrap();
    let mut rng = Rng(7);
    for packet in valid_packets() {
        for _ in 0..2_000 {
            let mut q = packet.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(q.len());
                q[i] ^= 1 << rng.below(8);
            }
            exercise(&q, &secret);
        }
    }
}
