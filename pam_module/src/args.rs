//! The module's arguments from its PAM configuration line, parsed strictly: an unknown,
//! repeated or malformed argument is an error with a message that says what is expected.

use std::fmt;
use std::path::PathBuf;

/// The prompt when the line gives no `prompt=`.
pub const DEFAULT_PROMPT: &str = "Temporary code: ";

/// Where the code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// Ask for it (the default).
    Prompt,
    /// `try_first_pass`: take PAM_AUTHTOK when an earlier module set it, else ask.
    TryFirstPass,
    /// `use_first_pass`: take PAM_AUTHTOK and never ask; none set counts as an empty answer.
    UseFirstPass,
}

/// Where a deliberate panic is raised (only in a build with the `x-test-panic` feature, for
/// the test that proves a panic never leaves the module). Only root can write a PAM line, and
/// every other build, the packaged one included, rejects the argument as unknown.
#[cfg(feature = "x-test-panic")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestPanic {
    /// Inside the module's own guard, after the answer was read: the login sees AUTHINFO_UNAVAIL.
    Guarded,
    /// Outside it, so only pam-bindings' own guard catches it: the login sees PAM_ABORT.
    Unguarded,
}

/// The raw argument that raises [`TestPanic::Unguarded`], checked before parsing.
#[cfg(feature = "x-test-panic")]
pub const UNGUARDED_PANIC_ARG: &[u8] = b"x-test-panic=unguarded";

/// The parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// `config=PATH`: sparekey.toml.
    pub config: PathBuf,
    /// `service=NAME`: the service policies match, instead of the PAM service name.
    pub service: Option<String>,
    /// `use_first_pass` / `try_first_pass`.
    pub source: CodeSource,
    /// `prompt=TEXT`.
    pub prompt: String,
    /// `retire`: end the user's temporary codes instead of asking for one.
    pub retire: bool,
    /// `debug`: explain every decision in syslog.
    pub debug: bool,
    /// `x-test-panic=...` (the `x-test-panic` feature only).
    #[cfg(feature = "x-test-panic")]
    pub test_panic: Option<TestPanic>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            config: PathBuf::from(sparekey_conf::DEFAULT_CONFIG_PATH),
            service: None,
            source: CodeSource::Prompt,
            prompt: DEFAULT_PROMPT.to_string(),
            retire: false,
            debug: false,
            #[cfg(feature = "x-test-panic")]
            test_panic: None,
        }
    }
}

/// Why the arguments were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// Not an argument this module knows.
    Unknown(String),
    /// Not valid UTF-8.
    NotUtf8(String),
    /// A `key=value` argument without its value, or a flag with one.
    Shape {
        /// The argument as given.
        given: String,
        /// How it must be written.
        expected: &'static str,
    },
    /// A `key=value` argument given twice.
    Repeated(&'static str),
    /// Two arguments that cannot go together.
    Conflict(&'static str, &'static str),
}

const KNOWN: &str =
    "config=PATH, service=NAME, use_first_pass, try_first_pass, prompt=TEXT, retire or debug";

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Unknown(a) => write!(f, "unknown argument {a:?}; expected {KNOWN}"),
            ArgError::NotUtf8(a) => write!(f, "argument {a:?} is not valid UTF-8"),
            ArgError::Shape { given, expected } => {
                write!(f, "argument {given:?} is malformed; expected {expected}")
            }
            ArgError::Repeated(k) => write!(f, "argument {k}= is given more than once"),
            ArgError::Conflict(a, b) => write!(f, "arguments {a} and {b} cannot be used together"),
        }
    }
}

impl std::error::Error for ArgError {}

/// Parses the arguments of one PAM line, as libpam passes them (one per word; a bracketed
/// `[prompt=Two words: ]` arrives as one argument).
pub fn parse(raw: &[&[u8]]) -> Result<Args, ArgError> {
    let mut args = Args::default();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut first_pass: Option<&'static str> = None;
    let mut prompted: Option<&'static str> = None;
    for bytes in raw {
        let arg = std::str::from_utf8(bytes)
            .map_err(|_| ArgError::NotUtf8(String::from_utf8_lossy(bytes).into_owned()))?;
        let (key, value) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (arg, None),
        };
        let mut once = |k: &'static str| {
            if seen.contains(&k) {
                Err(ArgError::Repeated(k))
            } else {
                seen.push(k);
                Ok(())
            }
        };
        let shape = |expected| ArgError::Shape {
            given: arg.to_string(),
            expected,
        };
        match (key, value) {
            ("config", Some(v)) => {
                once("config")?;
                if !v.starts_with('/') {
                    return Err(shape("config=PATH with an absolute path"));
                }
                args.config = PathBuf::from(v);
            }
            ("service", Some(v)) => {
                once("service")?;
                if v.is_empty() || v.chars().any(char::is_whitespace) {
                    return Err(shape("service=NAME with a non-empty name without spaces"));
                }
                args.service = Some(v.to_string());
            }
            ("prompt", Some(v)) => {
                once("prompt")?;
                if v.trim().is_empty() {
                    return Err(shape("prompt=TEXT with some text"));
                }
                args.prompt = v.to_string();
                prompted = Some("prompt=");
            }
            ("use_first_pass" | "try_first_pass", None) => {
                let (name, source) = if key == "use_first_pass" {
                    ("use_first_pass", CodeSource::UseFirstPass)
                } else {
                    ("try_first_pass", CodeSource::TryFirstPass)
                };
                if let Some(other) = first_pass.filter(|o| *o != name) {
                    return Err(ArgError::Conflict(other, name));
                }
                first_pass = Some(name);
                args.source = source;
            }
            ("retire", None) => args.retire = true,
            ("debug", None) => args.debug = true,
            #[cfg(feature = "x-test-panic")]
            ("x-test-panic", Some(v)) => {
                args.test_panic = match v {
                    "guarded" => Some(TestPanic::Guarded),
                    "unguarded" => Some(TestPanic::Unguarded),
                    _ => return Err(shape("x-test-panic=guarded or x-test-panic=unguarded")),
                }
            }
            ("config", None) => return Err(shape("config=PATH")),
            ("service", None) => return Err(shape("service=NAME")),
            ("prompt", None) => return Err(shape("prompt=TEXT")),
            ("use_first_pass" | "try_first_pass" | "retire" | "debug", Some(_)) => {
                return Err(shape("the word alone, without a value"))
            }
            _ => return Err(ArgError::Unknown(arg.to_string())),
        }
    }
    if args.retire {
        if let Some(other) = first_pass.or(prompted) {
            // retire never asks for anything: a line that says otherwise is a mistake.
            return Err(ArgError::Conflict("retire", other));
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, ArgError> {
        let raw: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        parse(&raw)
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        let a = p(&[]).unwrap();
        assert_eq!(a.config, PathBuf::from("/etc/sparekey/sparekey.toml"));
        assert_eq!(a.service, None);
        assert_eq!(a.source, CodeSource::Prompt);
        assert_eq!(a.prompt, "Temporary code: ");
        assert!(!a.retire && !a.debug);
    }

    #[test]
    fn every_argument_is_understood() {
        let a = p(&[
            "config=/srv/sk/sparekey.toml",
            "service=vpn",
            "try_first_pass",
            "prompt=Spare code: ",
            "debug",
        ])
        .unwrap();
        assert_eq!(a.config, PathBuf::from("/srv/sk/sparekey.toml"));
        assert_eq!(a.service.as_deref(), Some("vpn"));
        assert_eq!(a.source, CodeSource::TryFirstPass);
        assert_eq!(a.prompt, "Spare code: ");
        assert!(a.debug);
        assert_eq!(
            p(&["use_first_pass"]).unwrap().source,
            CodeSource::UseFirstPass
        );
        assert!(p(&["retire", "debug"]).unwrap().retire);
    }

    #[test]
    fn unknown_arguments_are_errors_that_list_the_known_ones() {
        let e = p(&["debug", "retrie"]).unwrap_err();
        assert_eq!(e, ArgError::Unknown("retrie".into()));
        assert_eq!(
            e.to_string(),
            "unknown argument \"retrie\"; expected config=PATH, service=NAME, use_first_pass, try_first_pass, prompt=TEXT, retire or debug"
        );
        assert_eq!(
            p(&["nullok"]).unwrap_err(),
            ArgError::Unknown("nullok".into())
        );
    }

    #[test]
    fn malformed_arguments_say_how_to_write_them() {
        assert_eq!(
            p(&["config"]).unwrap_err().to_string(),
            "argument \"config\" is malformed; expected config=PATH"
        );
        assert_eq!(
            p(&["config=sparekey.toml"]).unwrap_err().to_string(),
            "argument \"config=sparekey.toml\" is malformed; expected config=PATH with an absolute path"
        );
        assert!(matches!(p(&["service="]), Err(ArgError::Shape { .. })));
        assert!(matches!(p(&["prompt=  "]), Err(ArgError::Shape { .. })));
        assert!(matches!(p(&["debug=1"]), Err(ArgError::Shape { .. })));
        assert!(matches!(p(&["retire=yes"]), Err(ArgError::Shape { .. })));
        assert_eq!(
            parse(&[b"prompt=\xff"]).unwrap_err(),
            ArgError::NotUtf8("prompt=\u{fffd}".into())
        );
    }

    #[test]
    fn contradictions_and_repeats_are_errors() {
        assert_eq!(
            p(&["use_first_pass", "try_first_pass"]).unwrap_err(),
            ArgError::Conflict("use_first_pass", "try_first_pass")
        );
        assert_eq!(
            p(&["config=/a", "config=/b"]).unwrap_err(),
            ArgError::Repeated("config")
        );
        assert_eq!(
            p(&["retire", "prompt=Code: "]).unwrap_err(),
            ArgError::Conflict("retire", "prompt=")
        );
        assert_eq!(
            p(&["use_first_pass", "retire"]).unwrap_err(),
            ArgError::Conflict("retire", "use_first_pass")
        );
        // A repeated flag says the same thing twice; that is harmless.
        assert!(p(&["debug", "debug"]).unwrap().debug);
    }

    #[cfg(feature = "x-test-panic")]
    #[test]
    fn the_test_panic_argument_exists_only_with_its_feature() {
        let a = p(&["x-test-panic=guarded"]).unwrap();
        assert_eq!(a.test_panic, Some(TestPanic::Guarded));
        assert!(p(&["x-test-panic=sometimes"]).is_err());
    }

    #[cfg(not(feature = "x-test-panic"))]
    #[test]
    fn without_its_feature_the_test_panic_argument_is_unknown() {
        assert!(p(&["x-test-panic=guarded"]).is_err());
        assert!(p(&["x-test-panic=unguarded"]).is_err());
    }
}
