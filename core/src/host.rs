//! Member hosts of a site: their names, their enrollment records, and the host file that
//! carries one host's keys to it.

use crate::key::HostKeys;
use crate::{Error, Time};
use zeroize::Zeroizing;

/// The longest host name (a DNS name's limit).
pub const MAX_NAME: usize = 253;

/// One enrolled (or once enrolled) member host, as the site's store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Its name, as its host file and its requests give it.
    pub name: String,
    /// How many times it was enrolled: its keys are derived with this number, so that a host
    /// enrolled again after a revoke gets new ones and the old file stays refused.
    pub serial: u32,
    /// When it was last enrolled.
    pub enrolled_at: Time,
    /// Who enrolled it.
    pub enrolled_by: String,
    /// When it was revoked, if it is.
    pub revoked_at: Option<Time>,
    /// When it last asked the site, if it ever did.
    pub last_seen: Option<Time>,
}

/// Checks that `name` can be a member host's name: a DNS name in lowercase (labels of
/// letters, digits and inner hyphens, joined by dots), as `hostname -f` prints one.
pub fn check_name(name: &str) -> Result<(), Error> {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if name.len() <= MAX_NAME && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "{name:?} is not a host name; expected a DNS name in lowercase (letters, digits, inner '-', labels joined by '.'), at most {MAX_NAME} characters"
        )))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The host file of `host` at enrollment `serial`, with its keys: what `sparekeyctl host
/// enroll` writes, to be installed on that host alone as /etc/sparekey/host.key.
pub fn host_file(host: &Host, keys: &HostKeys) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "# sparekey host file of member host \"{name}\" (enrollment {serial}, {at}).\n\
         # Install it on {name} alone, as /etc/sparekey/host.key, owned by root, mode 0600.\n\
         # Whoever reads it can ask the site as {name} until `sparekeyctl host revoke {name}`.\n\
         host = \"{name}\"\n\
         serial = {serial}\n\
         auth-key = \"{auth}\"\n\
         offline-key = \"{offline}\"\n",
        name = host.name,
        serial = host.serial,
        at = crate::rfc3339(host.enrolled_at),
        auth = hex(&keys.auth[..]),
        offline = hex(&keys.offline[..]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_lowercase_dns_names() {
        for ok in ["host-a", "web1.example.org", "a", &"b".repeat(63)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Host",
            "-a",
            "a-",
            "a..b",
            "a b",
            "a/b",
            "a_b",
            ".a",
            &"b".repeat(64),
        ] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains("expected a DNS name"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_host_file_names_the_host_and_holds_both_keys() {
        let key = crate::SiteKey::from_bytes(&[1; 32]);
        let host = Host {
            name: "host-a".into(),
            serial: 2,
            enrolled_at: chrono::DateTime::from_timestamp(1_796_000_000, 0).unwrap(),
            enrolled_by: "root".into(),
            revoked_at: None,
            last_seen: None,
        };
        let keys = key.host_keys("host-a", 2);
        let file = host_file(&host, &keys);
        assert!(
            file.contains("host = \"host-a\"\nserial = 2\n"),
            "{}",
            *file
        );
        assert!(file.contains(&format!("auth-key = \"{}\"", hex(&keys.auth[..]))));
        assert!(file.contains(&format!("offline-key = \"{}\"", hex(&keys.offline[..]))));
    }
}
