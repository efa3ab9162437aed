//! The SFU path's rules without I/O: which m-line of the subscriber connection carries
//! which member's which stream, from the server's `sfu:offer` lists.
//!
//! Janus reuses m-lines: when a member leaves and another publishes, an m-line may carry a
//! new feed without webrtc-rs announcing a new track. So media is routed by mid from the
//! latest list, and a mid whose (member, source) changes is unbound and bound again, which
//! restarts its depacketizer and decoder (they wait for the new feed's keyframe).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use huddle_protocol::{PublishStream, StreamSource, SubscribedStream};

use crate::media::stream::StreamKind;

/// What an m-line carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub from: String,
    pub kind: StreamKind,
}

/// A change to what is received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Stop receiving on `mid` (its feed went or changed).
    Unbind { mid: String },
    /// Receive `mid` as `binding`.
    Bind { mid: String, binding: Binding },
}

/// The subscriber connection's m-lines, as the latest offer described them.
#[derive(Debug, Default)]
pub struct Routing {
    bound: BTreeMap<String, Binding>,
}

impl Routing {
    /// Applies an offer's stream list; returns unbinds first, then binds.
    pub fn apply(&mut self, streams: &[SubscribedStream]) -> Vec<Route> {
        let mut wanted = BTreeMap::new();
        for s in streams.iter().filter(|s| s.active) {
            let (Some(from), Some(kind)) = (&s.from, kind_of(&s.kind, s.source)) else {
                continue;
            };
            wanted.insert(
                s.mid.clone(),
                Binding {
                    from: from.clone(),
                    kind,
                },
            );
        }
        let mut routes = Vec::new();
        for (mid, old) in &self.bound {
            if wanted.get(mid) != Some(old) {
                routes.push(Route::Unbind { mid: mid.clone() });
            }
        }
        for (mid, new) in &wanted {
            if self.bound.get(mid) != Some(new) {
                routes.push(Route::Bind {
                    mid: mid.clone(),
                    binding: new.clone(),
                });
            }
        }
        self.bound = wanted;
        routes
    }

    /// What `mid` carries now.
    pub fn binding(&self, mid: &str) -> Option<&Binding> {
        self.bound.get(mid)
    }

    pub fn clear(&mut self) {
        self.bound.clear();
    }

    /// The members whose camera an m-line carries.
    pub fn cameras(&self) -> BTreeSet<String> {
        self.bound
            .values()
            .filter(|b| b.kind == StreamKind::Video)
            .map(|b| b.from.clone())
            .collect()
    }
}

/// Which cameras the application shows (the others are paused at the SFU: `sfu:view`).
/// Audio and screens always flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CameraView {
    /// Every camera (the default: the CLI has no screen to run out of).
    #[default]
    All,
    /// Only these members' cameras, named by member id or by email.
    Only(BTreeSet<String>),
}

/// What `sfu:view` last said, so it is sent only when the shown cameras change.
#[derive(Debug, Default)]
pub struct ViewSync {
    sent: Option<BTreeSet<String>>,
}

impl ViewSync {
    /// The `sfu:view` list to send now, if any. `cameras`: (id, email) of every member
    /// whose camera we are subscribed to. Nothing is sent while every camera is shown and
    /// nothing was ever paused (the SFU's default is every camera).
    pub fn next(&mut self, view: &CameraView, cameras: &[(String, String)]) -> Option<Vec<String>> {
        let shown: BTreeSet<String> = cameras
            .iter()
            .filter(|(id, email)| match view {
                CameraView::All => true,
                CameraView::Only(names) => names.contains(id) || names.contains(email),
            })
            .map(|(id, _)| id.clone())
            .collect();
        if self.sent.is_none() && *view == CameraView::All {
            return None;
        }
        if self.sent.as_ref() == Some(&shown) {
            return None;
        }
        self.sent = Some(shown.clone());
        Some(shown.into_iter().collect())
    }
}

fn kind_of(kind: &str, source: Option<StreamSource>) -> Option<StreamKind> {
    match (kind, source) {
        ("audio", _) => Some(StreamKind::Audio),
        ("video", Some(StreamSource::Screen)) => Some(StreamKind::Screen),
        ("video", _) => Some(StreamKind::Video),
        _ => None,
    }
}

/// The `streams` of an `sfu:publish`: our m-lines by what they carry.
pub fn publication(
    camera: Option<String>,
    microphone: Option<String>,
    screen: Option<String>,
) -> Vec<PublishStream> {
    [
        (camera, StreamSource::Camera),
        (microphone, StreamSource::Microphone),
        (screen, StreamSource::Screen),
    ]
    .into_iter()
    .filter_map(|(mid, source)| mid.map(|mid| PublishStream { mid, source }))
    .collect()
}

/// Retries of a first publication the SFU refused. Janus can refuse one for a passing
/// reason (its ICE agent failed to gather: "Error setting ICE locally"); without a retry
/// the member stays unseen by everyone for the whole meeting.
#[derive(Debug, Default)]
pub struct PublishRetry {
    failures: u32,
    next_at: Option<Instant>,
}

impl PublishRetry {
    /// Attempts after the first before giving up (1 + 2 + 4 + 8 s of waiting).
    pub const MAX_RETRIES: u32 = 4;

    /// A first publication failed at `now`: when to try again, or `None` to give up.
    pub fn failed(&mut self, now: Instant) -> Option<Instant> {
        self.failures += 1;
        self.next_at = (self.failures <= Self::MAX_RETRIES)
            .then(|| now + Duration::from_secs(1 << (self.failures - 1)));
        self.next_at
    }

    /// Whether a retry is due at `now` (then it is no longer pending).
    pub fn take_due(&mut self, now: Instant) -> bool {
        let due = self.next_at.is_some_and(|at| at <= now);
        if due {
            self.next_at = None;
        }
        due
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_is_sent_when_the_shown_cameras_change() {
        let cams = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let only = |v: &[&str]| CameraView::Only(v.iter().map(|s| s.to_string()).collect());
        let mut sync = ViewSync::default();
        let two = cams(&[("a", "a@x"), ("b", "b@x")]);
        assert_eq!(sync.next(&CameraView::All, &two), None, "the SFU's default");
        assert_eq!(
            sync.next(&only(&["a@x"]), &two),
            Some(vec!["a".to_string()])
        );
        assert_eq!(sync.next(&only(&["a@x"]), &two), None, "unchanged");
        // c publishes: not shown, nothing changes for the SFU.
        let three = cams(&[("a", "a@x"), ("b", "b@x"), ("c", "c@x")]);
        assert_eq!(sync.next(&only(&["a@x"]), &three), None);
        // Back to every camera: the SFU must be told.
        assert_eq!(
            sync.next(&CameraView::All, &three),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        // A newcomer under "all" is added to the list (the SFU pauses unnamed cameras).
        let four = cams(&[("a", "a@x"), ("b", "b@x"), ("c", "c@x"), ("d", "d@x")]);
        assert_eq!(sync.next(&CameraView::All, &four).map(|v| v.len()), Some(4));
        assert_eq!(
            sync.next(&only(&["b", "zz"]), &four),
            Some(vec!["b".to_string()])
        );
    }

    #[test]
    fn a_refused_publication_is_retried_with_backoff_then_given_up() {
        let t0 = Instant::now();
        let mut r = PublishRetry::default();
        assert!(!r.take_due(t0));
        let at = r.failed(t0).expect("a retry");
        assert_eq!(at, t0 + Duration::from_secs(1));
        assert!(!r.take_due(t0 + Duration::from_millis(999)));
        assert!(r.take_due(at));
        assert!(!r.take_due(at), "taken once");
        let waits: Vec<_> = (0..3)
            .map(|_| r.failed(t0).map(|a| a - t0).expect("a retry"))
            .collect();
        assert_eq!(
            waits,
            [2, 4, 8].map(Duration::from_secs).to_vec(),
            "doubling"
        );
        assert_eq!(
            r.failed(t0),
            None,
            "given up after {} retries",
            PublishRetry::MAX_RETRIES
        );
        assert!(!r.take_due(t0 + Duration::from_secs(60)));
        assert_eq!(r.failures(), 5);
    }

    fn stream(
        mid: &str,
        kind: &str,
        from: Option<&str>,
        source: Option<StreamSource>,
    ) -> SubscribedStream {
        SubscribedStream {
            mid: mid.into(),
            kind: kind.into(),
            from: from.map(Into::into),
            source,
            active: from.is_some(),
        }
    }

    fn bind(mid: &str, from: &str, kind: StreamKind) -> Route {
        Route::Bind {
            mid: mid.into(),
            binding: Binding {
                from: from.into(),
                kind,
            },
        }
    }

    #[test]
    fn streams_are_bound_by_mid_and_reused_mlines_rebound() {
        let mut r = Routing::default();
        let first = r.apply(&[
            stream("0", "video", Some("a"), Some(StreamSource::Camera)),
            stream("1", "audio", Some("a"), Some(StreamSource::Microphone)),
        ]);
        assert_eq!(
            first,
            vec![
                bind("0", "a", StreamKind::Video),
                bind("1", "a", StreamKind::Audio)
            ]
        );
        // The same list again changes nothing.
        assert!(
            r.apply(&[
                stream("0", "video", Some("a"), Some(StreamSource::Camera)),
                stream("1", "audio", Some("a"), Some(StreamSource::Microphone)),
            ])
            .is_empty()
        );
        // a left: its m-lines go inactive.
        let gone = r.apply(&[
            stream("0", "video", None, None),
            stream("1", "audio", None, None),
        ]);
        assert_eq!(
            gone,
            vec![
                Route::Unbind { mid: "0".into() },
                Route::Unbind { mid: "1".into() }
            ]
        );
        assert_eq!(r.binding("0"), None);
        // b publishes: Janus reuses mid 0 for its camera, adds its screen on mid 2.
        let reused = r.apply(&[
            stream("0", "video", Some("b"), Some(StreamSource::Camera)),
            stream("1", "audio", None, None),
            stream("2", "video", Some("b"), Some(StreamSource::Screen)),
        ]);
        assert_eq!(
            reused,
            vec![
                bind("0", "b", StreamKind::Video),
                bind("2", "b", StreamKind::Screen)
            ]
        );
        assert_eq!(r.binding("0").map(|b| b.from.as_str()), Some("b"));
    }

    #[test]
    fn a_mid_that_changes_feed_without_going_inactive_is_rebound() {
        let mut r = Routing::default();
        r.apply(&[stream("0", "video", Some("a"), Some(StreamSource::Camera))]);
        assert_eq!(
            r.apply(&[stream("0", "video", Some("c"), Some(StreamSource::Camera))]),
            vec![
                Route::Unbind { mid: "0".into() },
                bind("0", "c", StreamKind::Video)
            ]
        );
    }

    #[test]
    fn a_publication_names_what_we_have() {
        assert_eq!(
            publication(Some("0".into()), Some("1".into()), None),
            vec![
                PublishStream {
                    mid: "0".into(),
                    source: StreamSource::Camera
                },
                PublishStream {
                    mid: "1".into(),
                    source: StreamSource::Microphone
                }
            ]
        );
        assert!(publication(None, None, None).is_empty());
    }
}
