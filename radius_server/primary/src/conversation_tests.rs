//! The conversation called directly, as libpam calls it: the answers it makes, and the
//! questions it refuses (leaving the caller's response pointer untouched).

use super::*;

const PASSWORD: &[u8] = b"s3cret \xc3\xa9";

fn message(style: c_int, text: &'static CStr) -> PamMessage {
    PamMessage {
        msg_style: style,
        msg: text.as_ptr(),
    }
}

/// Calls the conversation with `messages`: its code, and each answer (copied, then freed).
fn call(conv: &Conversation<'_>, messages: &[PamMessage]) -> (c_int, Vec<Option<Vec<u8>>>) {
    let mut pointers: Vec<*const PamMessage> = messages.iter().map(|m| m as *const _).collect();
    let n = c_int::try_from(messages.len()).unwrap();
    let mut resp: *mut PamResponse = std::ptr::null_mut();
    let conv = conv.pam_conv();
    // SAFETY: what libpam passes: n message pointers, an out-pointer, pam_conv's appdata.
    let rc = unsafe { converse(n, pointers.as_mut_ptr(), &mut resp, conv.appdata_ptr) };
    if rc != PAM_SUCCESS {
        assert!(resp.is_null(), "a failed conversation handed over answers");
        return (rc, Vec::new());
    }
    assert!(!resp.is_null());
    let answers = (0..messages.len())
        .map(|i| {
            // SAFETY: the conversation returned n responses, each null or a C string from malloc.
            unsafe {
                let r = &*resp.add(i);
                assert_eq!(r.resp_retcode, 0);
                let answer =
                    (!r.resp.is_null()).then(|| CStr::from_ptr(r.resp).to_bytes().to_vec());
                free(r.resp as *mut c_void);
                answer
            }
        })
        .collect();
    // SAFETY: the array came from calloc and is now ours.
    unsafe { free(resp as *mut c_void) };
    (rc, answers)
}

#[test]
fn hidden_prompts_get_the_password_and_messages_nothing() {
    let conv = Conversation::new(PASSWORD);
    let (rc, answers) = call(
        &conv,
        &[
            message(PAM_TEXT_INFO, c"Welcome"),
            message(PAM_PROMPT_ECHO_OFF, c"Password: "),
            message(PAM_ERROR_MSG, c"Careful"),
            message(PAM_PROMPT_ECHO_OFF, c"Password again: "),
        ],
    );
    assert_eq!(rc, PAM_SUCCESS);
    let password = Some(PASSWORD.to_vec());
    assert_eq!(answers, [None, password.clone(), None, password]);
    assert_eq!(conv.take_unanswerable(), None);
}

#[test]
fn a_visible_question_fails_the_conversation() {
    let conv = Conversation::new(PASSWORD);
    let (rc, _) = call(
        &conv,
        &[
            message(PAM_PROMPT_ECHO_OFF, c"Password: "),
            message(PAM_PROMPT_ECHO_ON, c"Verification code: "),
        ],
    );
    assert_eq!(rc, PAM_CONV_ERR);
    let why = conv.take_unanswerable().unwrap();
    assert!(why.contains("\"Verification code: \""), "{why}");
    assert!(!why.contains("s3cret"), "{why}");
}

#[test]
fn other_styles_fail_the_conversation() {
    let conv = Conversation::new(PASSWORD);
    let (rc, _) = call(&conv, &[message(7, c"binary")]);
    assert_eq!(rc, PAM_CONV_ERR);
    assert!(conv.take_unanswerable().unwrap().contains("style 7"));
}

#[test]
fn malformed_calls_fail_the_conversation() {
    let conv = Conversation::new(PASSWORD);
    let pam_conv = conv.pam_conv();
    let prompt = message(PAM_PROMPT_ECHO_OFF, c"Password: ");
    let mut one: [*const PamMessage; 1] = [&prompt];
    let mut none: [*const PamMessage; 1] = [std::ptr::null()];
    let mut resp: *mut PamResponse = std::ptr::null_mut();
    let appdata = pam_conv.appdata_ptr;
    // SAFETY: each call passes valid (or null, which the conversation checks) pointers.
    unsafe {
        assert_eq!(
            converse(0, one.as_mut_ptr(), &mut resp, appdata),
            PAM_CONV_ERR
        );
        assert_eq!(
            converse(33, one.as_mut_ptr(), &mut resp, appdata),
            PAM_CONV_ERR
        );
        assert_eq!(
            converse(-1, one.as_mut_ptr(), &mut resp, appdata),
            PAM_CONV_ERR
        );
        assert_eq!(
            converse(1, std::ptr::null_mut(), &mut resp, appdata),
            PAM_CONV_ERR
        );
        assert_eq!(
            converse(1, one.as_mut_ptr(), std::ptr::null_mut(), appdata),
            PAM_CONV_ERR
        );
        assert_eq!(
            converse(1, one.as_mut_ptr(), &mut resp, std::ptr::null_mut()),
            PAM_CONV_ERR
        );
        assert_eq!(
            converse(1, none.as_mut_ptr(), &mut resp, appdata),
            PAM_CONV_ERR
        );
    }
    assert!(resp.is_null());
}

#[test]
fn a_null_message_text_is_shown_as_empty() {
    let conv = Conversation::new(PASSWORD);
    let prompt = PamMessage {
        msg_style: PAM_PROMPT_ECHO_ON,
        msg: std::ptr::null(),
    };
    let mut one: [*const PamMessage; 1] = [&prompt];
    let mut resp: *mut PamResponse = std::ptr::null_mut();
    // SAFETY: valid pointers; the message's null text is allowed.
    let rc = unsafe { converse(1, one.as_mut_ptr(), &mut resp, conv.pam_conv().appdata_ptr) };
    assert_eq!(rc, PAM_CONV_ERR);
    assert!(conv.take_unanswerable().unwrap().contains("(\"\")"));
}
