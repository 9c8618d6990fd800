//! A NAS's Access-Request by its client's `mode`: code-only (the User-Password is the code),
//! challenge (a password, then a code with sparekeyd's State) and append (password,
//! delimiter, code); and which requests go to the client's upstream instead. What needs a
//! password checked through PAM or an upstream's answer is handed on as a [`Deferred`].

use super::{accept, code_request, reject, source, user_name, Arrival, Built, Responder, Snapshot};
use crate::clients::RadiusClient;
use crate::dedup::RequestKey;
use crate::deferred::{Deferred, Work};
use crate::state_table::{Binding, StateTable};
use crate::verifier::{retransmit_key, CodeRequest, Verifier};
use sparekey_conf::ClientMode;
use sparekey_core::decision::Availability;
use sparekey_core::{Code, Time, Verdict};
use sparekey_radius_codec::{attr, Error as WireError, PacketRef, SharedSecret};
use zeroize::Zeroizing;

/// How a code check came out, for the caller's counters and log.
pub(crate) enum Checked {
    /// Accepted.
    Accepted(Result<Vec<u8>, WireError>),
    /// Refused.
    Rejected(Result<Vec<u8>, WireError>),
    /// The store or NSS failed: no answer, and why.
    Failed(String),
}

/// Checks `code` for `user` from `client` and builds the answer: Access-Accept with the
/// policy's reply attributes, or Access-Reject.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_code<V: Verifier>(
    verifier: &mut V,
    snap: &Snapshot,
    client: &RadiusClient,
    secret: &SharedSecret,
    packet: &PacketRef<'_>,
    from: std::net::SocketAddr,
    wall: Time,
    user: &str,
    code: &Code,
) -> Checked {
    let source = source::describe(&client.name, packet);
    let key = retransmit_key(
        &client.name,
        from,
        packet.identifier(),
        packet.authenticator(),
    );
    let request = CodeRequest {
        user,
        service: &client.service,
        host: None,
        source: &source,
        code,
        retransmit_key: &key,
        replay_window: snap.config.daemon.radius.replay_window.get_ref().as_secs(),
    };
    match verifier.verify(&snap.config.policy, &request, wall) {
        Ok(Verdict::Accepted {
            not_after, policy, ..
        }) => {
            let replies = policy
                .as_deref()
                .and_then(|name| snap.config.policy.by_name(name))
                .map_or(&[][..], |p| &p.reply[..]);
            Checked::Accepted(accept(secret, packet, not_after, wall, replies))
        }
        // The precise reason is in the audit log, written by the store.
        Ok(Verdict::Rejected(_)) => Checked::Rejected(reject(snap, secret, packet)),
        Err(e) => Checked::Failed(format!(
            "no answer to user {}: {e}",
            source::printable(user.as_bytes())
        )),
    }
}

impl<V: Verifier> Responder<V> {
    /// The answer to a verified Access-Request of a NAS (not a member host).
    pub(super) fn answer_nas(
        &mut self,
        snap: &Snapshot,
        client: &RadiusClient,
        secret: &SharedSecret,
        packet: &PacketRef<'_>,
        key: RequestKey,
        at: &Arrival<'_>,
    ) -> Built {
        match client.modes.mode {
            ClientMode::CodeOnly => {
                if client.modes.upstream.is_some()
                    && !self.has_usable_code(snap, client, packet, at)?
                {
                    return self.defer(client, packet, key, at, Work::Upstream);
                }
                self.answer_code(snap, client, secret, packet, at)
            }
            ClientMode::Challenge => self.answer_challenge(snap, client, secret, packet, key, at),
            ClientMode::Append => self.answer_append(snap, client, secret, packet, key, at),
        }
    }

    /// Code-only: the User-Password is the code.
    pub(super) fn answer_code(
        &mut self,
        snap: &Snapshot,
        client: &RadiusClient,
        secret: &SharedSecret,
        packet: &PacketRef<'_>,
        at: &Arrival<'_>,
    ) -> Built {
        let (user, code) = match code_request(secret, packet) {
            Ok(found) => found,
            Err(why) => return self.refuse(snap, client, secret, packet, at, &why),
        };
        let checked = check_code(
            &mut self.verifier,
            snap,
            client,
            secret,
            packet,
            at.from,
            at.wall,
            &user,
            &code,
        );
        self.checked(client, at, checked)
    }

    fn checked(&mut self, client: &RadiusClient, at: &Arrival<'_>, checked: Checked) -> Built {
        match checked {
            Checked::Accepted(reply) => {
                self.stats.accepted += 1;
                Some(reply)
            }
            Checked::Rejected(reply) => {
                self.stats.rejected += 1;
                Some(reply)
            }
            Checked::Failed(why) => {
                self.note(client, at, &why);
                None
            }
        }
    }

    /// An Access-Reject without asking the store, and why in the log.
    fn refuse(
        &mut self,
        snap: &Snapshot,
        client: &RadiusClient,
        secret: &SharedSecret,
        packet: &PacketRef<'_>,
        at: &Arrival<'_>,
        why: &str,
    ) -> Built {
        self.stats.rejected += 1;
        self.note(
            client,
            at,
            &format!("Access-Reject without asking the store: {why}"),
        );
        Some(reject(snap, secret, packet))
    }

    /// Challenge mode: a second round carries a State (sparekeyd's: the code; another's:
    /// the upstream's round); a first round carries the password.
    fn answer_challenge(
        &mut self,
        snap: &Snapshot,
        client: &RadiusClient,
        secret: &SharedSecret,
        packet: &PacketRef<'_>,
        key: RequestKey,
        at: &Arrival<'_>,
    ) -> Built {
        if let Some(state) = packet.attribute(attr::STATE) {
            if !StateTable::is_ours(state) {
                if client.modes.upstream.is_some() {
                    return self.defer(client, packet, key, at, Work::Upstream);
                }
                return self.refuse(
                    snap,
                    client,
                    secret,
                    packet,
                    at,
                    "a State that is not sparekeyd's, and this client has no upstream",
                );
            }
            let user = match user_name(packet) {
                Ok(u) => u,
                Err(why) => return self.refuse(snap, client, secret, packet, at, &why),
            };
            let binding = Binding {
                client: client.name.clone(),
                source: at.from.ip(),
                user: user.to_string(),
            };
            if let Err(refusal) = self.modes.states.take(state, &binding, at.now) {
                let why = format!(
                    "{} (user {})",
                    refusal.describe(),
                    source::printable(user.as_bytes())
                );
                return self.refuse(snap, client, secret, packet, at, &why);
            }
            return self.answer_code(snap, client, secret, packet, at);
        }
        if !self.has_usable_code(snap, client, packet, at)? {
            return self.elsewhere(snap, client, secret, packet, key, at);
        }
        let (user, password) = match password_request(secret, packet) {
            Ok(found) => found,
            Err(why) => return self.refuse(snap, client, secret, packet, at, &why),
        };
        self.defer(
            client,
            packet,
            key,
            at,
            Work::Password {
                user,
                password,
                code: None,
            },
        )
    }

    /// Append mode: password, delimiter and code in one User-Password (the last delimiter
    /// splits them).
    fn answer_append(
        &mut self,
        snap: &Snapshot,
        client: &RadiusClient,
        secret: &SharedSecret,
        packet: &PacketRef<'_>,
        key: RequestKey,
        at: &Arrival<'_>,
    ) -> Built {
        if !self.has_usable_code(snap, client, packet, at)? {
            return self.elsewhere(snap, client, secret, packet, key, at);
        }
        let (user, whole) = match password_request(secret, packet) {
            Ok(found) => found,
            Err(why) => return self.refuse(snap, client, secret, packet, at, &why),
        };
        let delimiter = client.modes.append_delimiter.as_bytes();
        let Some(split) = rfind(&whole, delimiter) else {
            let why = format!(
                "the User-Password of {} has no {:?} between password and code (append-delimiter)",
                source::printable(user.as_bytes()),
                client.modes.append_delimiter
            );
            return self.refuse(snap, client, secret, packet, at, &why);
        };
        let code = match Code::from_input(&whole[split + delimiter.len()..]) {
            Ok(c) => c,
            Err(e) => {
                let why = format!(
                    "what follows the last {:?} in the User-Password of {} is not a code: {e}",
                    client.modes.append_delimiter,
                    source::printable(user.as_bytes())
                );
                return self.refuse(snap, client, secret, packet, at, &why);
            }
        };
        let password = Zeroizing::new(whole[..split].to_vec());
        self.defer(
            client,
            packet,
            key,
            at,
            Work::Password {
                user,
                password,
                code: Some(code),
            },
        )
    }

    /// A user without a usable code here: the upstream answers, or nobody does.
    fn elsewhere(
        &mut self,
        snap: &Snapshot,
        client: &RadiusClient,
        secret: &SharedSecret,
        packet: &PacketRef<'_>,
        key: RequestKey,
        at: &Arrival<'_>,
    ) -> Built {
        if client.modes.upstream.is_some() {
            return self.defer(client, packet, key, at, Work::Upstream);
        }
        let why = "no usable code for this user here, and this client has no upstream";
        self.refuse(snap, client, secret, packet, at, why)
    }

    /// Whether the request's user has a code usable through this client now (from the
    /// cache, as a member host's probe). The outer `None`: the store failed (no answer).
    fn has_usable_code(
        &mut self,
        snap: &Snapshot,
        client: &RadiusClient,
        packet: &PacketRef<'_>,
        at: &Arrival<'_>,
    ) -> Option<bool> {
        let Ok(user) = user_name(packet) else {
            return Some(false);
        };
        let source = source::describe(&client.name, packet);
        match self
            .verifier
            .usable(&snap.config.policy, user, &client.service, &source, at.wall)
        {
            Ok(a) => Some(a == Availability::Usable),
            Err(e) => {
                self.note(
                    client,
                    at,
                    &format!(
                        "no answer to user {}: {e}",
                        source::printable(user.as_bytes())
                    ),
                );
                None
            }
        }
    }

    /// Hands the request on (answered by a worker, which sends the reply itself). A
    /// retransmit meanwhile is dropped ([`crate::pending`]).
    fn defer(
        &mut self,
        client: &RadiusClient,
        packet: &PacketRef<'_>,
        key: RequestKey,
        at: &Arrival<'_>,
        work: Work,
    ) -> Built {
        if !self.modes.pending.start(key, at.now) {
            self.note(
                client,
                at,
                "dropped: the table of requests handed to a password check or an upstream (and of their answers, kept 5 s for retransmits) is full",
            );
            return None;
        }
        self.stats.deferred += 1;
        self.deferred.push(Deferred {
            key,
            from: at.from,
            client: client.name.clone(),
            datagram: packet.as_bytes().to_vec(),
            work,
            wall: at.wall,
        });
        None
    }
}

/// The User-Name and User-Password (the whole of it, zeroed when dropped) of a verified
/// Access-Request, or why there are none.
fn password_request(
    secret: &SharedSecret,
    packet: &PacketRef<'_>,
) -> Result<(String, Zeroizing<Vec<u8>>), String> {
    let user = user_name(packet)?;
    let shown = source::printable(user.as_bytes());
    let password = packet
        .user_password(secret)
        .map_err(|e| format!("User-Password of {shown}: {e}"))?
        .ok_or_else(|| {
            format!(
                "no User-Password for {shown} (only PAP carries a password sparekeyd can check)"
            )
        })?;
    Ok((
        user.to_string(),
        Zeroizing::new(password.as_bytes().to_vec()),
    ))
}

/// Where `needle` last starts in `hay`.
fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len())
        .rev()
        .find(|&i| &hay[i..i + needle.len()] == needle)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_last_delimiter_splits() {
        assert_eq!(super::rfind(b"pa,ss,123456", b","), Some(5));
        assert_eq!(super::rfind(b"nothing", b","), None);
        assert_eq!(super::rfind(b"x::y", b"::"), Some(1));
        assert_eq!(super::rfind(b"", b","), None);
    }
}
