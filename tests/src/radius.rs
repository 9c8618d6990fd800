//! RADIUS in end-to-end tests: free UDP ports, secret files, `[radius]` sections, and the real
//! radclient and radtest (Debian's freeradius-utils) with their `-x` output parsed.

use std::fs;
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A port on `ip` that was free a moment ago (bound to port 0, then released).
pub fn free_udp_port(ip: &str) -> u16 {
    let s = UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("cannot bind {ip}: {e}"));
    s.local_addr().unwrap().port()
}

/// Writes `secret` (with a trailing newline, as `base64` leaves it) to `dir/name`, mode 0600.
pub fn write_secret(dir: &Path, name: &str, secret: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, format!("{secret}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// One `[[radius.client]]` entry.
#[derive(Debug, Clone)]
pub struct ClientEntry<'a> {
    /// Its name.
    pub name: &'a str,
    /// IP or CIDR block.
    pub address: &'a str,
    /// The secret file, relative to the site directory.
    pub secret_file: &'a str,
    /// The service policies match.
    pub service: &'a str,
}

/// A `[radius]` section listening on `listen` with `clients`.
pub fn section(listen: &[&str], clients: &[ClientEntry<'_>]) -> String {
    let quoted: Vec<String> = listen.iter().map(|l| format!("{l:?}")).collect();
    let mut s = format!("\n[radius]\nlisten = [{}]\n", quoted.join(", "));
    for c in clients {
        s.push_str(&format!(
            "\n[[radius.client]]\nname = {:?}\naddress = {:?}\nsecret-file = {:?}\nservice = {:?}\n",
            c.name, c.address, c.secret_file, c.service
        ));
    }
    s
}

/// Whether radclient and radtest are installed.
pub fn tools_installed() -> bool {
    ["radclient", "radtest"].iter().all(|t| {
        Command::new(t)
            .arg("-h")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    })
}

/// A reply as radclient prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// "Access-Accept", "Access-Reject", ...
    pub code: String,
    /// Attributes in wire order: (name, value without quotes).
    pub attrs: Vec<(String, String)>,
}

impl Reply {
    /// The value of the first attribute called `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a radclient or radtest run printed: the first reply received, if any, and all text.
#[derive(Debug)]
pub struct Run {
    /// The reply, or None when the server did not answer.
    pub reply: Option<Reply>,
    /// stdout and stderr, for assertion messages.
    pub text: String,
}

/// The reply of `run`, which must be `code` with Message-Authenticator first (as every
/// sparekeyd reply is).
pub fn expect_reply(run: &Run, code: &str) -> Reply {
    let reply = run
        .reply
        .clone()
        .unwrap_or_else(|| panic!("no reply:\n{}", run.text));
    assert_eq!(reply.code, code, "{}", run.text);
    assert_eq!(
        reply.attrs.first().map(|(n, _)| n.as_str()),
        Some("Message-Authenticator"),
        "Message-Authenticator first:\n{}",
        run.text
    );
    reply
}

/// Parses `radclient -x` output: the first "Received ..." line and its tab-indented attributes.
pub fn parse(text: &str) -> Option<Reply> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Received "));
    let code = lines.next()?.split_whitespace().nth(1)?.to_string();
    let attrs = lines
        .take_while(|l| l.starts_with('\t'))
        .filter_map(|l| l.trim().split_once(" = "))
        .map(|(n, v)| (n.to_string(), v.trim_matches('"').to_string()))
        .collect();
    Some(Reply { code, attrs })
}

fn run(cmd: &mut Command, input: &str) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run radclient (apt-get install freeradius-utils)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        reply: parse(&text),
        text,
    }
}

/// `radclient -x -r RETRIES -t TIMEOUT SERVER COMMAND SECRET` with `attributes` (one
/// "Name = value" a line) on stdin. Add "Message-Authenticator = 0x00" to send one.
pub fn radclient(
    server: &str,
    command: &str,
    secret: &str,
    attributes: &str,
    retries: u32,
    timeout: u32,
) -> Run {
    run(
        Command::new("radclient")
            .arg("-x")
            .arg("-r")
            .arg(retries.to_string())
            .arg("-t")
            .arg(timeout.to_string())
            .args([server, command, secret]),
        attributes,
    )
}

/// An Access-Request with Message-Authenticator for `user` and `password`, tried up to 3
/// times 2 seconds apart.
pub fn auth(server: &str, secret: &str, user: &str, password: &str) -> Run {
    let input = format!(
        "User-Name = \"{user}\"\nUser-Password = \"{password}\"\nNAS-Identifier = \"gw1.example\"\nCalling-Station-Id = \"203.0.113.7\"\nMessage-Authenticator = 0x00\n"
    );
    radclient(server, "auth", secret, &input, 3, 2)
}

/// `radtest USER PASSWORD SERVER 0 SECRET` (it adds Message-Authenticator).
pub fn radtest(user: &str, password: &str, server: &str, secret: &str) -> Run {
    run(
        Command::new("radtest").args([user, password, server, "0", secret]),
        "",
    )
}

/// Sends `datagram` from a fresh socket on `local` to `server` and waits up to `wait` for one
/// reply datagram.
pub fn exchange(local: &str, server: &str, datagram: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let s = UdpSocket::bind(local).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.send_to(datagram, server).unwrap();
    let mut buf = [0u8; 4096];
    s.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

/// The exact datagram radclient sends for `attributes`: it is sent to a socket of ours
/// standing in for the server (radclient then times out). Lets a test replay a real request.
pub fn capture_request(secret: &str, attributes: &str) -> Vec<u8> {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    fake.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let addr = fake.local_addr().unwrap().to_string();
    let (secret, attributes) = (secret.to_string(), attributes.to_string());
    let client = std::thread::spawn(move || radclient(&addr, "auth", &secret, &attributes, 1, 1));
    let mut buf = [0u8; 4096];
    let n = fake.recv(&mut buf).expect("radclient sent a request");
    let _ = client.join();
    buf[..n].to_vec()
}

/// A site (policy `policy`) answering RADIUS on 127.0.0.1 for one client, `vpn-gw` at
/// 127.0.0.1 with service `vpn` and `secret`, and that address.
pub fn loopback_site(policy: &str, secret: &str) -> (crate::site::Site, String) {
    let server = format!("127.0.0.1:{}", free_udp_port("127.0.0.1"));
    let clients = [ClientEntry {
        name: "vpn-gw",
        address: "127.0.0.1",
        secret_file: "vpn-gw.secret",
        service: "vpn",
    }];
    let site = crate::site::Site::with_config(&section(&[&server], &clients), policy);
    write_secret(site.dir.path(), "vpn-gw.secret", secret);
    (site, server)
}
