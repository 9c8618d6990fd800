//! Tests of the `[radius]` modes, upstreams and `[[policy.reply]]`: what loads, and what is
//! refused with which message and place.

use crate::{load, ClientMode, Config, Error, MessageAuthenticatorRule};
use std::fs;
use std::os::unix::fs::PermissionsExt;

const POLICY: &str = "enabled = true\ncontact = \"x\"\n\n[[policy]]\nname = \"staff\"\nusers = [\"alice\"]\nservices = [\"vpn\"]\n";
const CLIENT: &str = "[[radius.client]]\nname = \"gw\"\naddress = \"10.0.0.0/24\"\nsecret-file = \"gw.secret\"\nservice = \"vpn\"\n";
const UPSTREAM: &str = "\n[[radius.upstream]]\nname = \"mfa\"\naddress = \"127.0.0.1:1812\"\nsecret-file = \"mfa.secret\"\n";

fn files(daemon: &str, policy: &str) -> (tempfile::TempDir, Result<Config, Error>) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("sparekey.toml"), daemon).unwrap();
    fs::write(dir.path().join("policy.toml"), policy).unwrap();
    for secret in ["gw.secret", "mfa.secret"] {
        let p = dir.path().join(secret);
        fs::write(&p, "0123456789abcdef0123\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let loaded = load(&dir.path().join("sparekey.toml"));
    (dir, loaded)
}

fn errors(daemon: &str, policy: &str) -> Vec<String> {
    match files(daemon, policy).1 {
        Ok(_) => Vec::new(),
        Err(Error::Invalid(d)) => d.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn modes_load_with_their_defaults() {
    let daemon = format!("{CLIENT}mode = \"challenge\"\nupstream = \"mfa\"\naccounting = true\nrequire-message-authenticator = \"auto\"\n{UPSTREAM}");
    let (_dir, cfg) = files(&daemon, POLICY);
    let cfg = cfg.unwrap();
    let c = &cfg.daemon.radius.client[0];
    assert_eq!(*c.mode.get_ref(), ClientMode::Challenge);
    assert_eq!(c.primary_pam_service(), "sparekey-radius");
    assert_eq!(c.challenge_prompt(), "Temporary code: ");
    assert!(c.accounting);
    assert_eq!(
        *c.require_message_authenticator.get_ref(),
        MessageAuthenticatorRule::Auto
    );
    let u = cfg.daemon.radius.upstream("mfa").unwrap();
    assert_eq!(u.timeout.get_ref().as_secs(), 2);
    assert_eq!(*u.retries.get_ref(), 2);
    assert!(
        u.secret_file.get_ref().is_absolute(),
        "resolved beside sparekey.toml"
    );
    let (_dir, plain) = files(CLIENT, POLICY);
    let plain = plain.unwrap();
    assert_eq!(
        *plain.daemon.radius.client[0].mode.get_ref(),
        ClientMode::CodeOnly
    );
}

#[test]
fn keys_of_another_mode_and_bad_values_are_refused() {
    let daemon = format!("{CLIENT}challenge-prompt = \"Code: \"\nappend-delimiter = \",\"\nprimary-pam-service = \"sk\"\n");
    let errs = errors(&daemon, POLICY);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs[0].contains("`primary-pam-service` is for mode = \"challenge\" or \"append\""),
        "{errs:?}"
    );
    assert!(
        errs[1].contains("`challenge-prompt` is for mode = \"challenge\""),
        "{errs:?}"
    );
    assert!(
        errs[2].contains("`append-delimiter` is for mode = \"append\""),
        "{errs:?}"
    );
    let daemon = format!(
        "{CLIENT}mode = \"append\"\nappend-delimiter = \"1\"\nprimary-pam-service = \"../etc\"\n"
    );
    let errs = errors(&daemon, POLICY);
    assert!(
        errs.iter()
            .any(|e| e.contains("expected a PAM service name")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("that no code contains")),
        "{errs:?}"
    );
    let errs = errors(&format!("{CLIENT}mode = \"both\"\n"), POLICY);
    assert!(errs[0].contains("sparekey.toml:6:8"), "{errs:?}");
    let errs = errors(
        &format!("{CLIENT}require-message-authenticator = \"sometimes\"\n"),
        POLICY,
    );
    assert!(errs[0].contains("true, false or \"auto\""), "{errs:?}");
}

#[test]
fn upstreams_are_checked() {
    let errs = errors(&format!("{CLIENT}upstream = \"duo\"\n"), POLICY);
    assert!(
        errs[0].contains(
            "unknown upstream \"duo\"; expected the name of a [[radius.upstream]] (there is none)"
        ),
        "{errs:?}"
    );
    let bad = "\n[[radius.upstream]]\nname = \"mfa\"\naddress = \"mfa.example:99999\"\nsecret-file = \"missing.secret\"\ntimeout = \"3m\"\nretries = 9\n";
    let errs = errors(&format!("{CLIENT}upstream = \"mfa\"\n{bad}"), POLICY);
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(errs[0].contains("expected \"host:port\""), "{errs:?}");
    assert!(errs[1].contains("missing.secret"), "{errs:?}");
    assert!(
        errs[2].contains("timeout 3m is out of range; expected 1s to 2m"),
        "{errs:?}"
    );
    assert!(
        errs[3].contains("retries 9 is out of range; expected 0 to 5"),
        "{errs:?}"
    );
    let member = "[[radius.client]]\nname = \"m\"\naddress = \"10.1.0.0/16\"\nmember-hosts = true\nmode = \"append\"\naccounting = true\n";
    let errs = errors(member, POLICY);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs.iter().all(|e| e.contains("`member-hosts = true`")),
        "{errs:?}"
    );
}

#[test]
fn reply_attributes_are_checked() {
    let ok = format!("{POLICY}\n[[policy.reply]]\nattribute = \"Class\"\nvalue = \"OU=staff;\"\n\n[[policy.reply]]\nvendor = 12356\ntype = 1\nvalue = \"staff\"\n\n[[policy.reply]]\nattribute = \"Idle-Timeout\"\nvalue = 600\n");
    let (_dir, cfg) = files("", &ok);
    let cfg = cfg.unwrap();
    let replies = &cfg.policy.policy[0].reply;
    assert_eq!(replies.len(), 3);
    assert_eq!(replies[2].value_bytes(), 600u32.to_be_bytes().to_vec());
    for (entry, says) in [
        (
            "attribute = \"Idle-Timeout\"\nvalue = \"10m\"",
            "Idle-Timeout is a number of seconds",
        ),
        ("attribute = \"Class\"\nvalue = 5", "this attribute is text"),
        ("vendor = 12356\nvalue = \"x\"", "needs `attribute`"),
        (
            "attribute = \"Class\"\nvendor = 9\ntype = 1\nvalue = \"x\"",
            "not both",
        ),
        (
            "vendor = 0\ntype = 1\nvalue = \"x\"",
            "expected a vendor number",
        ),
        ("vendor = 9\ntype = 300\nvalue = \"x\"", "from 1 to 255"),
        ("attribute = \"Class\"\nvalue = \"\"", "1 to 253 bytes"),
        (
            "attribute = \"Reply-Message\"\nvalue = \"x\"",
            "unknown variant",
        ),
    ] {
        let errs = errors("", &format!("{POLICY}\n[[policy.reply]]\n{entry}\n"));
        assert!(errs.iter().any(|e| e.contains(says)), "{entry}: {errs:?}");
    }
}
