//! Reads admin requests off a connection, one line each, within a deadline for the whole
//! request: a peer that sends a byte now and then cannot hold a connection (and its slot)
//! for ever, as a read timeout per byte would let it.

use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// How long a connection may wait between requests.
pub const IDLE: Duration = Duration::from_secs(30);
/// How long one request may take to arrive, from its first byte to its newline.
pub const WHOLE_REQUEST: Duration = Duration::from_secs(5);

/// Why no request was read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The request did not arrive in time.
    Deadline(Duration),
    /// The request is longer than allowed.
    TooLarge(usize),
    /// The connection failed.
    Io(String),
}

/// A connection's incoming requests.
#[derive(Debug)]
pub struct RequestReader {
    stream: UnixStream,
    pending: Vec<u8>,
    idle: Duration,
    whole: Duration,
    max: usize,
}

impl RequestReader {
    /// Requests of at most `max` bytes from `stream`, with [`IDLE`] and [`WHOLE_REQUEST`].
    pub fn new(stream: UnixStream, max: usize) -> Self {
        Self::with_limits(stream, max, IDLE, WHOLE_REQUEST)
    }

    /// With other limits (tests).
    pub fn with_limits(stream: UnixStream, max: usize, idle: Duration, whole: Duration) -> Self {
        RequestReader {
            stream,
            pending: Vec::new(),
            idle,
            whole,
            max,
        }
    }

    /// The next request line (without its newline; a last line the peer ends by closing
    /// counts too), or None when the peer closed or stayed idle past [`IDLE`].
    pub fn next_request(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        let mut started: Option<Instant> = (!self.pending.is_empty()).then(Instant::now);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
                // Exact, whatever a read brought along with the newline.
                if i > self.max {
                    return Err(ReadError::TooLarge(self.max));
                }
                let mut line: Vec<u8> = self.pending.drain(..=i).collect();
                line.pop();
                return Ok(Some(line));
            }
            if self.pending.len() > self.max {
                return Err(ReadError::TooLarge(self.max));
            }
            let timeout = match started {
                None => self.idle,
                Some(t) => match self.whole.checked_sub(t.elapsed()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Err(ReadError::Deadline(self.whole)),
                },
            };
            self.stream
                .set_read_timeout(Some(timeout))
                .map_err(|e| ReadError::Io(e.to_string()))?;
            match self.stream.read(&mut buf) {
                Ok(0) if self.pending.is_empty() => return Ok(None),
                Ok(0) if self.pending.len() > self.max => {
                    return Err(ReadError::TooLarge(self.max))
                }
                Ok(0) => return Ok(Some(std::mem::take(&mut self.pending))),
                Ok(n) => {
                    started.get_or_insert_with(Instant::now);
                    self.pending.extend_from_slice(&buf[..n]);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if started.is_none() {
                        return Ok(None);
                    }
                    return Err(ReadError::Deadline(self.whole));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pair() -> (UnixStream, RequestReader) {
        let (a, b) = UnixStream::pair().unwrap();
        let reader = RequestReader::with_limits(
            b,
            64,
            Duration::from_millis(300),
            Duration::from_millis(200),
        );
        (a, reader)
    }

    #[test]
    fn a_request_trickling_in_is_cut_at_the_deadline() {
        let (mut peer, mut reader) = pair();
        peer.write_all(b"{\"op\"").unwrap();
        let started = Instant::now();
        let writer = std::thread::spawn(move || {
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(50));
                if peer.write_all(b" ").is_err() {
                    break;
                }
            }
        });
        assert_eq!(
            reader.next_request(),
            Err(ReadError::Deadline(Duration::from_millis(200)))
        );
        assert!(
            started.elapsed() < Duration::from_millis(400),
            "a byte now and then does not extend it"
        );
        drop(reader);
        writer.join().unwrap();
    }

    #[test]
    fn pipelined_requests_come_one_line_at_a_time_and_idle_ends_quietly() {
        let (mut peer, mut reader) = pair();
        peer.write_all(b"one\ntwo\nthree").unwrap();
        assert_eq!(reader.next_request(), Ok(Some(b"one".to_vec())));
        assert_eq!(reader.next_request(), Ok(Some(b"two".to_vec())));
        peer.write_all(b"\n").unwrap();
        assert_eq!(reader.next_request(), Ok(Some(b"three".to_vec())));
        assert_eq!(reader.next_request(), Ok(None), "idle past the limit");
        peer.write_all(&[b'x'; 100]).unwrap();
        assert_eq!(reader.next_request(), Err(ReadError::TooLarge(64)));
    }

    #[test]
    fn the_limit_is_exact_when_the_newline_comes_in_the_same_read() {
        let (mut peer, mut reader) = pair();
        let mut at_limit = vec![b'x'; 64];
        at_limit.push(b'\n');
        peer.write_all(&at_limit).unwrap();
        assert_eq!(reader.next_request(), Ok(Some(vec![b'x'; 64])));
        let mut over = vec![b'x'; 65];
        over.push(b'\n');
        peer.write_all(&over).unwrap();
        assert_eq!(reader.next_request(), Err(ReadError::TooLarge(64)));
    }
}
