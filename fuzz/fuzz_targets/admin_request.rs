//! Fuzz target: the bytes a client sends to the admin socket, cut into lines by sparekeyd's own request reader and each decoded into a Request as sparekeyd does, with the round trip sparekeyctl relies on.
#![no_main]

use std::io::Write;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

use libfuzzer_sys::fuzz_target;
use sparekey_admin_protocol::{Request, MAX_REQUEST};

// The reader is sparekeyd's, compiled from its source: it needs only std, and depending on
// sparekey-daemon would build the whole daemon (SQLite included) under the sanitizer. It
// reads the clock for its deadlines, which the daemon's lib.rs allows for the daemon.
#[path = "../../radius_server/daemon/src/admin_request_reader.rs"]
#[allow(dead_code, clippy::disallowed_methods)]
mod admin_request_reader;

use admin_request_reader::{ReadError, RequestReader};

/// More than a socket buffer holds would block the write below (nobody reads yet);
/// libFuzzer's default -max_len (4096) is far below it.
const LARGEST_INPUT: usize = 128 * 1024;

fuzz_target!(|data: &[u8]| {
    if data.len() > LARGEST_INPUT {
        return;
    }
    let (mut client, server) = UnixStream::pair().expect("a socket pair");
    client
        .write_all(data)
        .expect("the input fits the socket buffer");
    client.shutdown(Shutdown::Write).expect("shutdown");
    // As admin_socket::serve_connection: the real limit, the real deadlines.
    let mut requests = RequestReader::new(server, MAX_REQUEST);
    let mut consumed = 0;
    loop {
        let line = match requests.next_request() {
            Ok(Some(line)) => line,
            Ok(None) => {
                assert_eq!(
                    consumed,
                    data.len(),
                    "the reader ended before the input did"
                );
                return;
            }
            Err(ReadError::TooLarge(max)) => {
                // Only a line with no newline in its first max + 1 bytes is refused.
                assert_eq!(max, MAX_REQUEST);
                let rest = &data[consumed..];
                assert!(rest.len() > max);
                assert!(!rest[..=max].contains(&b'\n'));
                return;
            }
            Err(e) => panic!("a local socket pair failed to deliver the input: {e:?}"),
        };

        // Framing: each line is the next stretch of the input, up to (not with) a newline.
        assert!(!line.contains(&b'\n'));
        assert_eq!(&data[consumed..consumed + line.len()], &line[..]);
        consumed += line.len();
        if consumed < data.len() {
            assert_eq!(data[consumed], b'\n');
            consumed += 1;
        }

        // Decoding, exactly as sparekeyd does; a malformed request closes the connection.
        let request = match serde_json::from_slice::<Request>(&line) {
            Ok(r) => r,
            Err(e) => {
                assert!(
                    !e.to_string().is_empty(),
                    "the refusal quotes serde's reason"
                );
                return;
            }
        };

        // What sparekeyctl sends for this request is one line that decodes to the same request.
        let sent = serde_json::to_vec(&request).expect("every Request encodes");
        assert!(!sent.contains(&b'\n'), "an encoded request is one line");
        let again = serde_json::from_slice::<Request>(&sent).expect("an encoded request decodes");
        assert_eq!(again, request);
    }
});
