//! Audit events from a hot path, gathered between writes: the same event (everything but the
//! time) is kept once with a count and the first and last time, and the number of distinct
//! events per batch is capped, so a flood costs a bounded write however fast it comes.

use super::{Action, AuditEvent};
use crate::Time;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// Distinct events one batch holds before further ones are only counted.
pub const MAX_DISTINCT: usize = 4096;

#[derive(Debug, Clone)]
struct Tally {
    event: AuditEvent,
    count: u64,
    last: Time,
}

/// Events waiting to be written.
#[derive(Debug, Default)]
pub struct AuditBatch {
    /// Tallies in the order their events first came.
    tallies: Vec<Tally>,
    /// Fingerprint of an event (all but its time) to the tallies that have it.
    index: HashMap<u64, Vec<usize>>,
    hasher: RandomState,
    overflow: HashMap<&'static str, (Action, u64, Time, Time)>,
}

/// An event to add, borrowed: nothing is allocated when it repeats one already held.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    /// When.
    pub time: Time,
    /// What.
    pub action: Action,
    /// Who.
    pub actor: &'a str,
    /// Whom.
    pub subject: &'a str,
    /// Which credential.
    pub credential: Option<&'a str>,
    /// Which service.
    pub service: Option<&'a str>,
    /// From where.
    pub source: &'a str,
    /// Why.
    pub reason: Option<&'a str>,
}

impl EventRef<'_> {
    /// Appends [`AuditEvent::canonical`]'s bytes of this event to `out`.
    pub fn canonical_into(&self, out: &mut Vec<u8>) {
        let time = self.time.timestamp().to_string();
        let fields: [&str; 8] = [
            &time,
            self.action.as_str(),
            self.actor,
            self.subject,
            self.credential.unwrap_or(""),
            self.service.unwrap_or(""),
            self.source,
            self.reason.unwrap_or(""),
        ];
        for f in fields {
            out.extend_from_slice(&(f.len() as u32).to_be_bytes());
            out.extend_from_slice(f.as_bytes());
        }
    }

    fn same_as(&self, e: &AuditEvent) -> bool {
        self.action == e.action
            && self.actor == e.actor
            && self.subject == e.subject
            && self.credential == e.credential.as_deref()
            && self.service == e.service.as_deref()
            && self.source == e.source
            && self.reason == e.reason.as_deref()
    }

    fn to_event(self) -> AuditEvent {
        AuditEvent {
            seq: 0,
            time: self.time,
            action: self.action,
            actor: self.actor.to_string(),
            subject: self.subject.to_string(),
            credential: self.credential.map(str::to_string),
            service: self.service.map(str::to_string),
            source: self.source.to_string(),
            reason: self.reason.map(str::to_string),
        }
    }
}

impl AuditBatch {
    /// Adds one event.
    pub fn add(&mut self, e: EventRef<'_>) {
        let fingerprint = self.hasher.hash_one((
            e.action.as_str(),
            e.actor,
            e.subject,
            e.credential,
            e.service,
            e.source,
            e.reason,
        ));
        if let Some(slots) = self.index.get(&fingerprint) {
            if let Some(&i) = slots.iter().find(|&&i| e.same_as(&self.tallies[i].event)) {
                let t = &mut self.tallies[i];
                t.count += 1;
                t.last = t.last.max(e.time);
                return;
            }
        }
        if self.tallies.len() >= MAX_DISTINCT {
            let o = self
                .overflow
                .entry(e.action.as_str())
                .or_insert((e.action, 0, e.time, e.time));
            o.1 += 1;
            o.3 = o.3.max(e.time);
            return;
        }
        self.index
            .entry(fingerprint)
            .or_default()
            .push(self.tallies.len());
        self.tallies.push(Tally {
            event: e.to_event(),
            count: 1,
            last: e.time,
        });
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty() && self.overflow.is_empty()
    }

    /// Takes the events to write, in the order they first came. An event seen more than once
    /// says so in its reason: "wrong code (37 times, 12:00:01Z to 12:00:02Z)".
    pub fn drain(&mut self) -> Vec<AuditEvent> {
        let mut out = Vec::with_capacity(self.tallies.len() + self.overflow.len());
        self.index.clear();
        for t in self.tallies.drain(..) {
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

    fn failure(user: &str, at: i64) -> EventRef<'_> {
        EventRef {
            time: t(at),
            action: Action::Failure,
            actor: user,
            subject: user,
            credential: None,
            service: Some("vpn"),
            source: "radius client=gw",
            reason: Some("locked out"),
        }
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
            let user = format!("user{i}");
            b.add(failure(&user, 0));
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
