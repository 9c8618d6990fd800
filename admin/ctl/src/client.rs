//! The client side of the admin socket, as sparekeyctl uses it.

use crate::Error;
use sparekey_admin_protocol::{Request, Response, MAX_RESPONSE};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Sends one request and returns the raw answer line (one JSON object) and its parsed form.
pub fn call(socket: &Path, request: &Request) -> Result<(String, Response), Error> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        let hint = match e.kind() {
            ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
                " (is sparekeyd running? systemctl status sparekeyd)"
            }
            ErrorKind::PermissionDenied => {
                " (are you in the socket's group, usually sparekey-admin?)"
            }
            _ => "",
        };
        Error::Socket(format!(
            "cannot connect to the admin socket {}: {e}{hint}",
            socket.display()
        ))
    })?;
    let timeout = Some(Duration::from_secs(60));
    let io = |e: std::io::Error| Error::Socket(format!("admin socket {}: {e}", socket.display()));
    stream.set_read_timeout(timeout).map_err(io)?;
    stream.set_write_timeout(timeout).map_err(io)?;
    let mut line = serde_json::to_vec(request).map_err(|e| Error::Protocol(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io)?;
    let mut reader = BufReader::new(stream).take(MAX_RESPONSE as u64);
    let mut answer = String::new();
    reader.read_line(&mut answer).map_err(io)?;
    if answer.is_empty() {
        return Err(Error::Protocol(format!(
            "sparekeyd closed the admin socket {} without answering",
            socket.display()
        )));
    }
    let parsed = serde_json::from_str(&answer).map_err(|e| {
        Error::Protocol(format!(
            "sparekeyd sent an answer this sparekeyctl does not understand: {e}"
        ))
    })?;
    Ok((answer.trim_end().to_string(), parsed))
}
