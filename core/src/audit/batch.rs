//! Audit events from a hot path, gathered between writes: the same event (everything but the
//! time) is kept once with a count and the first and last time, and the number of distinct
//! events per batch is capped, so a flood costs a bounded write however fast it comes.

use super::{Action, AuditEvent};
use crate::Time;
use std::collections::HashMap;

/// Distinct events one batch holds before further ones are only counted.
pub const MAX_DISTINCT: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    action: &'static str,
    actor: String,
    subject: String,
    credential: Option<String>,
    service: Option<String>,
    source: String,
    reason: Option<String>,
}

#[derive(Debug, Clone)]
struct Tally {
    event: AuditEvent,
    count: u64,
    last: Time,
}

/// Events waiting to be written.
#[derive(Debug, Default)]
pub struct AuditBatch {
    tallies: HashMap<Key, Tally>,
    order: Vec<Key>,
    overflow: HashMap<&'static str, (Action, u64, Time, Time)>,
}

impl AuditBatch {
    /// Adds one event.
    pub fn add(&mut self, event: AuditEvent) {
        let key = Key {
            action: event.action.as_str(),
            actor: event.actor.clone(),
            subject: event.subject.clone(),
            credential: event.credential.clone(),
            service: event.service.clone(),
            source: event.source.clone(),
            reason: event.reason.clone(),
        };
        if let Some(t) = self.tallies.get_mut(&key) {
            t.count += 1;
            t.last = t.last.max(event.time);
            return;
        }
        if self.tallies.len() >= MAX_DISTINCT {
            let o = self.overflow.entry(event.action.as_str()).or_insert((
                event.action,
                0,
                event.time,
                event.time,
            ));
            o.1 += 1;
            o.3 = o.3.max(event.time);
            return;
        }
        self.order.push(key.clone());
        let last = event.time;
        self.tallies.insert(
            key,
            Tally {
                event,
                count: 1,
                last,
            },
        );
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty() && self.overflow.is_empty()
    }

    /// Takes the events to write, in the order they first came. An event seen more than once
    /// says so in its reason: "wrong code (37 times, 12:00:01Z to 12:00:02Z)".
    pub fn drain(&mut self) -> Vec<AuditEvent> {
        let mut out = Vec::with_capacity(self.order.len() + self.overflow.len());
        for key in self.order.drain(..) {
            let Some(t) = self.tallies.remove(&key) else {
                continue;
            };
            let mut e = t.event;
            if t.count > 1 {
                let times = format!(
                    "{} times, {} to {}",
                    t.count,
                    crate::rfc3339(e.time),
                    crate::rfc3339(t.last)
                );
                e.reason = Some(match e.reason {
                    Some(r) => format!("{r} ({times})"),
                    None => times,
                });
            }
            out.push(e);
        }
        self.tallies.clear();
        let mut overflow: Vec<_> = self.overflow.drain().collect();
        overflow.sort_by_key(|(name, _)| *name);
        for (_, (action, count, first, last)) in overflow {
            let mut e = AuditEvent::new(first, action, "-", "*").source("sparekeyd");
            e.reason = Some(format!(
                "{count} more {} events from {} to {} not itemised: over {MAX_DISTINCT} distinct in one batch",
                action.as_str(),
                crate::rfc3339(first),
                crate::rfc3339(last)
            ));
            out.push(e);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn t(s: i64) -> Time {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn failure(user: &str, at: i64) -> AuditEvent {
        AuditEvent::new(t(at), Action::Failure, user, user)
            .service("vpn")
            .source("radius client=gw")
            .reason("locked out")
    }

    #[test]
    fn repeats_become_one_event_with_a_count() {
        let mut b = AuditBatch::default();
        for s in 0..37 {
            b.add(failure("alice", s % 3));
        }
        b.add(failure("bob", 1));
        let events = b.drain();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0].reason.as_deref(),
            Some("locked out (37 times, 2026-11-21T12:00:00Z to 2026-11-21T12:00:02Z)")
        );
        assert_eq!(events[1].subject, "bob");
        assert_eq!(events[1].reason.as_deref(), Some("locked out"));
        assert!(b.is_empty() && b.drain().is_empty());
    }

    #[test]
    fn a_flood_of_distinct_events_is_capped() {
        let mut b = AuditBatch::default();
        for i in 0..(MAX_DISTINCT + 500) {
            b.add(failure(&format!("user{i}"), 0));
        }
        let events = b.drain();
        assert_eq!(events.len(), MAX_DISTINCT + 1);
        let last = events.last().unwrap();
        assert!(
            last.reason
                .as_deref()
                .unwrap()
                .starts_with("500 more failure events"),
            "{last:?}"
        );
    }
}
