//! One member's subscription (its receive-only connection): which streams of the others it
//! should receive, and the one renegotiation at a time that gets it there. Sans-IO: the
//! shell tells it what the room publishes and what Janus and the client said; it answers
//! with the next request to make.
//!
//! Rules (design §3.3): the server alone decides renegotiations (Janus's `autoupdate` is
//! off); at most one offer is outstanding per client, changes meanwhile wait and go out
//! as one `update` once the client's answer is in; an answer to an older offer is stale;
//! Janus's word on what the subscription holds (the streams of its last offer) is the
//! truth, so a request that failed or did half of what was asked heals at the next change.

use std::collections::BTreeSet;

/// A stream of the room: the publisher (its feed id) and its mid in that feed.
pub type FeedStream = (String, String);

/// The next request to Janus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Open the subscription with these streams (Janus offers).
    Join(Vec<FeedStream>),
    /// Change it (Janus offers again, or says nothing changed, or defers).
    Update {
        subscribe: Vec<FeedStream>,
        unsubscribe: Vec<FeedStream>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No subscriber handle yet (nothing to receive so far).
    Closed,
    /// A join or update is in flight at Janus.
    Asking,
    /// Janus deferred an update; its offer comes as an `updated` event.
    Deferred,
    /// Janus's offer `version` is with the client.
    Offered(u64),
    /// The client answered `version`; `start` is in flight at Janus.
    Starting(u64),
    /// Negotiated; nothing outstanding.
    Stable,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("answer to offer {got}, the latest is {latest:?}")]
    Stale { got: u64, latest: Option<u64> },
}

#[derive(Debug)]
pub struct Subscription {
    want: BTreeSet<FeedStream>,
    have: BTreeSet<FeedStream>,
    phase: Phase,
    version: u64,
}

impl Default for Subscription {
    fn default() -> Self {
        Self::new()
    }
}

impl Subscription {
    pub fn new() -> Self {
        Subscription {
            want: BTreeSet::new(),
            have: BTreeSet::new(),
            phase: Phase::Closed,
            version: 0,
        }
    }

    /// The streams the member should receive now. Returns the request to make, if one
    /// can go now; otherwise the change waits for the outstanding negotiation.
    pub fn want(&mut self, want: BTreeSet<FeedStream>) -> Option<Step> {
        self.want = want;
        self.next()
    }

    /// Janus offered (a join's `attached`, an update's `updated`, a deferred `updated`
    /// event, an ICE restart) with the subscription now holding `have`. Returns the
    /// version of the `sfu:offer` to send.
    pub fn offered(&mut self, have: BTreeSet<FeedStream>) -> u64 {
        self.have = have;
        self.version += 1;
        self.phase = Phase::Offered(self.version);
        self.version
    }

    /// Janus accepted an update but had nothing to negotiate. Not retried by itself
    /// (Janus would say the same): the next change asks again.
    pub fn unchanged(&mut self) {
        self.failed();
    }

    /// Janus deferred an update (`updating`): its offer follows as an event.
    pub fn deferred(&mut self) {
        self.phase = Phase::Deferred;
    }

    /// A join or update failed at Janus: back to where it was (it is retried at the next
    /// change, against Janus's last word).
    pub fn failed(&mut self) {
        self.phase = if self.version == 0 {
            Phase::Closed
        } else {
            Phase::Stable
        };
    }

    /// The client's answer to offer `version`: `Ok` means send it to Janus (`start`).
    pub fn answered(&mut self, version: u64) -> Result<(), AnswerError> {
        match self.phase {
            Phase::Offered(v) if v == version => {
                self.phase = Phase::Starting(v);
                Ok(())
            }
            _ => Err(AnswerError::Stale {
                got: version,
                latest: (self.version > 0).then_some(self.version),
            }),
        }
    }

    /// Janus took the answer: negotiated. Returns the change that waited, if any.
    pub fn started(&mut self) -> Option<Step> {
        self.phase = Phase::Stable;
        self.next()
    }

    /// The latest offer's version, once there is one.
    pub fn version(&self) -> Option<u64> {
        (self.version > 0).then_some(self.version)
    }

    /// Whether a subscriber handle exists at Janus.
    pub fn opened(&self) -> bool {
        self.version > 0 || matches!(self.phase, Phase::Asking | Phase::Deferred)
    }

    /// Whether nothing is outstanding and the subscription holds what it should.
    pub fn settled(&self) -> bool {
        matches!(self.phase, Phase::Stable | Phase::Closed) && self.want == self.have
    }

    fn next(&mut self) -> Option<Step> {
        if !matches!(self.phase, Phase::Stable | Phase::Closed) || self.want == self.have {
            return None;
        }
        let subscribe: Vec<FeedStream> = self.want.difference(&self.have).cloned().collect();
        let unsubscribe: Vec<FeedStream> = self.have.difference(&self.want).cloned().collect();
        let step = if self.phase == Phase::Closed {
            if subscribe.is_empty() {
                return None;
            }
            Step::Join(subscribe)
        } else {
            Step::Update {
                subscribe,
                unsubscribe,
            }
        };
        self.phase = Phase::Asking;
        Some(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(items: &[(&str, &str)]) -> BTreeSet<FeedStream> {
        items
            .iter()
            .map(|(f, m)| (f.to_string(), m.to_string()))
            .collect()
    }

    fn v(items: &[(&str, &str)]) -> Vec<FeedStream> {
        s(items).into_iter().collect()
    }

    #[test]
    fn the_first_streams_open_the_subscription() {
        let mut sub = Subscription::new();
        assert_eq!(sub.want(s(&[])), None, "nothing to receive: no handle");
        assert_eq!(
            sub.want(s(&[("a", "0"), ("a", "1")])),
            Some(Step::Join(v(&[("a", "0"), ("a", "1")])))
        );
        let version = sub.offered(s(&[("a", "0"), ("a", "1")]));
        assert_eq!(version, 1);
        assert_eq!(sub.answered(1), Ok(()));
        assert_eq!(sub.started(), None);
        assert!(sub.settled());
    }

    #[test]
    fn changes_during_a_negotiation_wait_and_go_out_as_one_update() {
        let mut sub = Subscription::new();
        sub.want(s(&[("a", "0")]));
        sub.offered(s(&[("a", "0")]));
        // b and c publish, a leaves, all while offer 1 is with the client.
        assert_eq!(sub.want(s(&[("a", "0"), ("b", "0")])), None);
        assert_eq!(sub.want(s(&[("b", "0"), ("c", "0")])), None);
        sub.answered(1).unwrap();
        assert_eq!(
            sub.started(),
            Some(Step::Update {
                subscribe: v(&[("b", "0"), ("c", "0")]),
                unsubscribe: v(&[("a", "0")]),
            })
        );
        // Nothing else goes while that update is at Janus.
        assert_eq!(sub.want(s(&[("c", "0")])), None);
        assert_eq!(sub.offered(s(&[("b", "0"), ("c", "0")])), 2);
        sub.answered(2).unwrap();
        assert_eq!(
            sub.started(),
            Some(Step::Update {
                subscribe: vec![],
                unsubscribe: v(&[("b", "0")]),
            })
        );
    }

    #[test]
    fn stale_answers_change_nothing() {
        let mut sub = Subscription::new();
        assert_eq!(
            sub.answered(1),
            Err(AnswerError::Stale {
                got: 1,
                latest: None
            })
        );
        sub.want(s(&[("a", "0")]));
        sub.offered(s(&[("a", "0")]));
        sub.answered(1).unwrap();
        sub.want(s(&[("a", "0"), ("b", "0")]));
        sub.started();
        sub.offered(s(&[("a", "0"), ("b", "0")]));
        assert_eq!(
            sub.answered(1),
            Err(AnswerError::Stale {
                got: 1,
                latest: Some(2)
            })
        );
        assert_eq!(sub.answered(2), Ok(()));
        assert_eq!(
            sub.answered(2),
            Err(AnswerError::Stale {
                got: 2,
                latest: Some(2)
            }),
            "one answer per offer"
        );
    }

    #[test]
    fn deferred_updates_wait_for_janus_offer() {
        let mut sub = Subscription::new();
        sub.want(s(&[("a", "0")]));
        sub.offered(s(&[("a", "0")]));
        sub.answered(1).unwrap();
        sub.started();
        assert!(matches!(
            sub.want(s(&[("a", "0"), ("b", "0")])),
            Some(Step::Update { .. })
        ));
        sub.deferred();
        assert_eq!(sub.want(s(&[("a", "0"), ("b", "0"), ("c", "0")])), None);
        assert_eq!(sub.offered(s(&[("a", "0"), ("b", "0")])), 2);
        sub.answered(2).unwrap();
        assert_eq!(
            sub.started(),
            Some(Step::Update {
                subscribe: v(&[("c", "0")]),
                unsubscribe: vec![]
            })
        );
    }

    #[test]
    fn a_failed_request_heals_at_the_next_change_and_duplicates_are_harmless() {
        let mut sub = Subscription::new();
        sub.want(s(&[("a", "0")]));
        sub.offered(s(&[("a", "0")]));
        sub.answered(1).unwrap();
        sub.started();
        // b published and left at once: Janus refuses the subscribe (no such feed).
        assert!(sub.want(s(&[("a", "0"), ("b", "0")])).is_some());
        sub.failed();
        // The feed's departure (maybe announced twice) brings it back to what Janus has.
        assert_eq!(sub.want(s(&[("a", "0")])), None);
        assert_eq!(sub.want(s(&[("a", "0")])), None);
        assert!(sub.settled());
        // Janus did only part of an update: the rest is asked again after the answer.
        assert!(sub.want(s(&[("a", "0"), ("c", "0"), ("d", "0")])).is_some());
        sub.offered(s(&[("a", "0"), ("c", "0")]));
        sub.answered(2).unwrap();
        assert_eq!(
            sub.started(),
            Some(Step::Update {
                subscribe: v(&[("d", "0")]),
                unsubscribe: vec![]
            })
        );
        sub.unchanged();
        assert!(!sub.settled());
    }

    #[test]
    fn a_failed_join_leaves_no_handle_behind() {
        let mut sub = Subscription::new();
        assert!(matches!(sub.want(s(&[("a", "0")])), Some(Step::Join(_))));
        sub.failed();
        assert!(!sub.opened());
        assert!(matches!(sub.want(s(&[("a", "0")])), Some(Step::Join(_))));
    }
}
