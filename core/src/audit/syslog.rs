//! Sends audit events to the local syslog with facility authpriv, over the syslog crate's own
//! connection (so a host process's openlog() state is left alone).

use super::{AuditEvent, AuditSink};
use std::sync::Mutex;
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

/// Audit events to syslog (LOG_AUTHPRIV, severity notice). Connects at the first line sent,
/// so a login that logs nothing opens no socket. When /dev/log is missing the events still
/// go to the store; the sink stays silent rather than failing a login.
pub struct SyslogSink {
    state: Mutex<State>,
}

enum State {
    /// Nothing sent yet.
    Waiting(Formatter3164),
    Connected(Logger<LoggerBackend, Formatter3164>),
    /// No syslog to talk to.
    Unavailable,
}

impl std::fmt::Debug for SyslogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyslogSink")
    }
}

impl SyslogSink {
    /// A sink that logs to the local syslog as `process` (e.g. "sparekeyd", "pam_sparekey").
    pub fn connect(process: &str) -> Self {
        let formatter = Formatter3164 {
            facility: Facility::LOG_AUTHPRIV,
            hostname: None,
            process: process.to_string(),
            pid: std::process::id(),
        };
        SyslogSink {
            state: Mutex::new(State::Waiting(formatter)),
        }
    }

    /// Runs `f` on the connection, making it first if this is the first line.
    fn send(&self, f: impl FnOnce(&mut Logger<LoggerBackend, Formatter3164>)) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if matches!(*state, State::Waiting(_)) {
            if let State::Waiting(formatter) = std::mem::replace(&mut *state, State::Unavailable) {
                if let Ok(logger) = syslog::unix(formatter) {
                    *state = State::Connected(logger);
                }
            }
        }
        if let State::Connected(logger) = &mut *state {
            f(logger);
        }
    }

    /// Logs one operational line (not an audit event) at severity err.
    pub fn error(&self, message: &str) {
        self.send(|l| {
            let _ = l.err(message);
        });
    }

    /// Logs one operational line at severity info.
    pub fn info(&self, message: &str) {
        self.send(|l| {
            let _ = l.info(message);
        });
    }
}

impl AuditSink for SyslogSink {
    fn emit(&self, event: &AuditEvent) {
        self.send(|l| {
            let _ = l.notice(event.line());
        });
    }
}
