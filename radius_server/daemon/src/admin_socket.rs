//! The admin socket server: binds the Unix socket (0660, group from the config), learns each
//! peer's uid from SO_PEERCRED, reads one JSON request per line within limits, answers, and
//! closes connections that send garbage. One bad peer never stops the others.

use crate::admin_request_reader::{ReadError, RequestReader, IDLE};
use crate::admin_slots::Slots;
use crate::Error;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use sparekey_admin::caller::Caller;
use sparekey_admin::handler::handle;
use sparekey_admin_protocol::{Request, Response, MAX_REQUEST};
use sparekey_core::audit::{Action, AuditEvent};
use sparekey_core::{identity, Site};
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
    let slots = Slots::default();
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log(&format!("admin socket: accept failed: {e}"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let uid = match getsockopt(&stream, PeerCredentials) {
            Ok(cred) => cred.uid(),
            Err(e) => {
                log(&format!("admin socket: cannot read a peer's credentials ({e}); its connection was closed"));
                continue;
            }
        };
        let slot = match slots.admit(uid) {
            Ok(slot) => slot,
            Err(why) => {
                log(&format!("admin socket: {why}; one more was closed"));
                continue;
            }
        };
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
    stream.set_write_timeout(Some(IDLE)).map_err(io)?;
    let cred = getsockopt(&stream, PeerCredentials)
        .map_err(|e| Error::Socket(format!("cannot read the peer's credentials: {e}")))?;
    let mut writer = stream.try_clone().map_err(io)?;
    let mut requests = RequestReader::new(stream, MAX_REQUEST);
    loop {
        let line = match requests.next_request() {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(()),
            Err(e) => {
                let msg = match e {
                    ReadError::TooLarge(max) => format!("request too large: expected at most {max} bytes per line; connection closed"),
                    ReadError::Deadline(d) => format!("request not complete within {} s; expected one JSON object per line; connection closed", d.as_secs()),
                    ReadError::Io(e) => return Err(Error::Socket(e)),
                };
                answer(&mut writer, &Response::Error { error: msg.clone() });
                return Err(Error::Protocol(format!("uid {}: {msg}", cred.uid())));
            }
        };
        // Who the caller is, and which roles they hold, is looked up for every request: one
        // who left the helpdesk group loses its role on a connection already open.
        let caller = Caller::resolve(site.directory(), cred.uid(), cred.pid())
            .map_err(|e| Error::Socket(format!("uid {}: {e}", cred.uid())))?;
        let config = site.config();
        if !caller.is_superadmin() && caller.roles(&config).is_empty() {
            let msg = format!(
                "{} holds no sparekey role; ask an administrator to add one in {}; connection closed",
                caller.describe(&config),
                config.path.display()
            );
            let event = AuditEvent::new(chrono::Utc::now(), Action::Denied, &caller.name, "-")
                .source(&format!("admin-socket uid={}", caller.uid))
                .reason("holds no sparekey role");
            // Kept for the next write even when the journal cannot take it (a full disk):
            // the refusal stands either way, and changes nothing.
            let _ = site.redeemer().gather(&event);
            answer(&mut writer, &Response::Error { error: msg });
            return Ok(());
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
        let slots = Slots::default();
        let held: Vec<_> = (0..crate::admin_slots::PER_UID)
            .map(|_| slots.admit(1000).unwrap())
            .collect();
        let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = lines.clone();
        let log: Arc<dyn Fn(&str) + Send + Sync> =
            Arc::new(move |l: &str| seen.lock().unwrap().push(l.to_string()));
        let mut held = held.into_iter();
        let slot = held.next().unwrap();
        let thread = std::thread::spawn(move || {
            let _slot = slot;
            serve_guarded(&log, || panic!("a deliberate panic in a handler"));
        });
        assert!(
            thread.join().is_ok(),
            "the panic stays inside the connection"
        );
        assert!(slots.admit(1000).is_ok(), "the slot is free again");
        assert!(lines.lock().unwrap()[0].contains("a request handler failed"));
    }
}
