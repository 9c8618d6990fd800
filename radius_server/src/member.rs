//! The responder's side of the member protocol (see [`sparekey_radius_codec::member`]):
//! which host a request comes from, and the answers to its three questions (whether to
//! prompt, a code, a retire).

use super::{source, user_name, Arrival, Responder, Snapshot};
use crate::clients::RadiusClient;
use crate::verifier::{
    retransmit_key, CodeRequest, MemberHost, MemberLogin, OfflineReport, Verifier,
};
use sparekey_core::decision::Availability;
use sparekey_core::host::check_name;
use sparekey_core::{Code, Reason, Verdict};
use sparekey_radius_codec::member::{self, vsa, Op, Refusal};
use sparekey_radius_codec::{attr, Error as WireError, PacketRef, ReplyBuilder};

type Built = Option<Result<Vec<u8>, WireError>>;

impl<V: Verifier> Responder<V> {
    /// The enrolled (or revoked) host that `packet`'s NAS-Identifier names, with its secret;
    /// `None` (dropped, logged) when it names none or the store cannot say.
    pub(super) fn member_peer(
        &mut self,
        client: &RadiusClient,
        packet: &PacketRef<'_>,
        at: &Arrival<'_>,
    ) -> Option<MemberHost> {
        let name = packet
            .attribute(attr::NAS_IDENTIFIER)
            .and_then(|n| std::str::from_utf8(n).ok())
            .filter(|n| check_name(n).is_ok());
        let Some(name) = name else {
            self.stats.unknown_host += 1;
            let shown = packet
                .attribute(attr::NAS_IDENTIFIER)
                .map_or_else(|| "none".into(), source::printable);
            self.note(client, at, &format!("dropped: a member host names itself in NAS-Identifier, and this request's ({shown}) is not a host name"));
            return None;
        };
        match self.verifier.member_host(name, at.wall) {
            Ok(Some(host)) => Some(host),
            Ok(None) => {
                self.stats.unknown_host += 1;
                self.note(client, at, &format!("dropped: no member host {name:?} is enrolled (sparekeyctl host enroll {name})"));
                None
            }
            Err(e) => {
                self.stats.errors += 1;
                self.note(
                    client,
                    at,
                    &format!("dropped a request of member host {name:?}: {e}"),
                );
                None
            }
        }
    }

    /// The answer to a verified Access-Request of member host `host`; `None` when nothing
    /// should be sent (a malformed request, or the store failed: the host then says
    /// PAM_AUTHINFO_UNAVAIL).
    pub(super) fn answer_member(
        &mut self,
        snap: &Snapshot,
        client: &RadiusClient,
        host: &MemberHost,
        packet: &PacketRef<'_>,
        at: &Arrival<'_>,
    ) -> Built {
        self.verifier.host_seen(&host.name, at.wall);
        if host.revoked {
            self.stats.rejected += 1;
            self.note(client, at, &format!("refused member host {:?}: it was revoked (sparekeyctl host list); enroll it again to make a new host file", host.name));
            return Some(refuse(host, packet, Refusal::HostRefused));
        }
        let asked = match MemberRequest::read(packet) {
            Ok(r) => r,
            Err(why) => {
                self.stats.malformed += 1;
                self.note(
                    client,
                    at,
                    &format!("dropped a request of member host {:?}: {why}", host.name),
                );
                return None;
            }
        };
        let source = asked.source(&host.name, &client.name);
        let login = MemberLogin {
            user: asked.user,
            service: asked.service,
            host: &host.name,
            source: &source,
        };
        let failed = |me: &mut Self, e: crate::Error| -> Built {
            let user = source::printable(login.user.as_bytes());
            me.note(
                client,
                at,
                &format!(
                    "no answer to user {user} on member host {:?}: {e}",
                    host.name
                ),
            );
            None
        };
        match asked.op {
            Op::Probe => match self
                .verifier
                .availability(&snap.config.policy, &login, at.wall)
            {
                Ok(Availability::Usable) => Some(challenge(host, packet)),
                Ok(Availability::LockedOut) => Some(refuse(host, packet, Refusal::LockedOut)),
                Ok(_) => Some(refuse(host, packet, Refusal::NothingHere)),
                Err(e) => failed(self, e),
            },
            Op::Report => {
                let (Some(when), Some(until)) = (
                    member::vendor_u32(packet, vsa::OFFLINE_AT),
                    member::vendor_u32(packet, vsa::OFFLINE_UNTIL),
                ) else {
                    self.stats.malformed += 1;
                    self.note(
                        client,
                        at,
                        &format!(
                            "dropped a report of member host {:?} without its times",
                            host.name
                        ),
                    );
                    return None;
                };
                // Free text from the host: only the module's own words are kept as they are.
                let what = match member::vendor_attribute(packet, vsa::OFFLINE_WHAT) {
                    Some(w @ (b"response accepted" | b"accepted response used again")) => {
                        String::from_utf8_lossy(w).into_owned()
                    }
                    Some(other) => source::printable(other),
                    None => "-".into(),
                };
                let report = OfflineReport {
                    at: i64::from(when),
                    until: i64::from(until),
                    what: &what,
                };
                match self.verifier.record_offline(&login, &report, at.wall) {
                    Ok(()) => Some(recorded(host, packet)),
                    Err(e) => failed(self, e),
                }
            }
            Op::Retire => match self.verifier.retire(&login, at.wall) {
                Ok(ended) => Some(retired(host, packet, ended)),
                Err(e) => failed(self, e),
            },
            Op::Code => {
                let password = match packet.user_password(&host.secret) {
                    Ok(Some(p)) => p,
                    Ok(None) | Err(_) => {
                        self.stats.malformed += 1;
                        self.note(client, at, &format!("dropped a code request of member host {:?} without a readable User-Password", host.name));
                        return None;
                    }
                };
                let Ok(code) = Code::from_input(password.as_bytes()) else {
                    // Empty or longer than any code: refused unchecked, as PAM does.
                    self.stats.rejected += 1;
                    return Some(refuse(host, packet, Refusal::Refused));
                };
                let key = retransmit_key(
                    &client.name,
                    at.from,
                    packet.identifier(),
                    packet.authenticator(),
                );
                let request = CodeRequest {
                    user: login.user,
                    service: login.service,
                    host: Some(login.host),
                    source: login.source,
                    code: &code,
                    retransmit_key: &key,
                    replay_window: snap.config.daemon.radius.replay_window.get_ref().as_secs(),
                };
                match self.verifier.verify(&snap.config.policy, &request, at.wall) {
                    Ok(Verdict::Accepted {
                        not_after,
                        counted,
                        uses_left,
                        ..
                    }) => {
                        self.stats.accepted += 1;
                        let left = if counted { uses_left } else { None };
                        Some(accepted(host, packet, not_after, left))
                    }
                    Ok(Verdict::Rejected(reason)) => {
                        self.stats.rejected += 1;
                        Some(refuse(host, packet, refusal_of(reason)))
                    }
                    Err(e) => failed(self, e),
                }
            }
        }
    }
}

/// The PAM result a refusal stands for, as the single-host module maps it.
fn refusal_of(reason: Reason) -> Refusal {
    match reason {
        Reason::LockedOut => Refusal::LockedOut,
        Reason::Disabled | Reason::NotEligible => Refusal::NothingHere,
        _ => Refusal::Refused,
    }
}

/// An Access-Challenge: yes, ask the user for a code.
fn challenge(host: &MemberHost, packet: &PacketRef<'_>) -> Result<Vec<u8>, WireError> {
    let mut b = ReplyBuilder::challenge(packet, &host.secret);
    b.copy_proxy_state(packet)?;
    Ok(b.finish())
}

/// The Access-Accept of a report: recorded.
fn recorded(host: &MemberHost, packet: &PacketRef<'_>) -> Result<Vec<u8>, WireError> {
    let mut b = ReplyBuilder::accept(packet, &host.secret);
    b.copy_proxy_state(packet)?;
    Ok(b.finish())
}

/// The Access-Accept of a retire, with how many credentials it ended.
fn retired(host: &MemberHost, packet: &PacketRef<'_>, ended: usize) -> Result<Vec<u8>, WireError> {
    let n = u32::try_from(ended).unwrap_or(u32::MAX);
    let mut b = ReplyBuilder::accept(packet, &host.secret);
    b.add_vendor(vsa::ENDED, &n.to_be_bytes())?
        .copy_proxy_state(packet)?;
    Ok(b.finish())
}

/// The Access-Accept of a code: until when it works, and its uses left when counted.
fn accepted(
    host: &MemberHost,
    packet: &PacketRef<'_>,
    not_after: sparekey_core::Time,
    uses_left: Option<u32>,
) -> Result<Vec<u8>, WireError> {
    let until = u32::try_from(not_after.timestamp()).unwrap_or(u32::MAX);
    let mut b = ReplyBuilder::accept(packet, &host.secret);
    b.add_vendor(vsa::NOT_AFTER, &until.to_be_bytes())?;
    if let Some(left) = uses_left {
        b.add_vendor(vsa::USES_LEFT, &left.to_be_bytes())?;
    }
    b.copy_proxy_state(packet)?;
    Ok(b.finish())
}

/// An Access-Reject saying which refusal it is.
fn refuse(
    host: &MemberHost,
    packet: &PacketRef<'_>,
    refusal: Refusal,
) -> Result<Vec<u8>, WireError> {
    let mut b = ReplyBuilder::reject(packet, &host.secret);
    b.add_vendor(vsa::REFUSAL, &refusal.as_u32().to_be_bytes())?
        .copy_proxy_state(packet)?;
    Ok(b.finish())
}

/// What a member host's request asks, as read from its attributes.
struct MemberRequest<'p> {
    op: Op,
    user: &'p str,
    service: &'p str,
    rhost: Option<&'p [u8]>,
    tty: Option<&'p [u8]>,
    ruser: Option<&'p [u8]>,
}

impl<'p> MemberRequest<'p> {
    fn read(packet: &PacketRef<'p>) -> Result<Self, String> {
        let op = member::vendor_u32(packet, vsa::OP)
            .ok_or("no sparekey op attribute (a member host's request says what it asks)")?;
        let op = Op::from_u32(op).ok_or_else(|| {
            format!("sparekey op {op} is not one of 1 (probe), 2 (code), 3 (retire), 4 (report)")
        })?;
        let user = user_name(packet)?;
        let service = member::vendor_attribute(packet, vsa::SERVICE)
            .and_then(|s| std::str::from_utf8(s).ok())
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or("no PAM service attribute, or one that is not a service name")?;
        Ok(MemberRequest {
            op,
            user,
            service,
            rhost: packet.attribute(attr::CALLING_STATION_ID),
            tty: member::vendor_attribute(packet, vsa::TTY),
            ruser: member::vendor_attribute(packet, vsa::RUSER),
        })
    }

    /// The audit source, as a PAM login's with the host and the client in front:
    /// `pam host=host-a service=sshd rhost=10.0.0.5 tty=ssh ruser=bob client=members`.
    fn source(&self, host: &str, client: &str) -> String {
        let mut s = format!(
            "pam host={} service={}",
            source::printable(host.as_bytes()),
            source::printable(self.service.as_bytes())
        );
        for (name, value) in [
            ("rhost", self.rhost),
            ("tty", self.tty),
            ("ruser", self.ruser),
        ] {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                s.push_str(&format!(" {name}={}", source::printable(v)));
            }
        }
        s.push_str(&format!(" client={}", source::printable(client.as_bytes())));
        s
    }
}
