//! Accounting-Requests (RFC 2866) from a client with `accounting = true`: session start and
//! stop (and the NAS's accounting on and off) written to the audit log before the
//! Accounting-Response goes; interim updates answered without a record.

use super::{Arrival, Responder};
use crate::clients::RadiusClient;
use crate::source;
use crate::verifier::Verifier;
use sparekey_core::{Action, AuditEvent};
use sparekey_radius_codec::accounting::status;
use sparekey_radius_codec::{attr, Error as WireError, PacketRef, ReplyBuilder, SharedSecret};
use std::net::Ipv4Addr;

/// RFC 2866 §5.10's Acct-Terminate-Cause names, by value.
const TERMINATE_CAUSES: [&str; 18] = [
    "User-Request",
    "Lost-Carrier",
    "Lost-Service",
    "Idle-Timeout",
    "Session-Timeout",
    "Admin-Reset",
    "Admin-Reboot",
    "Port-Error",
    "NAS-Error",
    "NAS-Request",
    "NAS-Reboot",
    "Port-Unneeded",
    "Port-Preempted",
    "Port-Suspended",
    "Service-Unavailable",
    "Callback",
    "User-Error",
    "Host-Request",
];

fn integer(packet: &PacketRef<'_>, attr_type: u8) -> Option<u32> {
    let v = packet.attribute(attr_type)?;
    Some(u32::from_be_bytes(v.try_into().ok()?))
}

/// What an Accounting-Request says, worded for the audit log's reason; `None` for an
/// interim update (answered, not recorded). `Err` says why it cannot be recorded.
pub(crate) fn describe(packet: &PacketRef<'_>) -> Result<Option<String>, String> {
    let kind =
        integer(packet, attr::ACCT_STATUS_TYPE).ok_or("no Acct-Status-Type (or not 4 bytes)")?;
    let session = packet
        .attribute(attr::ACCT_SESSION_ID)
        .map_or_else(|| "-".into(), source::printable);
    let address = packet
        .attribute(attr::FRAMED_IP_ADDRESS)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map_or_else(|| "-".into(), |a| Ipv4Addr::from(a).to_string());
    let text = match kind {
        status::START => format!("session start, Acct-Session-Id={session} Framed-IP-Address={address}"),
        status::STOP => {
            let time = integer(packet, attr::ACCT_SESSION_TIME)
                .map_or_else(|| "-".into(), |t| format!("{t}s"));
            let cause = integer(packet, attr::ACCT_TERMINATE_CAUSE).map_or_else(
                || "-".to_string(),
                |c| {
                    usize::try_from(c)
                        .ok()
                        .and_then(|i| TERMINATE_CAUSES.get(i.wrapping_sub(1)))
                        .map_or_else(|| c.to_string(), |n| n.to_string())
                },
            );
            format!("session stop, Acct-Session-Id={session} Framed-IP-Address={address} Acct-Session-Time={time} Acct-Terminate-Cause={cause}")
        }
        status::INTERIM_UPDATE => return Ok(None),
        status::ACCOUNTING_ON => "accounting on (the NAS started; its earlier sessions are over)".into(),
        status::ACCOUNTING_OFF => "accounting off (the NAS stops)".into(),
        other => return Err(format!("Acct-Status-Type {other} is not one sparekeyd records (1 Start, 2 Stop, 3 Interim-Update, 7 Accounting-On, 8 Accounting-Off)")),
    };
    Ok(Some(text))
}

impl<V: Verifier> Responder<V> {
    /// Answers a verified Accounting-Request: its record first (start, stop, on, off),
    /// then the Accounting-Response. `None`: nothing is sent (it cannot be recorded, or
    /// the store failed), so the NAS sends it again or to its other server.
    pub(super) fn account(
        &mut self,
        client: &RadiusClient,
        secret: &SharedSecret,
        packet: &PacketRef<'_>,
        at: &Arrival<'_>,
    ) -> Option<Result<Vec<u8>, WireError>> {
        let what = match describe(packet) {
            Ok(what) => what,
            Err(why) => {
                self.note(
                    client,
                    at,
                    &format!("Accounting-Request not answered: {why}"),
                );
                return None;
            }
        };
        if let Some(what) = what {
            let user = packet
                .attribute(attr::USER_NAME)
                .map_or_else(|| "-".into(), source::printable);
            let event = AuditEvent::new(at.wall, Action::Accounting, &user, &user)
                .service(&client.service)
                .source(&source::describe(&client.name, packet))
                .reason(&what);
            if let Err(e) = self.verifier.record(event) {
                self.note(
                    client,
                    at,
                    &format!("Accounting-Request not answered, it cannot be recorded: {e}"),
                );
                return None;
            }
        }
        self.stats.accounted += 1;
        let mut b = ReplyBuilder::accounting_response(packet, secret);
        if let Err(e) = b.copy_proxy_state(packet) {
            return Some(Err(e));
        }
        Some(Ok(b.finish()))
    }
}
