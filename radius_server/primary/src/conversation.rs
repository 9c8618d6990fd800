//! The conversation libpam calls back into: every hidden prompt is answered with the password,
//! messages are ignored, and anything else fails the conversation (and so the check).

use crate::ffi::{
    calloc, free, malloc, PamConv, PamMessage, PamResponse, PAM_CONV_ERR, PAM_ERROR_MSG,
    PAM_MAX_NUM_MSG, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_SUCCESS, PAM_TEXT_INFO,
};
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use zeroize::Zeroize;

/// What the conversation answers with, and why it last refused to answer.
pub(crate) struct Conversation<'a> {
    /// The password; checked to hold no NUL byte before the transaction starts.
    password: &'a [u8],
    /// Set when the stack asked something a password check cannot answer.
    unanswerable: Cell<Option<String>>,
}

impl<'a> Conversation<'a> {
    pub(crate) fn new(password: &'a [u8]) -> Self {
        Conversation {
            password,
            unanswerable: Cell::new(None),
        }
    }

    /// The `struct pam_conv` for pam_start. It points at `self`, which must outlive the
    /// transaction (the lifetime of [`crate::transaction::Transaction`] sees to that).
    pub(crate) fn pam_conv(&self) -> PamConv {
        PamConv {
            conv: Some(converse),
            appdata_ptr: self as *const Self as *mut c_void,
        }
    }

    /// Why the conversation refused to answer, if it did.
    pub(crate) fn take_unanswerable(&self) -> Option<String> {
        self.unanswerable.take()
    }
}

/// The conversation function. It never unwinds into libpam: a panic becomes PAM_CONV_ERR
/// (and every answer made so far is zeroed and freed on the way out).
///
/// # Safety
/// libpam calls it, during pam_authenticate or pam_acct_mgmt, with `appdata_ptr` from
/// [`Conversation::pam_conv`] and Linux-PAM's arguments: `msg` an array of `num_msg`
/// pointers to messages, `resp` where to put the answers.
unsafe extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int {
    let answered = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's contract is this function's.
        unsafe { answer(num_msg, msg, resp, appdata_ptr) }
    }));
    answered.unwrap_or(PAM_CONV_ERR)
}

/// The body of [`converse`], with the same contract.
unsafe fn answer(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int {
    if msg.is_null() || resp.is_null() || appdata_ptr.is_null() {
        return PAM_CONV_ERR;
    }
    // SAFETY: appdata_ptr is the `&Conversation` of pam_conv(), alive for the whole
    // transaction; libpam calls the conversation on the thread that called it, so nothing
    // else uses the Conversation meanwhile (and it is only read, or written through a Cell).
    let conv = unsafe { &*(appdata_ptr as *const Conversation<'_>) };
    if !(1..=PAM_MAX_NUM_MSG).contains(&num_msg) {
        conv.unanswerable.set(Some(format!(
            "the stack sent {num_msg} messages in one conversation call"
        )));
        return PAM_CONV_ERR;
    }
    let n = num_msg as usize; // 1..=32
    let Some(mut answers) = Answers::new(n, conv.password.len()) else {
        return PAM_CONV_ERR;
    };
    for i in 0..n {
        // SAFETY: Linux-PAM passes an array of num_msg message pointers, valid for this call.
        let m = unsafe { *msg.add(i) };
        if m.is_null() {
            return PAM_CONV_ERR;
        }
        // SAFETY: a non-null message pointer from libpam points at a message valid for this call.
        let m = unsafe { &*m };
        match m.msg_style {
            PAM_PROMPT_ECHO_OFF => {
                if answers.set_password(i, conv.password).is_none() {
                    return PAM_CONV_ERR;
                }
            }
            PAM_ERROR_MSG | PAM_TEXT_INFO => {} // No answer (a null resp) and nobody to show it to.
            PAM_PROMPT_ECHO_ON => {
                // SAFETY: the message text is null or a NUL-terminated string valid for this call.
                let prompt = unsafe { text(m.msg) };
                conv.unanswerable.set(Some(format!(
                    "the stack asked a visible question ({prompt:?}), which a password check cannot answer"
                )));
                return PAM_CONV_ERR;
            }
            style => {
                conv.unanswerable.set(Some(format!(
                    "the stack sent a message of style {style}, which a password check cannot answer"
                )));
                return PAM_CONV_ERR;
            }
        }
    }
    // SAFETY: resp is the caller's out-pointer, checked non-null above; from here the caller
    // owns the answers and frees them.
    unsafe { *resp = answers.hand_over() };
    PAM_SUCCESS
}

/// At most 200 characters of a message's text, for a diagnostic.
///
/// # Safety
/// `p` is null or a NUL-terminated string valid for the call.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the caller's contract.
    let text = unsafe { CStr::from_ptr(p) }.to_string_lossy();
    text.chars().take(200).collect()
}

/// A calloc'd array of responses being filled. Until [`Answers::hand_over`], dropping it
/// (an early return, a panic) zeroes every password copy in it and frees them and the array.
struct Answers {
    array: *mut PamResponse,
    n: usize,
    /// The length of every answer (all are the password).
    len: usize,
}

impl Answers {
    /// `n` empty responses, or None when out of memory.
    fn new(n: usize, len: usize) -> Option<Self> {
        // SAFETY: calloc with a small count (1..=32) and the size of a response; the memory is
        // zeroed, so every resp starts null and every resp_retcode 0.
        let array = unsafe { calloc(n, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
        (!array.is_null()).then_some(Answers { array, n, len })
    }

    /// Puts a fresh malloc'd NUL-terminated copy of `password` in response `i`.
    fn set_password(&mut self, i: usize, password: &[u8]) -> Option<()> {
        if i >= self.n || password.len() != self.len {
            return None;
        }
        let size = password.len().checked_add(1)?;
        // SAFETY: malloc of a non-zero size.
        let copy = unsafe { malloc(size) } as *mut u8;
        if copy.is_null() {
            return None;
        }
        // SAFETY: copy has room for len + 1 bytes and does not overlap the password; i < n is
        // inside the array. A response already set (the same index twice cannot happen, but)
        // would be zeroed and freed first rather than leaked.
        unsafe {
            std::ptr::copy_nonoverlapping(password.as_ptr(), copy, password.len());
            *copy.add(password.len()) = 0;
            let slot = &mut (*self.array.add(i)).resp;
            wipe(*slot, self.len);
            *slot = copy as *mut c_char;
        }
        Some(())
    }

    /// The array, now the receiver's to free (libpam or the module zeroes and frees answers).
    fn hand_over(self) -> *mut PamResponse {
        let array = self.array;
        std::mem::forget(self);
        array
    }
}

impl Drop for Answers {
    fn drop(&mut self) {
        for i in 0..self.n {
            // SAFETY: i < n is inside the array, whose responses are null or set by
            // set_password (len + 1 bytes from malloc).
            unsafe { wipe((*self.array.add(i)).resp, self.len) };
        }
        // SAFETY: the array came from calloc and was not handed over.
        unsafe { free(self.array as *mut c_void) };
    }
}

/// Zeroes and frees an answer of `len` bytes (and its NUL), if `p` is not null.
///
/// # Safety
/// `p` is null or a malloc'd block of at least `len + 1` bytes, not used afterwards.
unsafe fn wipe(p: *mut c_char, len: usize) {
    if p.is_null() {
        return;
    }
    // SAFETY: the caller's contract: len + 1 writable bytes.
    unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len + 1) }.zeroize();
    // SAFETY: malloc'd, and not used after this.
    unsafe { free(p as *mut c_void) };
}

#[cfg(test)]
#[path = "conversation_tests.rs"]
mod tests;
