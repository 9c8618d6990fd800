//! The offline challenge and response of a member host that cannot reach the site: the
//! request code the host shows, the response code the helpdesk reads back, and the check
//! character that catches a mistyped one. Pure: randomness and keys come in.
//!
//! Both codes are written in a 31-symbol alphabet easy to read over the phone (digits and
//! the letters but I, L, O, S and Z, which typing maps to 1, 1, 0, 5 and 2). Each ends in a
//! check character: the symbols' values weighted by powers of 3 (a primitive root of 31)
//! sum to 0 modulo 31, the check included. As 31 is prime and no two values differ by 31,
//! it catches every single wrong character and every swap of two neighbours (the check
//! character's too).
//! - Request: 8 random symbols (about 39.6 bits) and the check: `XXX-XXX-XXX`.
//! - Response: the validity in quarter hours (3 symbols, 1 to 1,344, i.e. at most 14 days),
//!   then 8 symbols (about 39.6 bits) of HMAC-SHA256 under the host's offline key over
//!   "sparekey offline response v1", the host, the user, the request and the validity,
//!   each length-prefixed, then the check: `XXXX-XXXX-XXXX`.

use crate::Error;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The symbols, in value order.
pub const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKMNPQRTUVWXY";

/// The number of symbols, a prime.
const RADIX: u64 = 31;

/// Random symbols in a request code.
pub const REQUEST_SYMBOLS: usize = 8;
/// Symbols of HMAC in a response code.
pub const RESPONSE_MAC_SYMBOLS: usize = 8;
/// Symbols of validity in a response code.
const VALIDITY_SYMBOLS: usize = 3;
/// The unit of a response's validity.
pub const QUARTER_HOUR: u64 = 15 * 60;
/// The longest validity: 14 days.
pub const MAX_QUARTERS: u64 = 14 * 24 * 4;

/// A symbol's value, after the mapping of look-alikes; None for anything else.
fn value(c: u8) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        b'I' | b'L' => b'1',
        b'O' => b'0',
        b'S' => b'5',
        b'Z' => b'2',
        c => c,
    };
    ALPHABET.iter().position(|&a| a == c).map(|v| v as u8)
}

/// Σ 3^i · values[i] modulo 31, and 3^len.
fn weighted(values: &[u8]) -> (u64, u64) {
    values.iter().fold((0, 1), |(sum, w), &v| {
        ((sum + w * u64::from(v)) % RADIX, (w * 3) % RADIX)
    })
}

/// The check symbol's value for `values`: the c for which the weighted sum of `values`
/// and c (weight 3^len) is 0 modulo 31.
fn check_value(values: &[u8]) -> u8 {
    let (sum, w) = weighted(values);
    // w's inverse modulo the prime 31 is w^29 (Fermat).
    let inverse = (0..29).fold(1, |acc, _| (acc * w) % RADIX);
    (((RADIX - sum) % RADIX * inverse) % RADIX) as u8
}

/// Whether `values`, its last one the check, is consistent.
fn check_holds(values: &[u8]) -> bool {
    values.len() > 1 && weighted(values).0 == 0
}

fn render(values: &[u8], group: usize) -> String {
    let mut out = String::with_capacity(values.len() + values.len() / group);
    for (i, v) in values.iter().enumerate() {
        if i > 0 && i % group == 0 {
            out.push('-');
        }
        out.push(ALPHABET[usize::from(*v)] as char);
    }
    out
}

/// The symbols of a typed code (spaces and dashes ignored, look-alikes mapped), checked for
/// `len` symbols and its check character; `what` names it in the errors.
fn parse(input: &str, len: usize, what: &str) -> Result<Vec<u8>, Error> {
    let mut values = Vec::with_capacity(len);
    for c in input.bytes().filter(|c| !matches!(c, b' ' | b'-')) {
        match value(c) {
            Some(v) => values.push(v),
            None => {
                return Err(Error::Refused(format!(
                    "{what} {input:?} has a character that is not in its alphabet ({}); expected {len} of them",
                    std::str::from_utf8(ALPHABET).unwrap_or_default()
                )))
            }
        }
    }
    if values.len() != len {
        return Err(Error::Refused(format!(
            "{what} {input:?} has {} characters; expected {len} (dashes and spaces do not count)",
            values.len()
        )));
    }
    if !check_holds(&values) {
        return Err(Error::Refused(format!(
            "{what} {input:?} is mistyped: its check character does not match; read it again"
        )));
    }
    Ok(values)
}

/// The request code a host shows: random symbols and their check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCode {
    values: Vec<u8>,
}

impl RequestCode {
    /// A request from `random` bytes (one per symbol, from the OS; rejection-sampled here).
    pub fn from_random(mut random: impl FnMut() -> u8) -> Self {
        let mut values = Vec::with_capacity(REQUEST_SYMBOLS + 1);
        while values.len() < REQUEST_SYMBOLS {
            // 248 = 8 x 31: the values below it map onto the alphabet evenly.
            let b = random();
            if b < 248 {
                values.push(b % 31);
            }
        }
        values.push(check_value(&values));
        RequestCode { values }
    }

    /// A typed request code, checked.
    pub fn parse(input: &str) -> Result<Self, Error> {
        Ok(RequestCode {
            values: parse(input, REQUEST_SYMBOLS + 1, "request code")?,
        })
    }

    /// As shown: `XXX-XXX-XXX`.
    pub fn display(&self) -> String {
        render(&self.values, 3)
    }
}

/// The HMAC a response carries, as symbol values: over the host, the user, the request and
/// the validity, under the host's offline key.
fn response_mac(
    offline_key: &[u8; 32],
    host: &str,
    user: &str,
    request: &RequestCode,
    quarters: u64,
) -> Vec<u8> {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(offline_key).expect("any key length");
    mac.update(b"sparekey offline response v1\0");
    for field in [host.as_bytes(), user.as_bytes(), &request.values[..]] {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field);
    }
    mac.update(&quarters.to_be_bytes());
    let tag = mac.finalize().into_bytes();
    // The first 8 bytes as a number, written in base 31: 8 symbols hold 31^8 of its values.
    let mut n = u64::from_be_bytes(tag[..8].try_into().unwrap_or_default()) % RADIX.pow(8);
    let mut out = vec![0u8; RESPONSE_MAC_SYMBOLS];
    for slot in out.iter_mut().rev() {
        *slot = (n % RADIX) as u8;
        n /= RADIX;
    }
    out
}

/// How long a response's validity is, in quarter hours (rounded up), refused beyond 14 days
/// or at zero.
pub fn quarters_of(secs: u64) -> Result<u64, Error> {
    let q = secs.div_ceil(QUARTER_HOUR);
    if q == 0 || q > MAX_QUARTERS {
        return Err(Error::Refused(format!(
            "an offline response lasts from 15 minutes to 14 days; {secs} s is outside that"
        )));
    }
    Ok(q)
}

/// The response code for `request` from `user` on `host`, valid `quarters` quarter hours
/// from its acceptance: `XXXX-XXXX-XXXX`.
pub fn response(
    offline_key: &[u8; 32],
    host: &str,
    user: &str,
    request: &RequestCode,
    quarters: u64,
) -> String {
    let mut values = Vec::with_capacity(VALIDITY_SYMBOLS + RESPONSE_MAC_SYMBOLS + 1);
    let q = quarters.min(MAX_QUARTERS);
    values.extend([
        (q / (RADIX * RADIX)) as u8,
        (q / RADIX % RADIX) as u8,
        (q % RADIX) as u8,
    ]);
    values.extend(response_mac(offline_key, host, user, request, q));
    values.push(check_value(&values));
    render(&values, 4)
}

/// A typed response checked against `request` of `user` on `host`: its validity in quarter
/// hours. A mistyped one (its check character) or one beyond 14 days is refused before its
/// HMAC is compared; the HMAC is compared in constant time.
pub fn verify_response(
    offline_key: &[u8; 32],
    host: &str,
    user: &str,
    request: &RequestCode,
    input: &str,
) -> Result<u64, Error> {
    let values = parse(
        input,
        VALIDITY_SYMBOLS + RESPONSE_MAC_SYMBOLS + 1,
        "response code",
    )?;
    let q = (u64::from(values[0]) * RADIX + u64::from(values[1])) * RADIX + u64::from(values[2]);
    if q == 0 || q > MAX_QUARTERS {
        return Err(Error::Refused("response code not accepted".into()));
    }
    let expected = response_mac(offline_key, host, user, request, q);
    let body = &values[VALIDITY_SYMBOLS..VALIDITY_SYMBOLS + RESPONSE_MAC_SYMBOLS];
    if bool::from(expected.ct_eq(body)) {
        Ok(q)
    } else {
        Err(Error::Refused("response code not accepted".into()))
    }
}

/// The policy under which `user` (in `groups`) may log in offline on `host` to `service`,
/// by the host's own policy file; `Err` says why not.
pub fn offline_policy<'p>(
    policies: &'p sparekey_conf::PolicyFile,
    user: &str,
    groups: &[String],
    service: &str,
    host: &str,
) -> Result<&'p sparekey_conf::Policy, String> {
    let policy = crate::decision::eligibility(policies, user, groups)
        .map_err(|r| format!("{user} may not log in offline here ({})", r.as_str()))?;
    if !policy.allows_kind(sparekey_conf::Kind::Offline) {
        return Err(format!(
            "{user}'s policy {:?} here does not allow the kind \"offline\"",
            policy.name()
        ));
    }
    if !policy.allows_service(service) {
        return Err(format!(
            "{user}'s policy {:?} here does not allow the service {service:?}",
            policy.name()
        ));
    }
    if !policy.hosts.is_empty() && !policy.hosts.iter().any(|h| h == host) {
        return Err(format!(
            "{user}'s policy {:?} here does not allow the host {host:?}",
            policy.name()
        ));
    }
    Ok(policy)
}

/// Whether `input` has the shape of a response code (12 symbols of the alphabet, its check
/// character right): what a host at its code prompt tells from a site code.
pub fn looks_like_response(input: &str) -> bool {
    parse(
        input,
        VALIDITY_SYMBOLS + RESPONSE_MAC_SYMBOLS + 1,
        "response code",
    )
    .is_ok()
}

/// The keyed hash a host keeps of a response it accepted, so that the same response typed
/// at its code prompt works until the validity ends: HMAC-SHA256 under the host's offline
/// key over "sparekey offline grant v1", the user and the response's symbols. `Err` for
/// what is not a response code.
pub fn grant_digest(offline_key: &[u8; 32], user: &str, input: &str) -> Result<[u8; 32], Error> {
    let values = parse(
        input,
        VALIDITY_SYMBOLS + RESPONSE_MAC_SYMBOLS + 1,
        "response code",
    )?;
    #[allow(clippy::expect_used)] // HMAC takes keys of any length
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(offline_key).expect("any key length");
    mac.update(b"sparekey offline grant v1\0");
    mac.update(&(user.len() as u64).to_be_bytes());
    mac.update(user.as_bytes());
    mac.update(&values);
    Ok(mac.finalize().into_bytes().into())
}

#[cfg(test)]
#[path = "offline_tests.rs"]
mod tests;
