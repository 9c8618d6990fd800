//! What the authentication logic needs from PAM and from syslog, as traits, so that every
//! branch can be tested with a scripted fake instead of libpam.

use sparekey_core::AuditSink;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Something the user typed (or an earlier module's token), zeroed when dropped.
pub type Secret = Zeroizing<Vec<u8>>;

/// Why a request to PAM failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerError {
    /// The application's conversation function failed or is missing: nothing can be asked.
    Conversation(String),
    /// libpam refused a request (an item, the user name).
    Pam(String),
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandlerError::Conversation(m) => write!(f, "conversation failed: {m}"),
            HandlerError::Pam(m) => write!(f, "PAM refused: {m}"),
        }
    }
}

/// One PAM transaction as the module sees it.
pub trait PamHandler {
    /// The user logging in (PAM_USER; libpam may ask for it).
    fn user(&mut self) -> Result<String, HandlerError>;
    /// PAM_SERVICE, the name of the service file in /etc/pam.d.
    fn service(&self) -> Option<String>;
    /// PAM_RHOST, where the login comes from, when the application says.
    fn rhost(&self) -> Option<String>;
    /// PAM_TTY.
    fn tty(&self) -> Option<String>;
    /// PAM_RUSER, the user asking on the remote side, when the application says.
    fn ruser(&self) -> Option<String>;
    /// PAM_AUTHTOK as an earlier module left it, if any.
    fn authtok(&self) -> Result<Option<Secret>, HandlerError>;
    /// Asks for a secret without echo (PAM_PROMPT_ECHO_OFF). None: the application gave no answer.
    fn prompt_hidden(&mut self, prompt: &str) -> Result<Option<Secret>, HandlerError>;
    /// Shows a message (PAM_TEXT_INFO).
    fn info(&mut self, text: &str) -> Result<(), HandlerError>;
    /// Shows an error (PAM_ERROR_MSG).
    fn error(&mut self, text: &str) -> Result<(), HandlerError>;
}

/// Where operational messages and audit events go (syslog, LOG_AUTHPRIV). Never stdout or stderr.
pub trait Log {
    /// Something is wrong and an administrator must act.
    fn error(&self, message: &str);
    /// What happened, for `debug` and for events worth a line.
    fn info(&self, message: &str);
    /// The sink for audit events when the configuration sends them to syslog.
    fn audit_sink(&self) -> Arc<dyn AuditSink>;
}
