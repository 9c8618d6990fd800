//! Tests of the authenticate and retire logic with a scripted fake PAM handler and a real
//! store in a temporary directory.

use super::*;
use crate::args::DEFAULT_PROMPT;
use chrono::TimeZone;
use sparekey_core::issue::{make_credential, IssueRequest};
use sparekey_core::store::SqliteStore;
use sparekey_core::{AuditEvent, Uses};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

const CONTACT: &str = "IT helpdesk, ext. 4357";

const POLICY: &str = r#"enabled = true
contact = "IT helpdesk, ext. 4357"

[[policy]]
name = "staff"
users = ["alice", "bob"]
services = ["sshd", "login"]
lockout = { attempts = 3, window = "15m" }
"#;

fn t0() -> Time {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
        .unwrap()
}

/// One expected exchange with the person at the prompt.
#[derive(Debug)]
enum Expect {
    /// A hidden prompt with this text, answered so (None: no answer).
    Prompt(String, Option<String>),
    /// An info message.
    Info(String),
    /// An error message.
    Error(String),
}

/// A scripted PAM transaction: items, and a queue of expected prompts and messages that must
/// be used up exactly by the time it is dropped.
struct Script {
    user: &'static str,
    service: Option<&'static str>,
    rhost: Option<&'static str>,
    authtok: Option<String>,
    conversation_fails: bool,
    expected: VecDeque<Expect>,
}

impl Script {
    fn new(user: &'static str) -> Self {
        Script {
            user,
            service: Some("sshd"),
            rhost: Some("10.0.0.5"),
            authtok: None,
            conversation_fails: false,
            expected: VecDeque::new(),
        }
    }

    fn expect(mut self, e: Expect) -> Self {
        self.expected.push_back(e);
        self
    }

    fn answer(self, code: &str) -> Self {
        self.expect(Expect::Prompt(DEFAULT_PROMPT.into(), Some(code.into())))
    }

    fn next(&mut self, what: &str) -> Expect {
        self.expected
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected {what}: the script has nothing more"))
    }

    fn message(&mut self, info: bool, text: &str) -> Result<(), HandlerError> {
        if self.conversation_fails {
            return Err(HandlerError::Conversation("scripted failure".into()));
        }
        match (self.next(text), info) {
            (Expect::Info(t), true) | (Expect::Error(t), false) => assert_eq!(text, t),
            (other, _) => panic!("expected {other:?}, got message {text:?} (info: {info})"),
        }
        Ok(())
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(
                self.expected.is_empty(),
                "never happened: {:?}",
                self.expected
            );
        }
    }
}

impl PamHandler for Script {
    fn user(&mut self) -> Result<String, HandlerError> {
        Ok(self.user.to_string())
    }
    fn service(&self) -> Option<String> {
        self.service.map(str::to_string)
    }
    fn rhost(&self) -> Option<String> {
        self.rhost.map(str::to_string)
    }
    fn tty(&self) -> Option<String> {
        Some("ssh".into())
    }
    fn ruser(&self) -> Option<String> {
        None
    }
    fn authtok(&self) -> Result<Option<Secret>, HandlerError> {
        Ok(self
            .authtok
            .as_ref()
            .map(|t| Zeroizing::new(t.as_bytes().to_vec())))
    }
    fn prompt_hidden(&mut self, prompt: &str) -> Result<Option<Secret>, HandlerError> {
        if self.conversation_fails {
            return Err(HandlerError::Conversation("scripted failure".into()));
        }
        match self.next(prompt) {
            Expect::Prompt(p, answer) => {
                assert_eq!(prompt, p);
                Ok(answer.map(|a| Zeroizing::new(a.as_bytes().to_vec())))
            }
            other => panic!("expected {other:?}, got prompt {prompt:?}"),
        }
    }
    fn info(&mut self, text: &str) -> Result<(), HandlerError> {
        self.message(true, text)
    }
    fn error(&mut self, text: &str) -> Result<(), HandlerError> {
        self.message(false, text)
    }
}

/// Syslog as lines in memory, and audit events sent to the sink.
#[derive(Default)]
struct Lines {
    lines: RefCell<Vec<String>>,
    sink: Arc<Events>,
}

#[derive(Default)]
struct Events(Mutex<Vec<AuditEvent>>);

impl AuditSink for Events {
    fn emit(&self, event: &AuditEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Log for Lines {
    fn error(&self, message: &str) {
        self.lines.borrow_mut().push(format!("error: {message}"));
    }
    fn info(&self, message: &str) {
        self.lines.borrow_mut().push(format!("info: {message}"));
    }
    fn audit_sink(&self) -> Arc<dyn AuditSink> {
        self.sink.clone()
    }
}

impl Lines {
    fn text(&self) -> String {
        self.lines.borrow().join("\n")
    }
}

/// A site in a temporary directory: sparekey.toml, policy.toml, site.key and a store.
struct Site {
    dir: tempfile::TempDir,
    log: Lines,
    now: Time,
    euid: u32,
}

impl Site {
    fn new() -> Self {
        Self::with_policy(POLICY)
    }

    fn with_policy(policy: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sparekey.toml"),
            "[store]\npath = \"state/sparekey.db\"\nkey-file = \"site.key\"\n\n[audit]\nsyslog = true\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
        let key = dir.path().join("site.key");
        std::fs::write(&key, [7u8; 32]).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        Site {
            dir,
            log: Lines::default(),
            now: t0(),
            euid: 0,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config_arg(&self) -> String {
        format!("config={}", self.path("sparekey.toml").display())
    }

    fn store(&self) -> SqliteStore {
        let key = Arc::new(SiteKey::load(&self.path("site.key")).unwrap());
        SqliteStore::open(&self.path("state/sparekey.db"), key, Arc::new(NoSink)).unwrap()
    }

    /// Issues a temporary code for `user` at t0; returns it as shown to the issuer.
    fn issue(
        &self,
        user: &str,
        uses: Uses,
        services: &[&str],
        hosts: &[&str],
        hours: u32,
    ) -> String {
        let policies = sparekey_conf::load(&self.path("sparekey.toml"))
            .unwrap()
            .policy;
        let policy = policies.policy_for(user, &[]).unwrap();
        let key = SiteKey::load(&self.path("site.key")).unwrap();
        let code = Code::generate(&policy.code).unwrap();
        let req = IssueRequest {
            lifetime: Some(sparekey_conf::Duration::from_secs(u64::from(hours) * 3600)),
            uses,
            services: services.iter().map(|s| s.to_string()).collect(),
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            ..IssueRequest::new(user, "helpdesk1")
        };
        let cred = make_credential(policy, &req, &code, &key, t0()).unwrap();
        let origin = Origin {
            actor: "helpdesk1",
            source: "test",
        };
        self.store().issue(&cred, origin).unwrap();
        code.display().to_string()
    }

    fn cx(&self) -> Context<'_> {
        Context {
            now: self.now,
            hostname: Some("pam-host"),
            euid: self.euid,
            log: &self.log,
            directory: &sparekey_core::identity::Nss,
        }
    }

    /// Runs one PAM call with `extra` arguments after config=.
    fn run(&self, script: Script, extra: &[&str]) -> Outcome {
        let mut script = script;
        let config = self.config_arg();
        let mut raw: Vec<&[u8]> = vec![config.as_bytes()];
        raw.extend(extra.iter().map(|a| a.as_bytes()));
        run(&mut script, &raw, &self.cx())
    }

    fn audit(&self, user: &str) -> Vec<AuditEvent> {
        self.store().audit(Some(user), 100).unwrap()
    }
}

fn accepted_until(t: &str) -> Expect {
    Expect::Info(format!("Temporary code accepted. It works until {t}."))
}

fn refused() -> Expect {
    Expect::Error(refused_message(CONTACT))
}

#[test]
fn no_store_means_nothing_was_issued_and_nobody_is_asked() {
    let site = Site::new();
    assert_eq!(site.run(Script::new("alice"), &["debug"]), Outcome::Ignore);
    assert!(
        site.log
            .text()
            .contains("does not exist: no code was ever issued here"),
        "{}",
        site.log.text()
    );
}

#[test]
fn users_without_a_usable_credential_here_are_not_asked() {
    let site = Site::new();
    site.issue("alice", Uses::Multi, &["login"], &[], 24);
    // bob has none, mallory is in no policy, alice's code is for login only.
    assert_eq!(site.run(Script::new("bob"), &[]), Outcome::Ignore);
    assert_eq!(site.run(Script::new("mallory"), &[]), Outcome::Ignore);
    assert_eq!(site.run(Script::new("alice"), &["debug"]), Outcome::Ignore);
    assert!(site
        .log
        .text()
        .contains("alice on sshd: not asking for a code (NoCredential)"));
    // ... and a code for another host does not count here either.
    site.issue("bob", Uses::Multi, &[], &["elsewhere"], 24);
    assert_eq!(site.run(Script::new("bob"), &[]), Outcome::Ignore);
}

#[test]
fn the_switch_off_means_nobody_is_asked() {
    let site = Site::new();
    site.issue("alice", Uses::Multi, &[], &[], 24);
    std::fs::write(
        site.path("policy.toml"),
        POLICY.replace("enabled = true", "enabled = false"),
    )
    .unwrap();
    assert_eq!(site.run(Script::new("alice"), &[]), Outcome::Ignore);
}

#[test]
fn an_empty_or_missing_answer_leaves_the_decision_to_the_next_module() {
    let site = Site::new();
    site.issue("alice", Uses::Single, &[], &[], 24);
    for answer in [Some(""), Some(" - "), None] {
        let script = Script::new("alice").expect(Expect::Prompt(
            DEFAULT_PROMPT.into(),
            answer.map(str::to_string),
        ));
        assert_eq!(site.run(script, &[]), Outcome::Ignore);
    }
    assert!(site
        .audit("alice")
        .iter()
        .all(|e| e.action == Action::Issue));
}

#[test]
fn a_single_use_code_works_once() {
    let site = Site::new();
    let code = site.issue("alice", Uses::Single, &[], &[], 24);
    let script = Script::new("alice").answer(&code).expect(Expect::Info(
        "Temporary code accepted. It cannot be used again.".into(),
    ));
    assert_eq!(site.run(script, &[]), Outcome::Success);
    // Nothing usable is left, so the next login is not even asked.
    assert_eq!(site.run(Script::new("alice"), &[]), Outcome::Ignore);
    // With another code active, the spent one is asked for and refused like a wrong one.
    site.issue("alice", Uses::Multi, &[], &[], 24);
    let script = Script::new("alice").answer(&code).expect(refused());
    assert_eq!(site.run(script, &[]), Outcome::AuthErr);
    let reasons: Vec<_> = site
        .audit("alice")
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(
        reasons.contains(&"code already used".to_string()),
        "{reasons:?}"
    );
}

#[test]
fn a_multi_use_code_works_until_it_ends_and_says_so() {
    let site = Site::new();
    let code = site.issue("alice", Uses::Multi, &[], &[], 24);
    for _ in 0..2 {
        let script = Script::new("alice")
            .answer(&code)
            .expect(accepted_until("2026-11-22 12:00 UTC"));
        assert_eq!(site.run(script, &[]), Outcome::Success);
    }
    let capped = site.issue("bob", Uses::Limited(3), &[], &[], 2);
    let script = Script::new("bob").answer(&capped).expect(Expect::Info(
        "Temporary code accepted. It works until 2026-11-21 14:00 UTC, for 2 more uses.".into(),
    ));
    assert_eq!(site.run(script, &[]), Outcome::Success);
}

#[test]
fn codes_are_typed_with_spaces_dashes_and_any_case() {
    let site = Site::new();
    let code = site.issue("alice", Uses::Multi, &[], &[], 24);
    let typed = format!(" {} ", code.replace('-', " "));
    let script = Script::new("alice")
        .answer(&typed)
        .expect(accepted_until("2026-11-22 12:00 UTC"));
    assert_eq!(site.run(script, &[]), Outcome::Success);
}

#[test]
fn wrong_expired_revoked_and_out_of_scope_codes_get_the_same_message() {
    let mut site = Site::new();
    site.issue("alice", Uses::Multi, &[], &[], 72);
    let expired = site.issue("alice", Uses::Multi, &[], &[], 1);
    let login_only = site.issue("alice", Uses::Multi, &["login"], &[], 72);
    let other_host = site.issue("alice", Uses::Multi, &[], &["elsewhere"], 72);
    let ids = |site: &Site| -> Vec<String> {
        site.store()
            .credentials(Some("alice"), None)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect()
    };
    let before = ids(&site);
    let revoked = site.issue("alice", Uses::Multi, &[], &[], 72);
    let id = ids(&site)
        .into_iter()
        .find(|id| !before.contains(id))
        .unwrap();
    let origin = Origin {
        actor: "helpdesk1",
        source: "test",
    };
    site.store()
        .revoke("alice", Some(&id), Action::Revoke, t0(), origin, None)
        .unwrap();
    site.now = t0() + chrono::Duration::hours(2);
    for code in [
        "0000000000".to_string(),
        expired,
        login_only,
        other_host,
        revoked,
    ] {
        let script = Script::new("alice").answer(&code).expect(refused());
        assert_eq!(site.run(script, &[]), Outcome::AuthErr);
        // Fresh failures window for each, so that lockout does not interfere.
        site.now += chrono::Duration::hours(1);
    }
    let mut reasons: Vec<_> = site
        .audit("alice")
        .into_iter()
        .filter(|e| e.action == Action::Failure)
        .filter_map(|e| e.reason)
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "code expired",
            "code not valid for this service",
            "code not valid on this host",
            "code revoked",
            "wrong code"
        ]
    );
}

#[test]
fn after_too_many_failures_the_user_is_told_and_not_asked() {
    let site = Site::new();
    site.issue("alice", Uses::Multi, &[], &[], 24);
    for _ in 0..3 {
        let script = Script::new("alice").answer("1111111111").expect(refused());
        assert_eq!(site.run(script, &[]), Outcome::AuthErr);
    }
    let script = Script::new("alice").expect(Expect::Error(locked_message(CONTACT)));
    assert_eq!(site.run(script, &[]), Outcome::MaxTries);
    let actions: Vec<_> = site.audit("alice").iter().map(|e| e.action).collect();
    assert!(actions.contains(&Action::Lockout), "{actions:?}");
}

#[test]
fn an_overlong_answer_is_refused_unchecked_and_uncounted() {
    let site = Site::new();
    site.issue("alice", Uses::Multi, &[], &[], 24);
    let long = "9".repeat(300);
    for _ in 0..4 {
        let script = Script::new("alice").answer(&long).expect(refused());
        assert_eq!(site.run(script, &[]), Outcome::AuthErr);
    }
    assert!(site
        .log
        .text()
        .contains("an answer of 300 bytes is longer than any code"));
    assert_eq!(
        site.store()
            .failures("alice", t0() - chrono::Duration::hours(1))
            .unwrap(),
        []
    );
}

#[test]
fn a_caller_that_is_not_root_is_refused_without_asking() {
    let mut site = Site::new();
    site.issue("alice", Uses::Multi, &[], &[], 24);
    site.euid = 1000;
    assert_eq!(site.run(Script::new("alice"), &[]), Outcome::Unavailable);
    assert!(
        site.log.text().contains("running as uid 1000, not root"),
        "{}",
        site.log.text()
    );
}

#[test]
fn an_unusable_config_key_or_store_is_unavailable_with_the_reason_in_syslog() {
    let site = Site::new();
    site.issue("alice", Uses::Multi, &[], &[], 24);

    std::fs::write(
        site.path("policy.toml"),
        "enabled = true\ncolour = \"blue\"\n",
    )
    .unwrap();
    assert_eq!(site.run(Script::new("alice"), &[]), Outcome::Unavailable);
    assert!(
        site.log
            .text()
            .contains("policy.toml:2:1: unknown field `colour`"),
        "{}",
        site.log.text()
    );
    std::fs::write(site.path("policy.toml"), POLICY).unwrap();

    let key = site.path("site.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(site.run(Script::new("alice"), &[]), Outcome::Unavailable);
    assert!(
        site.log.text().contains("fix: chmod 600"),
        "{}",
        site.log.text()
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let store = site.path("state/sparekey.db");
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(site.run(Script::new("alice"), &[]), Outcome::Unavailable);
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Replaced by something else entirely: the WAL beside it (kept between logins) goes too.
    for suffix in ["-wal", "-shm"] {
        let mut side = store.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
    std::fs::write(
        &store,
        b"this is not a database, it is a text file of some length......",
    )
    .unwrap();
    assert_eq!(site.run(Script::new("alice"), &[]), Outcome::Unavailable);
    assert!(
        site.log
            .text()
            .contains("temporary codes unavailable: store"),
        "{}",
        site.log.text()
    );
}

#[test]
fn a_missing_config_file_is_unavailable_not_ignored() {
    let site = Site::new();
    std::fs::remove_file(site.path("sparekey.toml")).unwrap();
    assert_eq!(site.run(Script::new("alice"), &[]), Outcome::Unavailable);
    assert!(
        site.log.text().contains("cannot read the file"),
        "{}",
        site.log.text()
    );
}

#[test]
fn unknown_arguments_are_a_service_error_in_syslog() {
    let site = Site::new();
    assert_eq!(
        site.run(Script::new("alice"), &["retrie"]),
        Outcome::ServiceErr
    );
    assert!(site
        .log
        .text()
        .starts_with("error: PAM configuration of service sshd: unknown argument \"retrie\""));
}

#[test]
fn use_first_pass_takes_the_token_and_never_asks() {
    let site = Site::new();
    let code = site.issue("alice", Uses::Multi, &[], &[], 24);
    let mut script = Script::new("alice").expect(accepted_until("2026-11-22 12:00 UTC"));
    script.authtok = Some(code.clone());
    assert_eq!(site.run(script, &["use_first_pass"]), Outcome::Success);
    // No token: the same as an empty answer.
    assert_eq!(
        site.run(Script::new("alice"), &["use_first_pass"]),
        Outcome::Ignore
    );
}

#[test]
fn try_first_pass_takes_the_token_or_asks() {
    let site = Site::new();
    let code = site.issue("alice", Uses::Multi, &[], &[], 24);
    let mut script = Script::new("alice").expect(accepted_until("2026-11-22 12:00 UTC"));
    script.authtok = Some(code.clone());
    assert_eq!(site.run(script, &["try_first_pass"]), Outcome::Success);
    let script = Script::new("alice")
        .expect(Expect::Prompt("Spare code: ".into(), Some(code.clone())))
        .expect(accepted_until("2026-11-22 12:00 UTC"));
    assert_eq!(
        site.run(script, &["try_first_pass", "prompt=Spare code: "]),
        Outcome::Success
    );
}

#[test]
fn service_argument_replaces_the_pam_service_name() {
    let site = Site::new();
    let code = site.issue("alice", Uses::Multi, &["login"], &[], 24);
    let script = Script::new("alice")
        .answer(&code)
        .expect(accepted_until("2026-11-22 12:00 UTC"));
    assert_eq!(site.run(script, &["service=login"]), Outcome::Success);
}

#[test]
fn a_failed_conversation_is_a_conversation_error() {
    let site = Site::new();
    site.issue("alice", Uses::Multi, &[], &[], 24);
    let mut script = Script::new("alice");
    script.conversation_fails = true;
    assert_eq!(site.run(script, &[]), Outcome::ConvErr);
}

#[test]
fn redeems_and_failures_are_audited_with_service_rhost_and_tty() {
    let site = Site::new();
    let code = site.issue("alice", Uses::Multi, &[], &[], 24);
    let script = Script::new("alice")
        .answer(&code)
        .expect(accepted_until("2026-11-22 12:00 UTC"));
    assert_eq!(site.run(script, &[]), Outcome::Success);
    let mut script = Script::new("alice").answer("1234567890").expect(refused());
    script.rhost = Some("evil host\nname");
    assert_eq!(site.run(script, &[]), Outcome::AuthErr);
    let events: Vec<_> = site.audit("alice").into_iter().skip(1).collect();
    assert_eq!(events[0].action, Action::Redeem);
    assert_eq!(events[0].service.as_deref(), Some("sshd"));
    assert_eq!(events[0].source, "pam service=sshd rhost=10.0.0.5 tty=ssh");
    assert_eq!(events[1].action, Action::Failure);
    assert_eq!(
        events[1].source,
        "pam service=sshd rhost=evil?host?name tty=ssh"
    );
    // [audit] syslog = true: the same events went to the syslog sink.
    assert_eq!(site.log.sink.0.lock().unwrap().len(), 2);
}

#[test]
fn retire_ends_temporary_codes_says_so_and_never_fails_the_login() {
    let site = Site::new();
    let code = site.issue("alice", Uses::Multi, &[], &[], 24);
    site.issue("alice", Uses::Single, &[], &[], 24);
    let script = Script::new("alice").expect(Expect::Info(RETIRED_MESSAGE.into()));
    assert_eq!(site.run(script, &["retire"]), Outcome::Ignore);
    let retired: Vec<_> = site
        .audit("alice")
        .into_iter()
        .filter(|e| e.action == Action::Retire)
        .collect();
    assert_eq!(retired.len(), 2);
    assert!(retired
        .iter()
        .all(|e| e.source == "pam service=sshd rhost=10.0.0.5 tty=ssh"
            && e.reason.as_deref() == Some(RETIRE_REASON)
            && e.actor == "alice"));
    // The codes are gone: alice is not asked any more, and a second retire has nothing to say.
    assert_eq!(site.run(Script::new("alice"), &[]), Outcome::Ignore);
    assert_eq!(site.run(Script::new("alice"), &["retire"]), Outcome::Ignore);
    let _ = code;
}

#[test]
fn retire_problems_go_to_syslog_and_the_result_stays_ignore() {
    let mut site = Site::new();
    assert_eq!(site.run(Script::new("alice"), &["retire"]), Outcome::Ignore);
    site.issue("alice", Uses::Multi, &[], &[], 24);
    site.euid = 1000;
    assert_eq!(site.run(Script::new("alice"), &["retire"]), Outcome::Ignore);
    assert!(
        site.log
            .text()
            .contains("retire: running as uid 1000, not root"),
        "{}",
        site.log.text()
    );
    assert!(!site
        .audit("alice")
        .iter()
        .any(|e| e.action == Action::Retire));
}

#[test]
fn retire_refuses_arguments_that_would_ask() {
    let site = Site::new();
    assert_eq!(
        site.run(Script::new("alice"), &["retire", "use_first_pass"]),
        Outcome::ServiceErr
    );
}

#[test]
fn source_items_are_single_words() {
    assert_eq!(clean("a b=c\"d\u{7}"), "a?b?c?d?");
    assert_eq!(clean(&"x".repeat(300)).len(), 128);
    let _ = Path::new("");
}
