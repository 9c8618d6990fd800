//! Sends audit events to the local syslog with facility authpriv, over the syslog crate's own
//! connection (so a host process's openlog() state is left alone).

use super::{AuditEvent, AuditSink};
use std::sync::Mutex;
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

/// Audit events to syslog (LOG_AUTHPRIV, severity notice). When /dev/log is missing the
/// events still go to the store; the sink stays silent rather than failing a login.
pub struct SyslogSink {
    logger: Mutex<Option<Logger<LoggerBackend, Formatter3164>>>,
}

impl std::fmt::Debug for SyslogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyslogSink")
    }
}

impl SyslogSink {
    /// Connects to the local syslog as `process` (e.g. "sparekeyd", "pam_sparekey").
    pub fn connect(process: &str) -> Self {
        let formatter = Formatter3164 {
            facility: Facility::LOG_AUTHPRIV,
            hostname: None,
            process: process.to_string(),
            pid: std::process::id(),
        };
        SyslogSink {
            logger: Mutex::new(syslog::unix(formatter).ok()),
        }
    }

    /// Logs one operational line (not an audit event) at severity err.
    pub fn error(&self, message: &str) {
        if let Ok(mut guard) = self.logger.lock() {
            if let Some(l) = guard.as_mut() {
                let _ = l.err(message);
            }
        }
    }

    /// Logs one operational line at severity info.
    pub fn info(&self, message: &str) {
        if let Ok(mut guard) = self.logger.lock() {
            if let Some(l) = guard.as_mut() {
                let _ = l.info(message);
            }
        }
    }
}

impl AuditSink for SyslogSink {
    fn emit(&self, event: &AuditEvent) {
        if let Ok(mut guard) = self.logger.lock() {
            if let Some(l) = guard.as_mut() {
                let _ = l.notice(event.line());
            }
        }
    }
}
