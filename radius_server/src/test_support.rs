//! Fixtures of the responder's and the workers' unit tests: a scripted verifier, a
//! configuration, clients and requests with fixed times.

use crate::clients::{AuthenticatorRule, ClientModes, ClientSecret, ClientTable, RadiusClient};
use crate::responder::Snapshot;
use crate::verifier::{CodeRequest, MemberHost, MemberLogin, Verifier};
use crate::Error;
use chrono::{TimeZone, Utc};
use sparekey_conf::{Config, PolicyFile};
use sparekey_core::{Time, Verdict};
use sparekey_radius_codec::{
    attr, MessageAuthenticatorPolicy, PacketRef, RequestBuilder, SharedSecret,
};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) const SECRET: &[u8] = b"a-long-enough-test-secret";

/// What the fake verifier saw: (user, service, source, code).
pub(crate) type Seen = (String, String, String, Vec<u8>);

/// A verifier that answers from a script and records every call; checked empty on drop.
#[derive(Debug)]
pub(crate) struct Script {
    pub(crate) answers: VecDeque<Result<Verdict, String>>,
    pub(crate) seen: Vec<Seen>,
    pub(crate) recorded: Vec<sparekey_core::AuditEvent>,
    pub(crate) usable: sparekey_core::decision::Availability,
}

impl Script {
    pub(crate) fn of(answers: Vec<Result<Verdict, String>>) -> Self {
        Script {
            answers: answers.into(),
            seen: Vec::new(),
            recorded: Vec::new(),
            usable: sparekey_core::decision::Availability::Usable,
        }
    }
}

impl Default for Script {
    fn default() -> Self {
        Script::of(Vec::new())
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(
                self.answers.is_empty(),
                "unused answers: {:?}",
                self.answers
            );
        }
    }
}

impl Verifier for Script {
    fn verify(&mut self, _: &PolicyFile, r: &CodeRequest<'_>, _: Time) -> Result<Verdict, Error> {
        self.seen.push((
            r.user.into(),
            r.service.into(),
            r.source.into(),
            r.code.as_bytes().to_vec(),
        ));
        match self
            .answers
            .pop_front()
            .expect("an unexpected verification")
        {
            Ok(v) => Ok(v),
            Err(e) => Err(Error::Core(sparekey_core::Error::Store {
                location: "s.db".into(),
                operation: "redeem a code",
                problem: e,
            })),
        }
    }

    fn member_host(&mut self, _: &str, _: Time) -> Result<Option<MemberHost>, Error> {
        panic!("no member-hosts client here")
    }

    fn host_seen(&mut self, _: &str, _: Time) {}

    fn availability(
        &mut self,
        _: &PolicyFile,
        _: &MemberLogin<'_>,
        _: Time,
    ) -> Result<sparekey_core::decision::Availability, Error> {
        panic!("no member-hosts client here")
    }

    fn retire(&mut self, _: &MemberLogin<'_>, _: Time) -> Result<usize, Error> {
        panic!("no member-hosts client here")
    }

    fn usable(
        &mut self,
        _: &PolicyFile,
        _: &str,
        _: &str,
        _: &str,
        _: Time,
    ) -> Result<sparekey_core::decision::Availability, Error> {
        Ok(self.usable)
    }

    fn record(&mut self, event: sparekey_core::AuditEvent) -> Result<(), Error> {
        self.recorded.push(event);
        Ok(())
    }

    fn record_offline(
        &mut self,
        _: &MemberLogin<'_>,
        _: &crate::verifier::OfflineReport<'_>,
        _: Time,
    ) -> Result<(), Error> {
        panic!("no member-hosts client here")
    }
}

pub(crate) fn config() -> Arc<Config> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sparekey.toml"), "").unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "enabled = true\ncontact = \"IT helpdesk, ext. 4357\"\n",
    )
    .unwrap();
    Arc::new(sparekey_conf::load(&dir.path().join("sparekey.toml")).unwrap())
}

pub(crate) fn client(name: &str, address: &str, ma: MessageAuthenticatorPolicy) -> RadiusClient {
    RadiusClient {
        name: name.into(),
        address: address.parse().unwrap(),
        service: "vpn".into(),
        secret: ClientSecret::Shared(SharedSecret::new(SECRET).unwrap()),
        message_authenticator: match ma {
            MessageAuthenticatorPolicy::Required => AuthenticatorRule::Required,
            MessageAuthenticatorPolicy::IfPresent => AuthenticatorRule::IfPresent,
        },
        modes: ClientModes::default(),
    }
}

pub(crate) fn snapshot() -> Snapshot {
    let clients = ClientTable::new(vec![
        client(
            "vpn-gw",
            "192.0.2.0/24",
            MessageAuthenticatorPolicy::Required,
        ),
        client(
            "old-nas",
            "198.51.100.7",
            MessageAuthenticatorPolicy::IfPresent,
        ),
    ]);
    Snapshot::new(config(), Arc::new(clients))
}

pub(crate) fn gw() -> SocketAddr {
    "192.0.2.10:40000".parse().unwrap()
}

pub(crate) fn wall() -> Time {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

pub(crate) fn secret() -> SharedSecret {
    SharedSecret::new(SECRET).unwrap()
}

/// An Access-Request with Message-Authenticator for `user` and `password`.
pub(crate) fn request(id: u8, auth: u8, user: &str, password: &str) -> Vec<u8> {
    let s = secret();
    let mut b = RequestBuilder::access_request(id, [auth; 16], &s);
    b.add_str(attr::USER_NAME, user).unwrap();
    b.add_user_password(password.as_bytes()).unwrap();
    b.add_str(attr::NAS_IDENTIFIER, "gw1").unwrap();
    b.add_str(attr::CALLING_STATION_ID, "203.0.113.7").unwrap();
    b.add(attr::PROXY_STATE, b"hop-1").unwrap();
    b.finish()
}

pub(crate) fn accepted(until: Time) -> Result<Verdict, String> {
    Ok(Verdict::Accepted {
        credential: "c1".into(),
        not_after: until,
        counted: false,
        activates: false,
        uses_left: None,
        policy: None,
    })
}

/// Decodes a reply and checks it answers `request` with our secret, Message-Authenticator first.
pub(crate) fn check_reply<'a>(reply: &'a [u8], request: &[u8]) -> PacketRef<'a> {
    let req = PacketRef::decode(request).unwrap();
    let p = PacketRef::decode(reply).unwrap();
    p.verify_response(
        req.authenticator(),
        &secret(),
        MessageAuthenticatorPolicy::Required,
    )
    .expect("a valid reply");
    assert_eq!(
        p.attributes().next().unwrap().attr_type,
        attr::MESSAGE_AUTHENTICATOR,
        "M-A first"
    );
    assert_eq!(p.identifier(), req.identifier());
    let proxy: Vec<&[u8]> = p.attributes_of(attr::PROXY_STATE).collect();
    let sent: Vec<&[u8]> = req.attributes_of(attr::PROXY_STATE).collect();
    assert_eq!(proxy, sent, "Proxy-State echoed");
    p
}
