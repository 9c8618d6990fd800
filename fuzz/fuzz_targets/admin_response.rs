//! Fuzz target: an answer line from the admin socket decoded into a Response as sparekeyctl does, with the round trip through sparekeyd's encoding.
#![no_main]

use std::io::{BufRead, Read};

use libfuzzer_sys::fuzz_target;
use sparekey_admin_protocol::{Response, MAX_RESPONSE};

fuzz_target!(|data: &[u8]| {
    // As admin/ctl/src/client.rs: one line, at most MAX_RESPONSE bytes, as UTF-8 (read_line
    // refuses anything else), then serde_json.
    let mut reader = std::io::BufReader::new(data).take(MAX_RESPONSE as u64);
    let mut answer = String::new();
    if reader.read_line(&mut answer).is_err() {
        assert!(
            std::str::from_utf8(data).is_err(),
            "read_line refused UTF-8"
        );
        return;
    }
    assert!(answer.len() <= data.len());
    assert!(!answer.trim_end_matches('\n').contains('\n'));
    let response = match serde_json::from_str::<Response>(&answer) {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };

    // sparekeyd's encoding of the same answer (admin_socket::answer) is one line that
    // decodes to it again.
    let sent = serde_json::to_vec(&response).expect("every Response encodes");
    assert!(!sent.contains(&b'\n'), "an encoded answer is one line");
    let again = serde_json::from_slice::<Response>(&sent).expect("an encoded answer decodes");
    assert_eq!(again, response);
});
