//! The request mix: who logs in with what, what the server should answer, and the
//! Access-Requests built from it.

use sparekey_radius_codec::{attr, Error as WireError, RequestBuilder, SharedSecret};

/// The verdict a request should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Access-Accept.
    Accept,
    /// Access-Reject.
    Reject,
}

impl Expect {
    /// Parses "accept" or "reject".
    pub fn parse(s: &str) -> Option<Expect> {
        match s.trim().to_ascii_lowercase().as_str() {
            "accept" | "access-accept" => Some(Expect::Accept),
            "reject" | "access-reject" => Some(Expect::Reject),
            _ => None,
        }
    }
}

/// One kind of request in the mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// User-Name.
    pub user: String,
    /// User-Password (the code, as typed).
    pub password: String,
    /// The verdict expected, if known.
    pub expect: Option<Expect>,
}

/// Attributes every request carries besides User-Name and User-Password, as a VPN
/// concentrator sends them. Both servers get the same bytes.
#[derive(Debug, Clone)]
pub struct NasAttributes {
    /// NAS-Identifier.
    pub nas_identifier: String,
    /// Calling-Station-Id.
    pub calling_station: String,
}

impl Default for NasAttributes {
    fn default() -> Self {
        NasAttributes {
            nas_identifier: "bench-vpn-gw".into(),
            calling_station: "203.0.113.7".into(),
        }
    }
}

/// NAS-Port-Type Virtual (RFC 2865 §5.41), what VPN concentrators send.
const NAS_PORT_TYPE_VIRTUAL: u32 = 5;

/// Parses a requests file: one request per line, `user<TAB>code` with an optional third
/// field `accept` or `reject`. Empty lines and lines starting with `#` are skipped.
pub fn parse_requests(text: &str) -> Result<Vec<RequestSpec>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split('\t');
        let user = fields.next().unwrap_or_default();
        let Some(password) = fields.next() else {
            return Err(format!(
                "line {}: expected user<TAB>code[<TAB>accept|reject]",
                n + 1
            ));
        };
        let expect = match fields.next() {
            None | Some("") => None,
            Some(e) => Some(
                Expect::parse(e)
                    .ok_or_else(|| format!("line {}: {e:?} is neither accept nor reject", n + 1))?,
            ),
        };
        if fields.next().is_some() {
            return Err(format!("line {}: more than three fields", n + 1));
        }
        if user.is_empty() {
            return Err(format!("line {}: empty user name", n + 1));
        }
        out.push(RequestSpec {
            user: user.to_string(),
            password: password.to_string(),
            expect,
        });
    }
    if out.is_empty() {
        return Err("no requests in the file".into());
    }
    Ok(out)
}

/// `users` requests for PREFIX0, PREFIX1, ... with the same code.
pub fn generated(
    prefix: &str,
    users: usize,
    code: &str,
    expect: Option<Expect>,
) -> Vec<RequestSpec> {
    (0..users)
        .map(|i| RequestSpec {
            user: format!("{prefix}{i}"),
            password: code.to_string(),
            expect,
        })
        .collect()
}

/// Builds the Access-Request for `spec`: Message-Authenticator first, User-Name,
/// User-Password, NAS-Identifier, NAS-Port-Type, Calling-Station-Id.
pub fn build_request(
    spec: &RequestSpec,
    nas: &NasAttributes,
    identifier: u8,
    authenticator: [u8; 16],
    secret: &SharedSecret,
) -> Result<Vec<u8>, WireError> {
    let mut b = RequestBuilder::access_request(identifier, authenticator, secret);
    b.add_str(attr::USER_NAME, &spec.user)?
        .add_user_password(spec.password.as_bytes())?
        .add_str(attr::NAS_IDENTIFIER, &nas.nas_identifier)?
        .add_u32(attr::NAS_PORT_TYPE, NAS_PORT_TYPE_VIRTUAL)?
        .add_str(attr::CALLING_STATION_ID, &nas.calling_station)?;
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparekey_radius_codec::{Code, MessageAuthenticatorPolicy, PacketRef};

    #[test]
    fn parses_files() {
        let specs =
            parse_requests("# comment\nalice\t12345-67890\n\nbob\t1\treject\ncarol\tx\taccept\r\n")
                .unwrap();
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[0].user, "alice");
        assert_eq!(specs[0].password, "12345-67890");
        assert_eq!(specs[0].expect, None);
        assert_eq!(specs[1].expect, Some(Expect::Reject));
        assert_eq!(specs[2].expect, Some(Expect::Accept));
        assert!(parse_requests("alice\n").unwrap_err().contains("line 1"));
        assert!(parse_requests("a\tb\tmaybe\n")
            .unwrap_err()
            .contains("neither"));
        assert!(parse_requests("\n# only comments\n").is_err());
    }

    #[test]
    fn generates_users() {
        let specs = generated("u", 3, "000", Some(Expect::Reject));
        assert_eq!(
            specs.iter().map(|s| s.user.as_str()).collect::<Vec<_>>(),
            ["u0", "u1", "u2"]
        );
        assert!(specs.iter().all(|s| s.password == "000"));
    }

    #[test]
    fn built_request_verifies_and_carries_the_code() {
        let secret = SharedSecret::new(b"bench-secret").unwrap();
        let spec = RequestSpec {
            user: "alice".into(),
            password: "12345-67890".into(),
            expect: None,
        };
        let p = build_request(&spec, &NasAttributes::default(), 77, [3; 16], &secret).unwrap();
        let d = PacketRef::decode(&p).unwrap();
        assert_eq!(d.code(), Code::AccessRequest);
        assert_eq!(d.identifier(), 77);
        assert_eq!(
            d.message_authenticator_offset(),
            Some(20),
            "Message-Authenticator first"
        );
        d.verify_request(&secret, MessageAuthenticatorPolicy::Required)
            .unwrap();
        assert_eq!(d.attribute(attr::USER_NAME), Some(&b"alice"[..]));
        assert_eq!(
            d.user_password(&secret).unwrap().unwrap().as_bytes(),
            b"12345-67890"
        );
    }
}
