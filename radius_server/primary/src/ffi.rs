//! The C side: the libpam functions this crate calls, the C library's allocator (libpam
//! frees what the conversation returns), the types they take, and Linux-PAM's constants.

use std::ffi::{c_char, c_int, c_uint, c_void};

/// libpam's `pam_handle_t`, only ever behind a pointer.
#[repr(C)]
pub(crate) struct PamHandle {
    _opaque: [u8; 0],
}

/// `struct pam_message`.
#[repr(C)]
pub(crate) struct PamMessage {
    pub msg_style: c_int,
    pub msg: *const c_char,
}

/// `struct pam_response`; `resp` is malloc'd by the conversation and freed by its receiver.
#[repr(C)]
pub(crate) struct PamResponse {
    pub resp: *mut c_char,
    pub resp_retcode: c_int,
}

/// The conversation function of `struct pam_conv`. Linux-PAM passes `msg` as an array of
/// `num_msg` pointers to messages.
pub(crate) type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

/// `struct pam_conv`.
#[repr(C)]
pub(crate) struct PamConv {
    pub conv: Option<ConvFn>,
    pub appdata_ptr: *mut c_void,
}

/// The function of the PAM_FAIL_DELAY item: (status, delay in microseconds, appdata_ptr).
pub(crate) type FailDelayFn = extern "C" fn(c_int, c_uint, *mut c_void);

#[link(name = "pam")]
extern "C" {
    pub(crate) fn pam_start(
        service_name: *const c_char,
        user: *const c_char,
        pam_conversation: *const PamConv,
        pamh: *mut *mut PamHandle,
    ) -> c_int;
    pub(crate) fn pam_set_item(
        pamh: *mut PamHandle,
        item_type: c_int,
        item: *const c_void,
    ) -> c_int;
    pub(crate) fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub(crate) fn pam_acct_mgmt(pamh: *mut PamHandle, flags: c_int) -> c_int;
    pub(crate) fn pam_end(pamh: *mut PamHandle, pam_status: c_int) -> c_int;
    pub(crate) fn pam_strerror(pamh: *mut PamHandle, errnum: c_int) -> *const c_char;
}

// The C library's allocator, which libpam and its modules free the answers with.
extern "C" {
    pub(crate) fn calloc(nmemb: usize, size: usize) -> *mut c_void;
    pub(crate) fn malloc(size: usize) -> *mut c_void;
    pub(crate) fn free(ptr: *mut c_void);
}

// Return codes (security/_pam_types.h).
pub(crate) const PAM_SUCCESS: c_int = 0;
pub(crate) const PAM_OPEN_ERR: c_int = 1;
pub(crate) const PAM_SYMBOL_ERR: c_int = 2;
pub(crate) const PAM_SERVICE_ERR: c_int = 3;
pub(crate) const PAM_SYSTEM_ERR: c_int = 4;
pub(crate) const PAM_BUF_ERR: c_int = 5;
pub(crate) const PAM_PERM_DENIED: c_int = 6;
pub(crate) const PAM_AUTH_ERR: c_int = 7;
pub(crate) const PAM_CRED_INSUFFICIENT: c_int = 8;
pub(crate) const PAM_AUTHINFO_UNAVAIL: c_int = 9;
pub(crate) const PAM_USER_UNKNOWN: c_int = 10;
pub(crate) const PAM_MAXTRIES: c_int = 11;
pub(crate) const PAM_NEW_AUTHTOK_REQD: c_int = 12;
pub(crate) const PAM_ACCT_EXPIRED: c_int = 13;
pub(crate) const PAM_CONV_ERR: c_int = 19;
pub(crate) const PAM_IGNORE: c_int = 25;
pub(crate) const PAM_ABORT: c_int = 26;
pub(crate) const PAM_AUTHTOK_EXPIRED: c_int = 27;
pub(crate) const PAM_MODULE_UNKNOWN: c_int = 28;

// Flags.
pub(crate) const PAM_SILENT: c_int = 0x8000;
pub(crate) const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x0001;

// Items.
pub(crate) const PAM_RHOST: c_int = 4;
pub(crate) const PAM_FAIL_DELAY: c_int = 10;

// Message styles, and the most messages one conversation call may carry.
pub(crate) const PAM_PROMPT_ECHO_OFF: c_int = 1;
pub(crate) const PAM_PROMPT_ECHO_ON: c_int = 2;
pub(crate) const PAM_ERROR_MSG: c_int = 3;
pub(crate) const PAM_TEXT_INFO: c_int = 4;
pub(crate) const PAM_MAX_NUM_MSG: c_int = 32;

/// The symbolic name of a return code, for messages an administrator can search for.
pub(crate) fn code_name(code: c_int) -> &'static str {
    match code {
        PAM_SUCCESS => "PAM_SUCCESS",
        PAM_OPEN_ERR => "PAM_OPEN_ERR",
        PAM_SYMBOL_ERR => "PAM_SYMBOL_ERR",
        PAM_SERVICE_ERR => "PAM_SERVICE_ERR",
        PAM_SYSTEM_ERR => "PAM_SYSTEM_ERR",
        PAM_BUF_ERR => "PAM_BUF_ERR",
        PAM_PERM_DENIED => "PAM_PERM_DENIED",
        PAM_AUTH_ERR => "PAM_AUTH_ERR",
        PAM_CRED_INSUFFICIENT => "PAM_CRED_INSUFFICIENT",
        PAM_AUTHINFO_UNAVAIL => "PAM_AUTHINFO_UNAVAIL",
        PAM_USER_UNKNOWN => "PAM_USER_UNKNOWN",
        PAM_MAXTRIES => "PAM_MAXTRIES",
        PAM_NEW_AUTHTOK_REQD => "PAM_NEW_AUTHTOK_REQD",
        PAM_ACCT_EXPIRED => "PAM_ACCT_EXPIRED",
        PAM_CONV_ERR => "PAM_CONV_ERR",
        PAM_IGNORE => "PAM_IGNORE",
        PAM_ABORT => "PAM_ABORT",
        PAM_AUTHTOK_EXPIRED => "PAM_AUTHTOK_EXPIRED",
        PAM_MODULE_UNKNOWN => "PAM_MODULE_UNKNOWN",
        _ => "another PAM code",
    }
}
