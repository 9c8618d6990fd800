//! sparekey-pam-bench: the cost of a PAM authentication with pam_sparekey against pam_permit.
//!
//! Runs pam_start + pam_authenticate + pam_end in this one process, alternately for a
//! service whose stack is pam_sparekey (answering its prompt with a valid multi-use code)
//! and for one whose stack is pam_permit, and reports the median and p99 of each and the
//! median cost pam_sparekey adds. It must run under pam_wrapper, which the environment
//! has to load before the process starts:
//!
//! ```text
//! LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=DIR \
//!     sparekey-pam-bench --service sk-bench --baseline permit-bench --user pamuser --code 12345-67890
//! ```
//!
//! pam_sparekey accepts only root callers, so this runs as root. The FFI and conversation
//! are those of tests/src/pam.rs, reduced to what a benchmark needs.

use clap::Parser;
use serde_json::json;
use sparekey_bench::stats::Summary;
use std::ffi::{c_char, c_int, c_void, CString};
use std::process::ExitCode;
use std::time::Instant;

const PAM_SUCCESS: c_int = 0;
const PAM_CONV_ERR: c_int = 19;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;

#[derive(Debug, Parser)]
#[command(
    name = "sparekey-pam-bench",
    version,
    about = "pam_start + pam_authenticate + pam_end with pam_sparekey against pam_permit, under pam_wrapper"
)]
struct Args {
    /// The PAM service whose stack holds pam_sparekey.
    #[arg(long)]
    service: String,
    /// The PAM service to compare with (its stack: pam_permit).
    #[arg(long)]
    baseline: String,
    /// The user logging in.
    #[arg(long)]
    user: String,
    /// The answer to every prompt: a valid multi-use code.
    #[arg(long)]
    code: String,
    /// Measured authentications per service.
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    /// Authentications per service before measuring.
    #[arg(long, default_value_t = 50)]
    warmup: usize,
    /// Stop measuring after this many seconds even if fewer iterations were done.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// A name for this run, copied into the JSON.
    #[arg(long, default_value = "")]
    label: String,
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
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
}

/// Answers every prompt with the code (appdata: a NUL-terminated C string); other messages
/// get no answer. Never unwinds.
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
    // SAFETY: calloc of n zeroed responses; libpam (or the module) frees them with free().
    let replies =
        unsafe { nix::libc::calloc(n, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    if replies.is_null() {
        return PAM_CONV_ERR;
    }
    for i in 0..n {
        // SAFETY: Linux-PAM passes an array of n pointers to messages, valid for this call.
        let style = unsafe { (**msgs.add(i)).msg_style };
        if style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON {
            // SAFETY: appdata is the CString pointer authenticate() passed to pam_start,
            // alive until pam_end; strdup copies it into malloc'd memory that the receiver
            // frees; i < n is inside the calloc'd array.
            unsafe { (*replies.add(i)).resp = nix::libc::strdup(appdata as *const c_char) };
        }
    }
    // SAFETY: resp is the caller's out-pointer, checked non-null above.
    unsafe { *resp = replies };
    0
}

/// One pam_start + pam_authenticate + pam_end; returns pam_authenticate's result.
fn authenticate(service: &CString, user: &CString, code: &CString) -> Result<c_int, String> {
    let conv = PamConv {
        conv: converse,
        appdata_ptr: code.as_ptr() as *mut c_void,
    };
    let mut pamh: *mut c_void = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated strings and a conversation struct that outlive pam_end.
    let rc = unsafe { pam_start(service.as_ptr(), user.as_ptr(), &conv, &mut pamh) };
    if rc != PAM_SUCCESS {
        return Err(format!("pam_start failed with {rc}"));
    }
    // SAFETY: pamh is live.
    let rc = unsafe { pam_authenticate(pamh, 0) };
    // SAFETY: pamh is live and not used after this.
    unsafe { pam_end(pamh, rc) };
    Ok(rc)
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sparekey-pam-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    if std::env::var("PAM_WRAPPER").as_deref() != Ok("1")
        || std::env::var_os("PAM_WRAPPER_SERVICE_DIR").is_none()
        || !std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("pam_wrapper"))
    {
        return Err("run under pam_wrapper: LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=DIR (this never uses the machine's /etc/pam.d)".into());
    }
    let c = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let (service, baseline, user, code) = (
        c(&args.service)?,
        c(&args.baseline)?,
        c(&args.user)?,
        c(&args.code)?,
    );
    let mut with_module = Vec::with_capacity(args.iterations);
    let mut without = Vec::with_capacity(args.iterations);
    // The first authentication of each kind in this process: it loads the module.
    let mut first = (0u64, 0u64);
    let started = Instant::now();
    for i in 0..args.warmup + args.iterations {
        if started.elapsed().as_secs() >= args.max_seconds && !with_module.is_empty() {
            eprintln!(
                "sparekey-pam-bench: stopped after {} s with {} iterations measured",
                args.max_seconds,
                with_module.len()
            );
            break;
        }
        // Alternate, so that drift in the machine's load hits both alike.
        let t = Instant::now();
        let rc = authenticate(&baseline, &user, &code)?;
        let base = t.elapsed();
        if rc != PAM_SUCCESS {
            return Err(format!(
                "service {} returned {rc}, expected PAM_SUCCESS (0)",
                args.baseline
            ));
        }
        let t = Instant::now();
        let rc = authenticate(&service, &user, &code)?;
        let module = t.elapsed();
        if rc != PAM_SUCCESS {
            return Err(format!(
                "service {} returned {rc}, expected PAM_SUCCESS (0): is the code valid and multi-use, the caller root?",
                args.service
            ));
        }
        if i == 0 {
            first = (module.as_nanos() as u64, base.as_nanos() as u64);
        }
        if i >= args.warmup {
            without.push(base.as_nanos() as u64);
            with_module.push(module.as_nanos() as u64);
        }
    }
    let m = Summary::of(&mut with_module);
    let b = Summary::of(&mut without);
    let us = |ns: u64| ns as f64 / 1000.0;
    let added = us(m.p50) - us(b.p50);
    if args.json {
        println!(
            "{}",
            json!({
                "label": args.label,
                "iterations": m.count,
                "service": args.service,
                "baseline": args.baseline,
                "module_us": {"p50": us(m.p50), "p99": us(m.p99), "mean": m.mean / 1000.0, "max": us(m.max)},
                "baseline_us": {"p50": us(b.p50), "p99": us(b.p99), "mean": b.mean / 1000.0, "max": us(b.max)},
                "added_median_us": added,
                "added_p99_us": us(m.p99) - us(b.p99),
                "first_module_us": us(first.0),
                "first_baseline_us": us(first.1),
            })
        );
    } else {
        println!(
            "PAM, {} authentications each: pam_sparekey median {:.0} us p99 {:.0} us; pam_permit median {:.0} us p99 {:.0} us; added median {:.0} us",
            m.count,
            us(m.p50),
            us(m.p99),
            us(b.p50),
            us(b.p99),
            added
        );
    }
    Ok(ExitCode::SUCCESS)
}
