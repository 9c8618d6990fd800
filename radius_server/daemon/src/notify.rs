//! Tells systemd that sparekeyd is ready (`Type=notify`), without libsystemd.
//!
//! The sd_notify protocol is one datagram, such as `READY=1`, sent to the Unix socket that
//! systemd names in `$NOTIFY_SOCKET`: a path, or with a leading `@` a name in the abstract
//! namespace. Without the variable (not started by systemd, or `Type=simple`) nothing is
//! sent. See sd_notify(3).

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable systemd sets for a `Type=notify` service.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (newline-separated `KEY=VALUE` assignments) to the socket `$NOTIFY_SOCKET`
/// names. Returns `Ok(false)` when the variable is unset or empty, `Ok(true)` once sent.
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os(NOTIFY_SOCKET) {
        Some(socket) if !socket.is_empty() => send(&socket, state).map(|()| true),
        _ => Ok(false),
    }
}

/// Sends `state` to `socket`: an absolute path, or `@name` for the abstract namespace.
pub fn send(socket: &OsStr, state: &str) -> io::Result<()> {
    let addr = address(socket)?;
    let sent = UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr)?;
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("sent {sent} of {} bytes", state.len()),
        ));
    }
    Ok(())
}

/// Tells systemd the daemon is ready to serve. A failure is reported through `log`, since
/// systemd will then time the start out and the reason belongs in the journal.
pub fn ready(log: impl Fn(&str)) {
    if let Err(e) = notify("READY=1") {
        log(&format!(
            "cannot tell systemd that sparekeyd is ready ({NOTIFY_SOCKET}): {e}"
        ));
    }
}

/// Tells systemd a reload (SIGHUP) has begun; send [`ready`] when it is over.
pub fn reloading(log: impl Fn(&str)) {
    if let Err(e) = notify("RELOADING=1") {
        log(&format!(
            "cannot tell systemd that sparekeyd is reloading ({NOTIFY_SOCKET}): {e}"
        ));
    }
}

fn address(socket: &OsStr) -> io::Result<SocketAddr> {
    let bytes = socket.as_bytes();
    match bytes.first() {
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
        Some(b'/') => SocketAddr::from_pathname(socket),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{socket:?} is neither an absolute path nor an abstract socket name (@...)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receive(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).expect("a datagram");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn sends_one_datagram_to_a_socket_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str(), "READY=1").unwrap();
        assert_eq!(receive(&systemd), "READY=1");
    }

    #[test]
    fn an_at_sign_means_the_abstract_namespace() {
        let name = format!("sparekey-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let systemd = UnixDatagram::bind_addr(&addr).unwrap();
        send(OsStr::new(&format!("@{name}")), "RELOADING=1").unwrap();
        assert_eq!(receive(&systemd), "RELOADING=1");
    }

    #[test]
    fn a_relative_or_empty_address_is_refused() {
        for bad in ["notify.sock", ""] {
            let e = send(OsStr::new(bad), "READY=1").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn nobody_listening_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nobody");
        assert!(send(missing.as_os_str(), "READY=1").is_err());
    }

    /// The real path through `$NOTIFY_SOCKET`, in a child process so that the test process's
    /// environment is never changed: the child re-runs this test binary with the variable set.
    #[test]
    fn ready_reads_notify_socket_from_the_environment() {
        const CHILD: &str = "SPAREKEY_NOTIFY_TEST_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let errors = std::cell::RefCell::new(Vec::new());
            ready(|l: &str| errors.borrow_mut().push(l.to_string()));
            assert_eq!(errors.into_inner(), Vec::<String>::new());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "notify::tests::ready_reads_notify_socket_from_the_environment",
            ])
            .env(CHILD, "1")
            .env(NOTIFY_SOCKET, &path)
            .output()
            .unwrap();
        assert!(
            child.status.success(),
            "child: {}{}",
            String::from_utf8_lossy(&child.stdout),
            String::from_utf8_lossy(&child.stderr)
        );
        assert_eq!(receive(&systemd), "READY=1");
    }

    #[test]
    fn without_notify_socket_nothing_is_sent() {
        // Cargo never runs tests under systemd's NOTIFY_SOCKET; if it ever did, the
        // environment test above covers the other branch.
        if std::env::var_os(NOTIFY_SOCKET).is_none() {
            assert!(!notify("READY=1").unwrap());
        }
    }
}
