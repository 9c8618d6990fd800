//! The admin socket server: binds the Unix socket (0660, group from the config), learns each
//! peer's uid from SO_PEERCRED, reads one JSON request per line within limits, answers, and
//! closes connections that send garbage. One bad peer never stops the others.

use crate::Error;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use sparekey_admin::caller::Caller;
use sparekey_admin::handler::handle;
use sparekey_admin_protocol::{Request, Response, MAX_REQUEST};
use sparekey_core::{identity, Site};
use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 32;
/// A peer that sends nothing for this long is disconnected.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds the admin socket at `path`: the directory is made 0750 if missing, a stale socket
/// is replaced, a live one (another sparekeyd) is an error. The socket gets mode 0660 and
/// the group `group` when NSS knows it, else 0600 (root only) and a warning.
pub fn bind(path: &Path, group: &str) -> Result<(UnixListener, Option<String>), Error> {
    let fail = |what: &str, e: std::io::Error| {
        Error::Socket(format!("admin socket {}: {what}: {e}", path.display()))
    };
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .map_err(|e| fail("cannot create its directory", e))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o750))
            .map_err(|e| fail("cannot set its directory's mode", e))?;
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(Error::Socket(format!(
                    "admin socket {}: another sparekeyd is already serving it; stop it first",
                    path.display()
                )));
            }
            fs::remove_file(path).map_err(|e| fail("cannot remove the stale socket", e))?;
        }
        Ok(_) => {
            return Err(Error::Socket(format!(
                "admin socket {}: a file that is not a socket is in the way; remove it or choose another [admin] socket",
                path.display()
            )))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(fail("cannot inspect", e)),
    }
    let listener = UnixListener::bind(path).map_err(|e| fail("cannot bind", e))?;
    let gid = identity::group_id(group).ok().flatten();
    let warning = match gid {
        Some(gid) => {
            nix::unistd::chown(path, None, Some(gid))
                .map_err(|e| fail("cannot set its group", e.into()))?;
            fs::set_permissions(path, fs::Permissions::from_mode(0o660))
                .map_err(|e| fail("cannot set its mode", e))?;
            if let Some(dir) = path.parent() {
                // Members of the group must reach the socket; nobody else needs the directory.
                let _ = nix::unistd::chown(dir, None, Some(gid));
            }
            None
        }
        None => {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .map_err(|e| fail("cannot set its mode", e))?;
            Some(format!(
                "group {group:?} (admin socket-group) is unknown; the admin socket {} is root-only (mode 0600) until it exists",
                path.display()
            ))
        }
    };
    Ok((listener, warning))
}

/// Serves connections until the listener fails. `log` receives one line per refused or
/// broken connection (not per request).
pub fn serve(listener: UnixListener, site: Arc<Site>, log: Arc<dyn Fn(&str) + Send + Sync>) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log(&format!("admin socket: accept failed: {e}"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::AcqRel);
            log("admin socket: too many connections at once; one was closed");
            continue;
        }
        let slot = Slot(active.clone());
        let (conn_site, conn_log) = (site.clone(), log.clone());
        let spawned = std::thread::Builder::new()
            .name("admin-conn".into())
            .spawn(move || {
                let _slot = slot;
                serve_guarded(&conn_log, || serve_connection(stream, &conn_site));
            });
        if let Err(e) = spawned {
            log(&format!(
                "admin socket: cannot start a connection thread: {e}"
            ));
        }
    }
}

/// One connection's place among the [`MAX_CONNECTIONS`]: given back when dropped, however the
/// connection's thread ends (a panic included), and when the thread could not be started.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs one connection; an error or a panic (a bug) is logged and ends that connection only.
/// Dropping the stream on the way out closes it, so the peer is not left waiting.
fn serve_guarded(log: &Arc<dyn Fn(&str) + Send + Sync>, serve: impl FnOnce() -> Result<(), Error>) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(serve)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log(&format!("admin socket: {e}")),
        Err(_) => log("admin socket: a request handler failed (a bug, please report it); its connection was closed"),
    }
}

fn serve_connection(stream: UnixStream, site: &Site) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Socket(e.to_string());
    stream.set_read_timeout(Some(IDLE_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT)).map_err(io)?;
    let cred = getsockopt(&stream, PeerCredentials)
        .map_err(|e| Error::Socket(format!("cannot read the peer's credentials: {e}")))?;
    let caller = Caller::resolve(site.directory(), cred.uid(), cred.pid())
        .map_err(|e| Error::Socket(format!("uid {}: {e}", cred.uid())))?;
    let mut writer = stream.try_clone().map_err(io)?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        let n = (&mut reader)
            .take(MAX_REQUEST as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(io)?;
        if n == 0 {
            return Ok(());
        }
        if line.len() > MAX_REQUEST {
            let msg = format!("request too large: expected at most {MAX_REQUEST} bytes per line; connection closed");
            answer(&mut writer, &Response::Error { error: msg.clone() });
            return Err(Error::Protocol(format!("uid {}: {msg}", caller.uid)));
        }
        let request = match serde_json::from_slice::<Request>(&line) {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("malformed request: {e}; expected one JSON object per line with an \"op\" field; connection closed");
                answer(&mut writer, &Response::Error { error: msg.clone() });
                return Err(Error::Protocol(format!("uid {}: {msg}", caller.uid)));
            }
        };
        let response = handle(site, &caller, request, chrono::Utc::now());
        if !answer(&mut writer, &response) {
            return Ok(());
        }
    }
}

fn answer(writer: &mut UnixStream, response: &Response) -> bool {
    let Ok(mut bytes) = serde_json::to_vec(response) else {
        return false;
    };
    bytes.push(b'\n');
    writer
        .write_all(&bytes)
        .and_then(|_| writer.flush())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_connection_gives_its_slot_back_and_is_logged() {
        let active = Arc::new(AtomicUsize::new(1));
        let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = lines.clone();
        let log: Arc<dyn Fn(&str) + Send + Sync> =
            Arc::new(move |l: &str| seen.lock().unwrap().push(l.to_string()));
        let slot = Slot(active.clone());
        let thread = std::thread::spawn(move || {
            let _slot = slot;
            serve_guarded(&log, || panic!("a deliberate panic in a handler"));
        });
        assert!(
            thread.join().is_ok(),
            "the panic stays inside the connection"
        );
        assert_eq!(active.load(Ordering::Acquire), 0, "the slot is free again");
        assert!(lines.lock().unwrap()[0].contains("a request handler failed"));
    }
}
