//! The RADIUS clients sparekeyd answers: built once per configuration (secrets read and keyed
//! up front) and looked up per datagram by source address, the longest matching prefix first.

use crate::Error;
use sparekey_conf::{Cidr, ClientMode, MessageAuthenticatorRule, RadiusConfig};
use sparekey_radius_codec::{MessageAuthenticatorPolicy, PacketRef, SharedSecret};
use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use zeroize::Zeroizing;

/// Secrets shorter than this work but are reported at load: guessable offline from one packet.
pub const WEAK_SECRET_LEN: usize = 16;
/// The largest secret file read; a longer one is refused as not being a secret.
pub const MAX_SECRET_FILE_LEN: u64 = 1024;

/// One `[[radius.client]]`, ready to answer.
#[derive(Debug)]
pub struct RadiusClient {
    /// Its name, for logs and the audit log.
    pub name: String,
    /// The addresses it sends from.
    pub address: Cidr,
    /// The service name policies match for its logins (e.g. "vpn"); empty for member
    /// hosts, whose requests name their PAM service.
    pub service: String,
    /// Its shared secret, or where the secrets come from.
    pub secret: ClientSecret,
    /// Whether Access-Requests without Message-Authenticator are dropped.
    pub message_authenticator: AuthenticatorRule,
    /// How its requests are answered: mode, password check, upstream, accounting.
    pub modes: ClientModes,
}

/// A client's `mode` and the keys that go with it, as configured.
#[derive(Debug, Clone, Default)]
pub struct ClientModes {
    /// What the User-Password carries.
    pub mode: ClientMode,
    /// challenge and append: the PAM service that checks passwords.
    pub primary_pam_service: String,
    /// challenge: the Access-Challenge's Reply-Message.
    pub challenge_prompt: String,
    /// append: what separates password and code.
    pub append_delimiter: String,
    /// The upstream that answers users without a usable code.
    pub upstream: Option<String>,
    /// Whether Accounting-Requests are answered.
    pub accounting: bool,
}

/// When a client's Access-Requests must carry Message-Authenticator.
#[derive(Debug)]
pub enum AuthenticatorRule {
    /// Always.
    Required,
    /// Checked when present.
    IfPresent,
    /// Checked when present, and required once one request carried one (`seen`, shared
    /// by every answering thread, kept over a reload).
    Auto {
        /// Whether a request of this client carried one.
        seen: AtomicBool,
    },
}

impl AuthenticatorRule {
    /// The policy for the next request.
    pub fn policy(&self) -> MessageAuthenticatorPolicy {
        match self {
            AuthenticatorRule::Required => MessageAuthenticatorPolicy::Required,
            AuthenticatorRule::IfPresent => MessageAuthenticatorPolicy::IfPresent,
            AuthenticatorRule::Auto { seen } if seen.load(Ordering::Relaxed) => {
                MessageAuthenticatorPolicy::Required
            }
            AuthenticatorRule::Auto { .. } => MessageAuthenticatorPolicy::IfPresent,
        }
    }

    /// Notes that a verified request carried a Message-Authenticator; true when that
    /// switches an "auto" client to requiring it (once).
    pub fn carried_one(&self) -> bool {
        match self {
            AuthenticatorRule::Auto { seen } => {
                !seen.load(Ordering::Relaxed) && !seen.swap(true, Ordering::Relaxed)
            }
            _ => false,
        }
    }

    fn seen(&self) -> bool {
        matches!(self, AuthenticatorRule::Auto { seen } if seen.load(Ordering::Relaxed))
    }
}

/// Where the secret of a client's requests comes from.
// One per client, built once per configuration: the size of the unkeyed variant is no cost.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ClientSecret {
    /// A NAS: its secret file, read and keyed once.
    Shared(SharedSecret),
    /// Enrolled member hosts: each request's NAS-Identifier names the host, whose secret
    /// is derived from the site key ([`sparekey_core::key::HostKeys::radius_secret`]).
    MemberHosts,
}

/// One `[[radius.upstream]]`, ready to send to.
#[derive(Debug)]
pub struct Upstream {
    /// Its name.
    pub name: String,
    /// Its address (a name resolved when the configuration was loaded).
    pub address: SocketAddr,
    /// The secret shared with it.
    pub secret: SharedSecret,
    /// How long to wait for an answer to one send.
    pub timeout: Duration,
    /// Sends after the first.
    pub retries: u32,
    /// Whether one of its answers carried Message-Authenticator: from then on, answers
    /// without one are refused (most MFA servers send it; FreeRADIUS 3.2.1 only when told).
    signs: AtomicBool,
}

impl Upstream {
    /// An upstream on a documentation address for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(name: &str, secret: SharedSecret) -> Self {
        Upstream {
            name: name.into(),
            address: SocketAddr::from(([192, 0, 2, 99], 1812)),
            secret,
            timeout: Duration::from_secs(1),
            retries: 0,
            signs: AtomicBool::new(false),
        }
    }

    /// Whether its answers must carry Message-Authenticator.
    pub fn requires_message_authenticator(&self) -> bool {
        self.signs.load(Ordering::Relaxed)
    }

    /// Notes a verified answer of its.
    pub fn saw_reply(&self, reply: &PacketRef<'_>) {
        if reply.message_authenticator().is_some() && !self.requires_message_authenticator() {
            self.signs.store(true, Ordering::Relaxed);
        }
    }
}

/// The clients of one configuration.
#[derive(Debug, Default)]
pub struct ClientTable {
    /// Most specific prefix first; equal prefixes keep file order.
    clients: Vec<RadiusClient>,
    /// The upstreams clients name.
    upstreams: Vec<Upstream>,
}

impl ClientTable {
    /// A table of these clients.
    pub fn new(mut clients: Vec<RadiusClient>) -> Self {
        clients.sort_by_key(|c| std::cmp::Reverse(c.address.prefix()));
        ClientTable {
            clients,
            upstreams: Vec::new(),
        }
    }

    /// With these upstreams.
    pub fn with_upstreams(mut self, upstreams: Vec<Upstream>) -> Self {
        self.upstreams = upstreams;
        self
    }

    /// The client named `name`.
    pub fn by_name(&self, name: &str) -> Option<&RadiusClient> {
        self.clients.iter().find(|c| c.name == name)
    }

    /// The upstream named `name`.
    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.name == name)
    }

    /// Reads every client's secret file. Fails on the first unusable one, naming the client,
    /// the file and the fix. Also returns warnings (weak secrets) to log.
    pub fn load(config: &RadiusConfig) -> Result<(Self, Vec<String>), Error> {
        let mut clients = Vec::with_capacity(config.client.len());
        let mut warnings = Vec::new();
        for c in &config.client {
            let name = c.name.get_ref().clone();
            let secret = match (&c.secret_file, c.member_hosts) {
                (_, true) => ClientSecret::MemberHosts,
                (Some(path), false) => {
                    let path = path.get_ref();
                    let secret = read_secret(path).map_err(|problem| Error::Secret {
                        client: name.clone(),
                        problem,
                    })?;
                    if secret.as_bytes().len() < WEAK_SECRET_LEN {
                        warnings.push(format!(
                            "RADIUS client {name:?}: the secret in {} is only {} bytes; use at least {WEAK_SECRET_LEN} random bytes (umask 077; head -c 32 /dev/urandom | base64 > {})",
                            path.display(),
                            secret.as_bytes().len(),
                            path.display()
                        ));
                    }
                    ClientSecret::Shared(secret)
                }
                // sparekey_conf::load refuses a client without either.
                (None, false) => {
                    return Err(Error::Secret {
                        client: name,
                        problem: "no secret-file".into(),
                    })
                }
            };
            clients.push(RadiusClient {
                name,
                address: c.address,
                service: c
                    .service
                    .as_ref()
                    .map(|s| s.get_ref().clone())
                    .unwrap_or_default(),
                secret,
                message_authenticator: match c.require_message_authenticator.get_ref() {
                    _ if c.member_hosts => AuthenticatorRule::Required,
                    MessageAuthenticatorRule::Required => AuthenticatorRule::Required,
                    MessageAuthenticatorRule::IfPresent => AuthenticatorRule::IfPresent,
                    MessageAuthenticatorRule::Auto => AuthenticatorRule::Auto {
                        seen: AtomicBool::new(false),
                    },
                },
                modes: ClientModes {
                    mode: *c.mode.get_ref(),
                    primary_pam_service: c.primary_pam_service().to_string(),
                    challenge_prompt: c.challenge_prompt().to_string(),
                    append_delimiter: c.append_delimiter().to_string(),
                    upstream: c.upstream.as_ref().map(|u| u.get_ref().clone()),
                    accounting: c.accounting,
                },
            });
        }
        let mut upstreams = Vec::with_capacity(config.upstream.len());
        for u in &config.upstream {
            let name = u.name.get_ref().clone();
            let problem = |problem: String| Error::Upstream {
                upstream: name.clone(),
                problem,
            };
            let secret = read_secret(u.secret_file.get_ref()).map_err(problem)?;
            let shown = u.address.get_ref();
            let (host, port) = sparekey_conf::split_server(shown).map_err(problem)?;
            let address = (host.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| problem(format!("cannot resolve address {shown:?}: {e}")))?
                .next()
                .ok_or_else(|| problem(format!("address {shown:?} resolves to nothing")))?;
            upstreams.push(Upstream {
                name,
                address,
                secret,
                timeout: Duration::from_secs(u.timeout.get_ref().as_secs()),
                retries: *u.retries.get_ref(),
                signs: AtomicBool::new(false),
            });
        }
        Ok((
            ClientTable::new(clients).with_upstreams(upstreams),
            warnings,
        ))
    }

    /// Keeps what "auto" clients of `previous` learnt (that they send Message-Authenticator)
    /// for the clients of this table with the same name and address.
    pub fn carry_over(&self, previous: &ClientTable) {
        for c in &self.clients {
            let AuthenticatorRule::Auto { seen } = &c.message_authenticator else {
                continue;
            };
            let learnt = previous.clients.iter().any(|p| {
                p.name == c.name && p.address == c.address && p.message_authenticator.seen()
            });
            if learnt {
                seen.store(true, Ordering::Relaxed);
            }
        }
        for u in &self.upstreams {
            if previous
                .upstream(&u.name)
                .is_some_and(|p| p.address == u.address && p.requires_message_authenticator())
            {
                u.signs.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The client `ip` belongs to: of all blocks containing it, the one with the longest prefix.
    pub fn lookup(&self, ip: IpAddr) -> Option<&RadiusClient> {
        self.clients.iter().find(|c| c.address.contains(ip))
    }

    /// How many clients there are.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// The clients' names, most specific address first.
    pub fn names(&self) -> Vec<&str> {
        self.clients.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Reads a shared secret from `path`: a regular file, private to root or this process's
/// user, not empty, at most [`MAX_SECRET_FILE_LEN`] bytes. Trailing newlines (as `echo` or
/// `base64` leave them) are not part of the secret. Everything read is zeroed after use.
pub fn read_secret(path: &Path) -> Result<SharedSecret, String> {
    let shown = path.display();
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot read secret file {shown}: {e}"))?;
    // Checked on the open file, so a swap between check and read is caught too.
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read secret file {shown}: {e}"))?;
    if let Some(problem) = sparekey_conf::secret_file_problem(path, &meta) {
        return Err(problem);
    }
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(format!(
            "secret file {shown} is owned by uid {}; expected root or uid {euid} (fix: chown root {shown})",
            meta.uid()
        ));
    }
    if meta.len() > MAX_SECRET_FILE_LEN {
        return Err(format!(
            "secret file {shown} is {} bytes; expected a shared secret of at most {MAX_SECRET_FILE_LEN} bytes",
            meta.len()
        ));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_SECRET_FILE_LEN as usize + 1));
    (&mut file)
        .take(MAX_SECRET_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read secret file {shown}: {e}"))?;
    let len = bytes
        .iter()
        .rposition(|&b| b != b'\n' && b != b'\r')
        .map_or(0, |i| i + 1);
    if len == 0 {
        return Err(format!(
            "secret file {shown} holds only line breaks; expected the shared secret (make one with: umask 077; head -c 32 /dev/urandom | base64 > {shown})"
        ));
    }
    SharedSecret::new(&bytes[..len]).map_err(|e| format!("secret file {shown}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn client(name: &str, address: &str) -> RadiusClient {
        RadiusClient {
            name: name.into(),
            address: address.parse().unwrap(),
            service: "vpn".into(),
            secret: ClientSecret::Shared(SharedSecret::new(b"0123456789abcdef").unwrap()),
            message_authenticator: AuthenticatorRule::Required,
            modes: ClientModes::default(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_whatever_the_file_order() {
        let table = ClientTable::new(vec![
            client("campus", "10.0.0.0/8"),
            client("everything", "0.0.0.0/0"),
            client("gw-net", "10.1.2.0/24"),
            client("gw", "10.1.2.3"),
            client("v6-net", "2001:db8::/32"),
            client("v6-gw", "2001:db8::7"),
        ]);
        let name = |s: &str| table.lookup(ip(s)).map(|c| c.name.as_str());
        assert_eq!(name("10.1.2.3"), Some("gw"));
        assert_eq!(name("10.1.2.4"), Some("gw-net"));
        assert_eq!(name("10.9.9.9"), Some("campus"));
        assert_eq!(name("192.0.2.1"), Some("everything"));
        assert_eq!(name("::ffff:10.1.2.3"), Some("gw"), "IPv4-mapped source");
        assert_eq!(name("2001:db8::7"), Some("v6-gw"));
        assert_eq!(name("2001:db8::8"), Some("v6-net"));
        assert_eq!(name("2001:db9::1"), None);
        assert_eq!(table.names()[..2], ["v6-gw", "gw"], "most specific first");
    }

    #[test]
    fn no_clients_match_nothing() {
        assert!(ClientTable::default().lookup(ip("127.0.0.1")).is_none());
    }

    fn secret_file(dir: &Path, text: &[u8], mode: u32) -> std::path::PathBuf {
        let p = dir.join("gw.secret");
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn secret_trailing_newlines_are_not_part_of_it() {
        let dir = tempfile::tempdir().unwrap();
        for text in [&b"s3cret\n"[..], b"s3cret\r\n", b"s3cret", b"s3cret\n\n"] {
            let p = secret_file(dir.path(), text, 0o600);
            assert_eq!(read_secret(&p).unwrap().as_bytes(), b"s3cret");
        }
        let p = secret_file(dir.path(), b" spaced secret \n", 0o600);
        assert_eq!(read_secret(&p).unwrap().as_bytes(), b" spaced secret ");
    }

    #[test]
    fn unsafe_or_useless_secret_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = secret_file(dir.path(), b"s3cret\n", 0o640);
        let e = read_secret(&p).unwrap_err();
        assert!(
            e.contains("has mode 0640") && e.contains("fix: chmod 600"),
            "{e}"
        );
        let p = secret_file(dir.path(), b"\n\n", 0o600);
        assert!(read_secret(&p)
            .unwrap_err()
            .contains("holds only line breaks"));
        let p = secret_file(dir.path(), &[b'x'; 2000], 0o600);
        assert!(read_secret(&p).unwrap_err().contains("is 2000 bytes"));
        let e = read_secret(&dir.path().join("missing")).unwrap_err();
        assert!(e.starts_with("cannot read secret file"), "{e}");
    }
}
