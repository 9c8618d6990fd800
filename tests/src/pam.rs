//! Driving real libpam under pam_wrapper from tests: a directory of PAM service files, and a
//! child process (the test binary itself, re-executed for its `pam_child` test with
//! pam_wrapper and nss_wrapper preloaded) that runs one transaction through libpam's API
//! with a scripted conversation and reports return codes and every message it was shown.
//!
//! A test file that uses [`run`] must contain
//! `#[test] fn pam_child() { sparekey_tests::pam::child_main() }`.

use crate::bins;
use crate::site::{nss_wrapper, Site};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The test the child process runs.
pub const CHILD_TEST: &str = "pam_child";
const TRANSACTION_VAR: &str = "SPAREKEY_PAM_TRANSACTION";
const RESULT_VAR: &str = "SPAREKEY_PAM_RESULT";

/// libpam return codes the tests look at.
pub const PAM_SUCCESS: i32 = 0;
/// PAM_SERVICE_ERR.
pub const PAM_SERVICE_ERR: i32 = 3;
/// PAM_PERM_DENIED (libpam's answer when no module decided).
pub const PAM_PERM_DENIED: i32 = 6;
/// PAM_AUTH_ERR.
pub const PAM_AUTH_ERR: i32 = 7;
/// PAM_AUTHINFO_UNAVAIL.
pub const PAM_AUTHINFO_UNAVAIL: i32 = 9;
/// PAM_MAXTRIES.
pub const PAM_MAXTRIES: i32 = 11;
/// PAM_IGNORE.
pub const PAM_IGNORE: i32 = 25;
/// PAM_ABORT.
pub const PAM_ABORT: i32 = 26;

/// Message styles.
pub const PAM_PROMPT_ECHO_OFF: i32 = 1;
/// PAM_PROMPT_ECHO_ON.
pub const PAM_PROMPT_ECHO_ON: i32 = 2;
/// PAM_ERROR_MSG.
pub const PAM_ERROR_MSG: i32 = 3;
/// PAM_TEXT_INFO.
pub const PAM_TEXT_INFO: i32 = 4;

const PAM_CONV_ERR: c_int = 19;
const PAM_RHOST: c_int = 4;
const PAM_TTY: c_int = 3;
const PAM_RUSER: c_int = 8;
const PAM_ESTABLISH_CRED: c_int = 0x0002;
const PAM_SILENT: c_int = 0x8000;

/// libpam_wrapper.so, if installed.
pub fn pam_wrapper() -> Option<PathBuf> {
    lib_candidates("libpam_wrapper.so").find(|p| p.exists())
}

/// The directory of the system's PAM modules (pam_permit.so, pam_deny.so, ...).
pub fn security_dir() -> PathBuf {
    lib_candidates("security")
        .find(|p| p.join("pam_permit.so").exists())
        .expect("no PAM module directory with pam_permit.so")
}

fn lib_candidates(name: &str) -> impl Iterator<Item = PathBuf> + '_ {
    [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/usr/lib",
        "/lib",
    ]
    .into_iter()
    .map(move |d| Path::new(d).join(name))
}

/// Why PAM tests cannot run here, if they cannot: they need root (the module refuses other
/// callers), pam_wrapper and nss_wrapper.
pub fn unavailable() -> Option<String> {
    if !crate::site::is_root() {
        return Some("not root".into());
    }
    if pam_wrapper().is_none() || nss_wrapper().is_none() {
        return Some("pam_wrapper or nss_wrapper is not installed (apt-get install libpam-wrapper libnss-wrapper)".into());
    }
    None
}

/// Skips the calling test with a clear message when PAM tests cannot run here.
#[macro_export]
macro_rules! require_pam {
    () => {
        if let Some(why) = $crate::pam::unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// A directory of PAM service files for pam_wrapper, removed on drop.
#[derive(Debug)]
pub struct Services {
    dir: tempfile::TempDir,
    sparekey: String,
}

impl Services {
    /// A service directory whose `{sparekey}` stands for pam_sparekey.so with `config=` of `site`.
    pub fn new(site: &Site) -> Self {
        let dir = tempfile::tempdir().expect("service dir");
        std::fs::write(
            dir.path().join("other"),
            format!("auth required {}/pam_deny.so\n", security_dir().display()),
        )
        .unwrap();
        let sparekey = format!(
            "{} config={}",
            bins::pam_module().display(),
            site.config.display()
        );
        Services { dir, sparekey }
    }

    /// Writes the service file `name`. In `stack`, `{sparekey}` becomes the module's path and
    /// config argument, and `{sec}` the system's module directory.
    pub fn add(&self, name: &str, stack: &str) -> &Self {
        let text = stack
            .replace("{sparekey}", &self.sparekey)
            .replace("{sec}", &security_dir().display().to_string());
        std::fs::write(self.dir.path().join(name), text).unwrap();
        self
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// One PAM transaction for the child process to run.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// The PAM service (file name in the service directory).
    pub service: String,
    /// The user.
    pub user: String,
    /// Answers to prompts, in order; a prompt with no answer left fails the conversation.
    pub answers: Vec<String>,
    /// PAM_RHOST.
    pub rhost: Option<String>,
    /// PAM_TTY.
    pub tty: Option<String>,
    /// PAM_RUSER.
    pub ruser: Option<String>,
    /// Whether to call pam_setcred(PAM_ESTABLISH_CRED) after a successful pam_authenticate.
    pub setcred: bool,
    /// Whether to pass PAM_SILENT to pam_authenticate.
    pub silent: bool,
    /// Extra environment of the child process, e.g. PAM_AUTHTOK for pam_wrapper's
    /// pam_set_items, which copies such variables into PAM items.
    pub env: Vec<(String, String)>,
}

impl Transaction {
    /// `user` logging in to `service` from 10.0.0.5 over ssh, answering `answers`.
    pub fn new(service: &str, user: &str, answers: &[&str]) -> Self {
        Transaction {
            service: service.into(),
            user: user.into(),
            answers: answers.iter().map(|a| a.to_string()).collect(),
            rhost: Some("10.0.0.5".into()),
            tty: Some("ssh".into()),
            ruser: None,
            setcred: false,
            silent: false,
            env: Vec::new(),
        }
    }

    fn to_json(&self) -> String {
        json!({
            "service": self.service, "user": self.user, "answers": self.answers,
            "rhost": self.rhost, "tty": self.tty, "ruser": self.ruser,
            "setcred": self.setcred, "silent": self.silent,
        })
        .to_string()
    }

    fn from_json(text: &str) -> Self {
        let v: Value = serde_json::from_str(text).expect("transaction JSON");
        let s = |k: &str| v[k].as_str().map(str::to_string);
        let list = |k: &str| {
            v[k].as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect()
        };
        Transaction {
            service: s("service").unwrap(),
            user: s("user").unwrap(),
            answers: list("answers"),
            rhost: s("rhost"),
            tty: s("tty"),
            ruser: s("ruser"),
            setcred: v["setcred"].as_bool().unwrap_or(false),
            silent: v["silent"].as_bool().unwrap_or(false),
            env: Vec::new(),
        }
    }
}

/// What the child saw.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// pam_authenticate's return code.
    pub rc: i32,
    /// pam_setcred's, when asked for and authentication succeeded.
    pub setcred: Option<i32>,
    /// Every (style, text) the conversation was given, in order.
    pub messages: Vec<(i32, String)>,
    /// Answers the stack never asked for.
    pub unused_answers: usize,
    /// The child's stderr, apart from the test harness's own lines.
    pub stderr: String,
}

impl Outcome {
    /// The prompts shown (hidden or echoed).
    pub fn prompts(&self) -> Vec<&str> {
        self.with_style(&[PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON])
    }

    /// The error messages shown.
    pub fn errors(&self) -> Vec<&str> {
        self.with_style(&[PAM_ERROR_MSG])
    }

    /// The info messages shown.
    pub fn infos(&self) -> Vec<&str> {
        self.with_style(&[PAM_TEXT_INFO])
    }

    fn with_style(&self, styles: &[i32]) -> Vec<&str> {
        self.messages
            .iter()
            .filter(|(s, _)| styles.contains(s))
            .map(|(_, m)| m.as_str())
            .collect()
    }
}

/// The command that runs `t` in a child process against `services` and `site`'s users. Add a
/// prefix (setpriv) with [`Command::new`] of your own and [`child_args`] if needed.
pub fn command(site: &Site, services: &Services, t: &Transaction, result: &Path) -> Command {
    let exe = std::env::current_exe().expect("test binary");
    let mut cmd = Command::new(exe);
    cmd.args(child_args());
    child_env(&mut cmd, site, services, t, result);
    cmd
}

/// The arguments that make the test binary run only its child test.
pub fn child_args() -> [&'static str; 5] {
    [
        CHILD_TEST,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ]
}

/// Sets the environment of a child PAM process.
pub fn child_env(
    cmd: &mut Command,
    site: &Site,
    services: &Services,
    t: &Transaction,
    result: &Path,
) {
    let preload = format!(
        "{} {}",
        pam_wrapper().unwrap().display(),
        nss_wrapper().unwrap().display()
    );
    cmd.envs(site.nss_env())
        .env("LD_PRELOAD", preload)
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", services.path())
        .envs(t.env.iter().map(|(k, v)| (k, v)))
        .env(TRANSACTION_VAR, t.to_json())
        .env(RESULT_VAR, result);
}

/// Holds off other PAM children of this test process while it lives. pam_wrapper copies a
/// service directory to /tmp/pam.X, and children of two tests starting together can end up
/// reading each other's copy (another test's site: a silent wrong result) or fail to make
/// one (see [`wrapper_failed`]). Children of one test share a directory, so a test that
/// starts many at once holds this for all of them.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `t` in a child process and returns what it saw.
pub fn run(site: &Site, services: &Services, t: &Transaction) -> Outcome {
    let _one_at_a_time = exclusive();
    run_locked(site, services, t)
}

/// [`run`] for a caller that already holds [`exclusive`].
pub fn run_locked(site: &Site, services: &Services, t: &Transaction) -> Outcome {
    for attempt in 0..WRAPPER_RETRIES {
        let result = result_file();
        let out = command(site, services, t, result.path())
            .output()
            .expect("run the PAM child");
        if !wrapper_failed(&out) {
            return outcome(&out, result.path());
        }
        std::thread::sleep(std::time::Duration::from_millis(20 * (attempt as u64 + 1)));
    }
    panic!("pam_wrapper failed to set up its directory {WRAPPER_RETRIES} times in a row");
}

/// How often a child is started again when pam_wrapper itself failed to start.
pub const WRAPPER_RETRIES: usize = 10;

/// Whether pam_wrapper failed to set itself up in the child. pam_wrapper 1.1.4 copies the
/// service directory to /tmp/pam.X (X one of 62 letters) and, when several processes start
/// at once, two may race for the same stale X; the loser prints PWRAP_ERROR and runs with
/// the system's real PAM configuration. Such a run says nothing about sparekey: its result
/// is thrown away and the child started again (the race itself is pam_wrapper's, not ours).
pub fn wrapper_failed(out: &std::process::Output) -> bool {
    String::from_utf8_lossy(&out.stderr).contains("PWRAP_ERROR")
}

/// A file the child (perhaps as nobody) can write its result to.
pub fn result_file() -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().expect("result file");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o666)).unwrap();
    f
}

/// Reads the child's result; panics with its output if it did not finish its transaction.
pub fn outcome(out: &std::process::Output, result: &Path) -> Outcome {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let text = std::fs::read_to_string(result).unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
        panic!(
            "the PAM child wrote no result ({}):\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        )
    });
    let messages = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m[0].as_i64().unwrap() as i32,
                m[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    Outcome {
        rc: v["rc"].as_i64().unwrap() as i32,
        setcred: v["setcred"].as_i64().map(|c| c as i32),
        messages,
        unused_answers: v["unused_answers"].as_u64().unwrap() as usize,
        stderr,
    }
}

/// The body of the `pam_child` test: runs the transaction in the environment, if any.
pub fn child_main() {
    let Ok(spec) = std::env::var(TRANSACTION_VAR) else {
        return; // Not re-executed by a PAM test: nothing to do.
    };
    let result = std::env::var(RESULT_VAR).expect("result path");
    let t = Transaction::from_json(&spec);
    let (rc, setcred, conv) = transact(&t);
    let v = json!({
        "rc": rc,
        "setcred": setcred,
        "messages": conv.messages.iter().map(|(s, m)| json!([s, m])).collect::<Vec<_>>(),
        "unused_answers": conv.answers.len(),
    });
    std::fs::write(result, v.to_string()).expect("write result");
}

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn =
    extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;

#[repr(C)]
struct PamConv {
    conv: ConvFn,
    appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
extern "C" {
    fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_setcred(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
}

/// The conversation's state: answers still to give and everything shown.
struct Conversation {
    answers: VecDeque<String>,
    messages: Vec<(i32, String)>,
}

/// Answers prompts from the queue and records every message. Never unwinds.
extern "C" fn converse(
    n: c_int,
    msgs: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    if n <= 0 || msgs.is_null() || resp.is_null() || appdata.is_null() {
        return PAM_CONV_ERR;
    }
    let n = n as usize;
    // SAFETY: appdata is the &mut Conversation that transact() passed to pam_start and keeps
    // alive until pam_end; libpam calls the conversation from that thread only.
    let conv = unsafe { &mut *(appdata as *mut Conversation) };
    // SAFETY: calloc of n zeroed responses; libpam (or the module) frees them with free().
    let replies =
        unsafe { nix::libc::calloc(n, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    if replies.is_null() {
        return PAM_CONV_ERR;
    }
    for i in 0..n {
        // SAFETY: Linux-PAM passes an array of n pointers to messages, valid for this call.
        let m = unsafe { &**msgs.add(i) };
        let text = if m.msg.is_null() {
            String::new()
        } else {
            // SAFETY: a non-null message is a NUL-terminated string owned by the caller.
            unsafe { CStr::from_ptr(m.msg) }
                .to_string_lossy()
                .into_owned()
        };
        conv.messages.push((m.msg_style, text));
        if m.msg_style == PAM_PROMPT_ECHO_OFF || m.msg_style == PAM_PROMPT_ECHO_ON {
            let Some(answer) = conv.answers.pop_front() else {
                for j in 0..i {
                    // SAFETY: entries before i were filled by strdup below (or are null).
                    unsafe { nix::libc::free((*replies.add(j)).resp as *mut c_void) };
                }
                // SAFETY: allocated above with calloc.
                unsafe { nix::libc::free(replies as *mut c_void) };
                return PAM_CONV_ERR;
            };
            let c = CString::new(answer).unwrap_or_default();
            // SAFETY: i < n, inside the calloc'd array; strdup copies into malloc'd memory
            // that the receiver frees.
            unsafe { (*replies.add(i)).resp = nix::libc::strdup(c.as_ptr()) };
        }
    }
    // SAFETY: resp is the caller's out-pointer, checked non-null above.
    unsafe { *resp = replies };
    0
}

/// Runs one transaction through libpam: pam_start, items, pam_authenticate, maybe
/// pam_setcred, pam_end.
fn transact(t: &Transaction) -> (i32, Option<i32>, Conversation) {
    let mut conv = Conversation {
        answers: t.answers.iter().cloned().collect(),
        messages: Vec::new(),
    };
    let pam_conv = PamConv {
        conv: converse,
        appdata_ptr: &mut conv as *mut Conversation as *mut c_void,
    };
    let service = CString::new(t.service.as_str()).unwrap();
    let user = CString::new(t.user.as_str()).unwrap();
    let mut pamh: *mut c_void = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated strings and a conversation struct that outlive pam_end.
    let rc = unsafe { pam_start(service.as_ptr(), user.as_ptr(), &pam_conv, &mut pamh) };
    assert_eq!(rc, PAM_SUCCESS, "pam_start failed");
    for (item, value) in [
        (PAM_RHOST, &t.rhost),
        (PAM_TTY, &t.tty),
        (PAM_RUSER, &t.ruser),
    ] {
        if let Some(v) = value {
            let v = CString::new(v.as_str()).unwrap();
            // SAFETY: pamh is live; libpam copies the string.
            let rc = unsafe { pam_set_item(pamh, item, v.as_ptr() as *const c_void) };
            assert_eq!(rc, PAM_SUCCESS);
        }
    }
    // SAFETY: pamh is live.
    let rc = unsafe { pam_authenticate(pamh, if t.silent { PAM_SILENT } else { 0 }) };
    let setcred = (t.setcred && rc == PAM_SUCCESS).then(|| {
        // SAFETY: pamh is live.
        unsafe { pam_setcred(pamh, PAM_ESTABLISH_CRED) }
    });
    // SAFETY: pamh is live and not used after this.
    unsafe { pam_end(pamh, rc) };
    (rc, setcred, conv)
}

/// Asserts the result code, the prompts and the messages of one transaction, that every
/// answer was asked for, and that nothing panicked.
#[track_caller]
pub fn check(o: &Outcome, rc: i32, prompts: &[&str], errors: &[&str], infos: &[&str]) {
    assert_eq!(o.rc, rc, "{o:#?}");
    assert_eq!(o.prompts(), prompts, "{o:#?}");
    assert_eq!(o.errors(), errors, "{o:#?}");
    assert_eq!(o.infos(), infos, "{o:#?}");
    assert_eq!(o.unused_answers, 0, "{o:#?}");
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
}
