//! One libpam transaction, pam_start to pam_end: its handle, the items set on it, and the
//! status pam_end is given.

use crate::conversation::Conversation;
use crate::ffi::{
    pam_acct_mgmt, pam_authenticate, pam_end, pam_set_item, pam_start, pam_strerror, FailDelayFn,
    PamConv, PamHandle, PAM_FAIL_DELAY, PAM_SUCCESS,
};
use std::ffi::{c_int, c_uint, c_void, CStr};
use std::marker::PhantomData;

/// A live PAM handle; dropping it calls pam_end with the last step's status.
pub(crate) struct Transaction<'c> {
    pamh: *mut PamHandle,
    /// What pam_end is told: the result of the last step.
    last: c_int,
    /// libpam keeps a pointer to the conversation, which must outlive pam_end.
    _conversation: PhantomData<&'c Conversation<'c>>,
}

impl<'c> Transaction<'c> {
    /// pam_start for `service` and `user` with `conversation`; Err is pam_start's code.
    pub(crate) fn start(
        service: &CStr,
        user: &CStr,
        conversation: &'c Conversation<'c>,
    ) -> Result<Self, c_int> {
        let conv: PamConv = conversation.pam_conv();
        let mut pamh: *mut PamHandle = std::ptr::null_mut();
        // SAFETY: NUL-terminated strings and a pam_conv that libpam copies (its appdata_ptr,
        // the conversation, lives for 'c, past pam_end); pamh is a valid out-pointer.
        let rc = unsafe { pam_start(service.as_ptr(), user.as_ptr(), &conv, &mut pamh) };
        if rc != PAM_SUCCESS || pamh.is_null() {
            // On failure Linux-PAM has freed the handle itself: there is nothing to end.
            return Err(if rc == PAM_SUCCESS {
                crate::ffi::PAM_BUF_ERR
            } else {
                rc
            });
        }
        Ok(Transaction {
            pamh,
            last: PAM_SUCCESS,
            _conversation: PhantomData,
        })
    }

    /// pam_set_item of a string item; libpam copies it.
    pub(crate) fn set_text(&mut self, item: c_int, value: &CStr) -> c_int {
        // SAFETY: pamh is live; value is a NUL-terminated string that libpam copies.
        unsafe { pam_set_item(self.pamh, item, value.as_ptr() as *const c_void) }
    }

    /// Sets PAM_FAIL_DELAY to a function that does not wait (see [`no_delay`]).
    pub(crate) fn set_no_fail_delay(&mut self) -> c_int {
        let f: FailDelayFn = no_delay;
        // SAFETY: pamh is live; PAM_FAIL_DELAY takes a function pointer of this type, which
        // stays valid (it is a function of this library) for the life of the handle.
        unsafe { pam_set_item(self.pamh, PAM_FAIL_DELAY, f as *const c_void) }
    }

    /// pam_authenticate.
    pub(crate) fn authenticate(&mut self, flags: c_int) -> c_int {
        // SAFETY: pamh is live, and the conversation it calls lives for 'c.
        self.last = unsafe { pam_authenticate(self.pamh, flags) };
        self.last
    }

    /// pam_acct_mgmt.
    pub(crate) fn acct_mgmt(&mut self, flags: c_int) -> c_int {
        // SAFETY: as for authenticate.
        self.last = unsafe { pam_acct_mgmt(self.pamh, flags) };
        self.last
    }

    /// pam_strerror's text for `code`.
    pub(crate) fn strerror(&self, code: c_int) -> String {
        strerror(self.pamh, code)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        // SAFETY: pamh is live and not used after this. pam_end's own result says nothing
        // the caller could act on: the check's answer is already decided.
        unsafe { pam_end(self.pamh, self.last) };
    }
}

/// pam_strerror's text for `code`. `pamh` may be null (after a failed pam_start): Linux-PAM
/// does not look at it.
pub(crate) fn strerror(pamh: *mut PamHandle, code: c_int) -> String {
    // SAFETY: pam_strerror returns a static string (or null) and reads nothing of pamh.
    let p = unsafe { pam_strerror(pamh, code) };
    if p.is_null() {
        return format!("PAM error {code}");
    }
    // SAFETY: non-null: a NUL-terminated static string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// The PAM_FAIL_DELAY function: waits for nothing. Without it libpam sleeps after a failed
/// step for the longest delay a module asked for (pam_unix: 2 s, pam_faildelay: its
/// `delay=`), holding one of sparekeyd's few checking threads. Pacing refusals, and limiting
/// guesses, is the caller's job.
extern "C" fn no_delay(_status: c_int, _usec: c_uint, _appdata: *mut c_void) {}
