//! The workers' answers with a scripted PAM check and upstream: the challenge, a refused
//! password (audited without it), PAM unable to decide, an upstream's answer relayed, a
//! silent or forged upstream.

use super::*;
use crate::clients::{ClientModes, ClientTable};
use crate::responder::Responder;
use crate::test_support::*;
use sparekey_radius_codec::{Code as PacketCode, MessageAuthenticatorPolicy};
use std::cell::RefCell;
use std::sync::Arc;

struct Pam(
    Result<(), PasswordRefusal>,
    RefCell<Vec<(String, String, Vec<u8>)>>,
);

impl PasswordChecker for Pam {
    fn check(
        &self,
        service: &str,
        user: &str,
        password: &[u8],
        _: Option<&str>,
    ) -> Result<(), PasswordRefusal> {
        self.1
            .borrow_mut()
            .push((service.into(), user.into(), password.to_vec()));
        self.0.clone()
    }
}

/// An upstream that answers with what `answer` builds from the request, or stays silent.
/// Builds the upstream's answer from the request it got.
type Answer = Box<dyn Fn(&[u8]) -> Vec<u8>>;

struct Link(Option<Answer>);

impl UpstreamLink for Link {
    fn exchange(
        &self,
        _: &Upstream,
        request: &[u8],
        accept: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.as_ref().map(|f| f(request)).filter(|r| accept(r)))
    }
}

const UPSTREAM_SECRET: &[u8] = b"the-upstream-secret-0123";

fn modes_snapshot(mode: sparekey_conf::ClientMode) -> Snapshot {
    let mut c = client(
        "vpn-gw",
        "192.0.2.0/24",
        MessageAuthenticatorPolicy::Required,
    );
    c.modes = ClientModes {
        mode,
        primary_pam_service: "sk-radius".into(),
        challenge_prompt: "Temporary code: ".into(),
        append_delimiter: ",".into(),
        upstream: Some("mfa".into()),
        accounting: false,
    };
    let upstream = Upstream::for_tests("mfa", SharedSecret::new(UPSTREAM_SECRET).unwrap());
    let clients = ClientTable::new(vec![c]).with_upstreams(vec![upstream]);
    Snapshot::new(config(), Arc::new(clients))
}

/// The first round of `user` through a responder of `snap`: what it handed on.
fn hand_on(
    snap: &Snapshot,
    tables: &Arc<ModeTables>,
    user: &str,
    password: &str,
    usable: bool,
) -> Deferred {
    use std::sync::atomic::{AtomicU8, Ordering};
    // Each request a new one (another Identifier and authenticator).
    static NEXT: AtomicU8 = AtomicU8::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut script = Script::default();
    if !usable {
        script.usable = sparekey_core::decision::Availability::NoCredential;
    }
    let mut r = Responder::new(script).with_tables(tables.clone());
    let now = Instant::now();
    let req = request(id, id, user, password);
    assert!(
        r.handle(snap, &req, gw(), now, wall(), &|_| {}).is_none(),
        "answered later"
    );
    // Its retransmit meanwhile: dropped, not handed on twice.
    assert!(r.handle(snap, &req, gw(), now, wall(), &|_| {}).is_none());
    assert_eq!(r.stats.in_progress, 1);
    let mut handed: Vec<Deferred> = r.take_deferred().collect();
    assert_eq!(handed.len(), 1);
    handed.pop().unwrap()
}

fn finisher(
    pam: Result<(), PasswordRefusal>,
    link: Link,
    tables: &Arc<ModeTables>,
) -> Finisher<Script, Pam, Link> {
    Finisher {
        verifier: Script::default(),
        checker: Pam(pam, RefCell::new(Vec::new())),
        link,
        tables: tables.clone(),
    }
}

fn random() -> Option<[u8; 16]> {
    Some([7; 16])
}

#[test]
fn a_right_password_gets_a_challenge_with_a_bound_state() {
    let snap = modes_snapshot(sparekey_conf::ClientMode::Challenge);
    let tables = Arc::new(ModeTables::default());
    let job = hand_on(&snap, &tables, "alice", "alice-pw", true);
    let (key, request_bytes) = (job.key, job.datagram.clone());
    let mut f = finisher(Ok(()), Link(None), &tables);
    let reply = f
        .finish(&snap, job, Instant::now(), &mut random, &|_| {})
        .expect("a challenge");
    let p = check_reply(&reply, &request_bytes);
    assert_eq!(p.code(), PacketCode::AccessChallenge);
    assert_eq!(
        p.attribute(attr::REPLY_MESSAGE),
        Some(&b"Temporary code: "[..])
    );
    assert_eq!(p.attribute(attr::PROXY_STATE), Some(&b"hop-1"[..]));
    let state = p.attribute(attr::STATE).unwrap();
    assert!(crate::state_table::StateTable::is_ours(state));
    assert_eq!(
        f.checker.1.borrow()[0],
        ("sk-radius".into(), "alice".into(), b"alice-pw".to_vec())
    );
    // Its retransmit gets the same answer.
    assert_eq!(
        tables.pending.get(&key, Instant::now()),
        crate::pending::Pending::Answered(reply.clone())
    );
    let binding = Binding {
        client: "vpn-gw".into(),
        source: gw().ip(),
        user: "alice".into(),
    };
    assert_eq!(tables.states.take(state, &binding, Instant::now()), Ok(()));
}

#[test]
fn a_refused_password_is_rejected_and_audited_without_it() {
    let snap = modes_snapshot(sparekey_conf::ClientMode::Challenge);
    let tables = Arc::new(ModeTables::default());
    let job = hand_on(&snap, &tables, "alice", "guess-1", true);
    let request_bytes = job.datagram.clone();
    let mut f = finisher(
        Err(PasswordRefusal::Refused(
            "Authentication failure (PAM_AUTH_ERR)".into(),
        )),
        Link(None),
        &tables,
    );
    let reply = f
        .finish(&snap, job, Instant::now(), &mut random, &|_| {})
        .expect("a reject");
    assert_eq!(
        check_reply(&reply, &request_bytes).code(),
        PacketCode::AccessReject
    );
    let event = &f.verifier.recorded[0];
    assert_eq!(event.action, sparekey_core::Action::PasswordRefused);
    let reason = event.reason.as_deref().unwrap();
    assert!(
        reason.contains("PAM_AUTH_ERR") && !reason.contains("guess-1"),
        "{reason}"
    );
    assert!(tables.states.is_empty());
}

#[test]
fn pam_unable_to_decide_or_no_randomness_gets_no_answer() {
    let snap = modes_snapshot(sparekey_conf::ClientMode::Challenge);
    let tables = Arc::new(ModeTables::default());
    let job = hand_on(&snap, &tables, "alice", "alice-pw", true);
    let key = job.key;
    let mut f = finisher(
        Err(PasswordRefusal::Unavailable("PAM_MODULE_UNKNOWN".into())),
        Link(None),
        &tables,
    );
    assert!(f
        .finish(&snap, job, Instant::now(), &mut random, &|_| {})
        .is_none());
    assert_eq!(
        tables.pending.get(&key, Instant::now()),
        crate::pending::Pending::New,
        "a retransmit starts afresh"
    );
    let job = hand_on(&snap, &tables, "alice", "alice-pw", true);
    let mut f = finisher(Ok(()), Link(None), &tables);
    assert!(f
        .finish(&snap, job, Instant::now(), &mut || None, &|_| {})
        .is_none());
    assert!(tables.states.is_empty(), "never a State from no randomness");
}

#[test]
fn an_upstream_answer_is_relayed_and_a_silent_or_forged_one_is_not() {
    let snap = modes_snapshot(sparekey_conf::ClientMode::Challenge);
    let tables = Arc::new(ModeTables::default());
    let answer = |secret: &'static [u8]| -> Answer {
        Box::new(move |request: &[u8]| {
            let req = PacketRef::decode(request).unwrap();
            let s = SharedSecret::new(secret).unwrap();
            let mut b = ReplyBuilder::accept(&req, &s);
            b.add_str(attr::REPLY_MESSAGE, "MFA ok").unwrap();
            b.copy_proxy_state(&req).unwrap();
            b.finish()
        })
    };
    // bob has no code here: his request goes to the upstream.
    let job = hand_on(&snap, &tables, "bob", "bob-pw", false);
    assert!(job.is_upstream());
    let request_bytes = job.datagram.clone();
    let mut f = finisher(Ok(()), Link(Some(answer(UPSTREAM_SECRET))), &tables);
    let reply = f
        .finish(&snap, job, Instant::now(), &mut random, &|_| {})
        .expect("relayed");
    let p = check_reply(&reply, &request_bytes);
    assert_eq!(p.code(), PacketCode::AccessAccept);
    assert_eq!(p.attribute(attr::REPLY_MESSAGE), Some(&b"MFA ok"[..]));
    assert_eq!(
        f.verifier.recorded[0].action,
        sparekey_core::Action::Forward
    );
    assert!(
        f.checker.1.borrow().is_empty(),
        "no PAM check for the upstream's users"
    );
    // Signed with another secret: not taken as the answer.
    let job = hand_on(&snap, &tables, "bob", "bob-pw", false);
    let mut f = finisher(Ok(()), Link(Some(answer(b"someone-else-secret"))), &tables);
    assert!(f
        .finish(&snap, job, Instant::now(), &mut random, &|_| {})
        .is_none());
    // Silent.
    let job = hand_on(&snap, &tables, "bob", "bob-pw", false);
    let mut f = finisher(Ok(()), Link(None), &tables);
    let lines = RefCell::new(Vec::new());
    assert!(f
        .finish(&snap, job, Instant::now(), &mut random, &|l| lines
            .borrow_mut()
            .push(l.to_string()))
        .is_none());
    assert!(
        lines.borrow()[0].contains("no answer from upstream mfa"),
        "{:?}",
        lines.borrow()
    );
}
