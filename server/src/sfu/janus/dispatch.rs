//! The transaction table: which request each frame from Janus answers, and where the
//! frames that answer nothing (a plugin's own events, PeerConnection news) go.
//!
//! Sans-IO: no sockets, no clock (deadlines come in as `Instant`s), no channels (a waiter is
//! any `W`); the connection task owns one table and acts on what [`Transactions::route`]
//! decides.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::error::{ApiErrorCode, JanusError, SessionLoss};
use super::message::{
    Incoming, Jsep, PluginData, ServerInfo, Settle, TrickleCandidate, Unreadable,
};

/// A settled request's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `success`: `id` is the new session's or handle's id for `create` / `attach`.
    Success {
        id: Option<u64>,
    },
    Ack,
    ServerInfo(ServerInfo),
    /// A plugin's answer (at once, or as the event that settles an asynchronous request).
    Plugin {
        data: Value,
        jsep: Option<Jsep>,
    },
}

/// What a handle hears without asking.
#[derive(Debug, Clone, PartialEq)]
pub enum HandleEvent {
    /// The plugin speaks on its own (e.g. the VideoRoom's `publishers`, or an offer
    /// to renegotiate a subscription).
    Plugin { data: Value, jsep: Option<Jsep> },
    /// Janus's own word on the handle's peer connection, the same whatever the plugin.
    Link(LinkEvent),
}

/// What Janus says of a handle's peer connection (not its plugin).
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    WebrtcUp,
    Media {
        kind: String,
        mid: Option<String>,
        receiving: bool,
    },
    SlowLink {
        uplink: bool,
        media: Option<String>,
        mid: Option<String>,
        lost: Option<u64>,
    },
    Hangup {
        reason: Option<String>,
    },
    Trickle(TrickleCandidate),
    /// Janus detached the handle (or its session went).
    Detached,
    SessionLost(SessionLoss),
}

/// What to do with one frame from Janus.
#[derive(Debug)]
pub enum Routed<W> {
    /// It settles a request: hand the result to its waiter.
    Settled {
        waiter: W,
        result: Result<Reply, JanusError>,
    },
    /// An asynchronous plugin request was accepted; its answer comes later.
    Accepted,
    /// It is news for a handle.
    ToHandle {
        session_id: Option<u64>,
        handle_id: u64,
        event: HandleEvent,
    },
    /// Janus dropped a session for inactivity.
    SessionTimedOut { session_id: u64 },
    /// Nothing to do (an answer nobody waits for any more, something unreadable).
    Ignored { why: String },
}

struct Pending<W> {
    name: &'static str,
    settle: Settle,
    waiter: W,
    deadline: Instant,
    timeout: Duration,
}

/// Requests waiting for Janus, by transaction id.
pub struct Transactions<W> {
    next: u64,
    pending: HashMap<String, Pending<W>>,
}

impl<W> Default for Transactions<W> {
    fn default() -> Self {
        Transactions {
            next: 0,
            pending: HashMap::new(),
        }
    }
}

impl<W> Transactions<W> {
    /// Registers a request; returns the transaction id to send with it.
    pub fn begin(
        &mut self,
        name: &'static str,
        settle: Settle,
        waiter: W,
        now: Instant,
        timeout: Duration,
    ) -> String {
        self.next += 1;
        let transaction = format!("h{}", self.next);
        self.pending.insert(
            transaction.clone(),
            Pending {
                name,
                settle,
                waiter,
                deadline: now + timeout,
                timeout,
            },
        );
        transaction
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Decides what one frame means.
    pub fn route(&mut self, frame: Incoming) -> Routed<W> {
        if let Some(tx) = frame.transaction().map(str::to_owned)
            && let Some(pending) = self.pending.get(&tx)
        {
            let (name, settle) = (pending.name, pending.settle);
            let outcome = match (&frame, settle) {
                (Incoming::Error { error, .. }, _) => Some(Err(JanusError::Api {
                    request: name,
                    code: ApiErrorCode::from_code(error.code),
                    reason: error.reason.clone(),
                })),
                (Incoming::Ack { .. }, Settle::Ack) => Some(Ok(Reply::Ack)),
                // An asynchronous plugin request: keep waiting for its event.
                (Incoming::Ack { .. }, Settle::Plugin) => None,
                (Incoming::ServerInfo(info), Settle::Success) => {
                    Some(Ok(Reply::ServerInfo(info.clone())))
                }
                (
                    Incoming::Success {
                        plugindata: Some(PluginData { data, .. }),
                        ..
                    },
                    Settle::Plugin,
                ) => Some(Ok(Reply::Plugin {
                    data: data.clone(),
                    jsep: None,
                })),
                (
                    Incoming::Event {
                        plugindata, jsep, ..
                    },
                    Settle::Plugin,
                ) => Some(Ok(Reply::Plugin {
                    data: plugindata.data.clone(),
                    jsep: jsep.clone(),
                })),
                (Incoming::Success { data, .. }, Settle::Success) => Some(Ok(Reply::Success {
                    id: data.map(|d| d.id),
                })),
                _ => Some(Err(JanusError::UnexpectedReply {
                    request: name,
                    detail: format!("{frame:?}"),
                })),
            };
            return match outcome {
                None => Routed::Accepted,
                Some(result) => {
                    let pending = self.pending.remove(&tx).expect("looked up above");
                    Routed::Settled {
                        waiter: pending.waiter,
                        result,
                    }
                }
            };
        }
        unsolicited(frame)
    }

    /// A frame we could not read: fails the request it answers, if we know it.
    pub fn unreadable(&mut self, frame: Unreadable) -> Routed<W> {
        match frame.transaction.and_then(|tx| self.pending.remove(&tx)) {
            Some(pending) => Routed::Settled {
                waiter: pending.waiter,
                result: Err(JanusError::UnexpectedReply {
                    request: pending.name,
                    detail: format!("`{}` frame: {}", frame.what, frame.reason),
                }),
            },
            None => Routed::Ignored {
                why: format!("unreadable `{}` frame: {}", frame.what, frame.reason),
            },
        }
    }

    /// Requests whose deadline passed, with their timeout error.
    pub fn expire(&mut self, now: Instant) -> Vec<(W, JanusError)> {
        let late: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(tx, _)| tx.clone())
            .collect();
        late.into_iter()
            .filter_map(|tx| self.pending.remove(&tx))
            .map(|p| {
                (
                    p.waiter,
                    JanusError::Timeout {
                        request: p.name,
                        after: p.timeout,
                    },
                )
            })
            .collect()
    }

    /// Every waiter, for when the connection is gone.
    pub fn drain(&mut self) -> Vec<W> {
        self.pending.drain().map(|(_, p)| p.waiter).collect()
    }
}

fn unsolicited<W>(frame: Incoming) -> Routed<W> {
    let to = |session_id: Option<u64>, handle_id: u64, event: HandleEvent| Routed::ToHandle {
        session_id,
        handle_id,
        event,
    };
    match frame {
        Incoming::Event {
            session_id,
            sender,
            plugindata,
            jsep,
            ..
        } => to(
            session_id,
            sender,
            HandleEvent::Plugin {
                data: plugindata.data,
                jsep,
            },
        ),
        Incoming::Webrtcup { session_id, sender } => to(
            Some(session_id),
            sender,
            HandleEvent::Link(LinkEvent::WebrtcUp),
        ),
        Incoming::Media {
            session_id,
            sender,
            kind,
            receiving,
            mid,
        } => to(
            Some(session_id),
            sender,
            HandleEvent::Link(LinkEvent::Media {
                kind,
                mid,
                receiving,
            }),
        ),
        Incoming::Slowlink {
            session_id,
            sender,
            uplink,
            media,
            mid,
            lost,
            nacks,
        } => to(
            Some(session_id),
            sender,
            HandleEvent::Link(LinkEvent::SlowLink {
                uplink,
                media,
                mid,
                lost: lost.or(nacks),
            }),
        ),
        Incoming::Hangup {
            session_id,
            sender,
            reason,
        } => to(
            Some(session_id),
            sender,
            HandleEvent::Link(LinkEvent::Hangup { reason }),
        ),
        Incoming::Detached { session_id, sender } => to(
            Some(session_id),
            sender,
            HandleEvent::Link(LinkEvent::Detached),
        ),
        Incoming::Trickle {
            session_id,
            sender,
            candidate,
        } => to(
            Some(session_id),
            sender,
            HandleEvent::Link(LinkEvent::Trickle(candidate)),
        ),
        Incoming::Timeout { session_id } => Routed::SessionTimedOut { session_id },
        other => Routed::Ignored {
            why: format!(
                "an answer to a request nobody waits for (transaction {:?})",
                other.transaction()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SEC: Duration = Duration::from_secs(1);

    fn frame(text: &str) -> Incoming {
        Incoming::parse(text).unwrap()
    }

    fn settled(r: Routed<u32>) -> (u32, Result<Reply, JanusError>) {
        match r {
            Routed::Settled { waiter, result } => (waiter, result),
            other => panic!("not settled: {other:?}"),
        }
    }

    #[test]
    fn a_success_settles_its_own_transaction_only() {
        let now = Instant::now();
        let mut t = Transactions::default();
        let a = t.begin("create", Settle::Success, 1u32, now, SEC);
        let b = t.begin("create", Settle::Success, 2u32, now, SEC);
        assert_ne!(a, b);
        let (w, r) = settled(t.route(frame(&format!(
            r#"{{"janus":"success","transaction":"{b}","data":{{"id":42}}}}"#
        ))));
        assert_eq!((w, r), (2, Ok(Reply::Success { id: Some(42) })));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_core_error_keeps_its_code() {
        let now = Instant::now();
        let mut t = Transactions::default();
        let tx = t.begin("create", Settle::Success, 1u32, now, SEC);
        let (_, r) = settled(t.route(frame(&format!(
            r#"{{"janus":"error","transaction":"{tx}","error":{{"code":403,"reason":"Unauthorized request (wrong or missing secret/token)"}}}}"#
        ))));
        let e = r.unwrap_err();
        assert!(e.is_unauthorized(), "{e}");
        assert!(t.is_empty());
    }

    #[test]
    fn an_async_plugin_request_waits_past_its_ack_for_its_event() {
        let now = Instant::now();
        let mut t = Transactions::default();
        let tx = t.begin("message", Settle::Plugin, 7u32, now, SEC);
        assert!(matches!(
            t.route(frame(&format!(
                r#"{{"janus":"ack","session_id":1,"transaction":"{tx}"}}"#
            ))),
            Routed::Accepted
        ));
        assert_eq!(t.len(), 1);
        let (w, r) = settled(t.route(frame(&format!(
            r#"{{"janus":"event","session_id":1,"transaction":"{tx}","sender":2,"plugindata":{{"plugin":"janus.plugin.videoroom","data":{{"videoroom":"event","configured":"ok"}}}},"jsep":{{"type":"answer","sdp":"v=0\r\n"}}}}"#
        ))));
        assert_eq!(w, 7);
        assert_eq!(
            r.unwrap(),
            Reply::Plugin {
                data: json!({"videoroom": "event", "configured": "ok"}),
                jsep: Some(Jsep::answer("v=0\r\n"))
            }
        );
    }

    #[test]
    fn a_sync_plugin_request_settles_on_success_with_plugindata() {
        let now = Instant::now();
        let mut t = Transactions::default();
        let tx = t.begin("message", Settle::Plugin, 3u32, now, SEC);
        let (_, r) = settled(t.route(frame(&format!(
            r#"{{"janus":"success","session_id":1,"transaction":"{tx}","sender":2,"plugindata":{{"plugin":"janus.plugin.videoroom","data":{{"videoroom":"event","error_code":427,"error":"Room abc already exists"}}}}}}"#
        ))));
        // Plugin errors are the videoroom layer's business: here it is just data.
        assert!(matches!(r, Ok(Reply::Plugin { ref data, .. }) if data["error_code"] == 427));
    }

    #[test]
    fn keepalives_and_trickles_settle_on_ack() {
        let now = Instant::now();
        let mut t = Transactions::default();
        let tx = t.begin("keepalive", Settle::Ack, 1u32, now, SEC);
        let (_, r) = settled(t.route(frame(&format!(
            r#"{{"janus":"ack","session_id":1,"transaction":"{tx}"}}"#
        ))));
        assert_eq!(r, Ok(Reply::Ack));
        // A keepalive for a session Janus dropped: 458.
        let tx = t.begin("keepalive", Settle::Ack, 2u32, now, SEC);
        let (_, r) = settled(t.route(frame(&format!(
            r#"{{"janus":"error","session_id":1,"transaction":"{tx}","error":{{"code":458,"reason":"No such session 1"}}}}"#
        ))));
        assert!(matches!(
            r,
            Err(JanusError::Api {
                code: ApiErrorCode::SessionNotFound,
                ..
            })
        ));
    }

    #[test]
    fn events_without_a_waiting_transaction_go_to_their_handle() {
        let mut t: Transactions<u32> = Transactions::default();
        match t.route(frame(r#"{"janus":"event","session_id":3,"sender":4,"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"destroyed","room":"abc"}}}"#)) {
            Routed::ToHandle {
                session_id: Some(3),
                handle_id: 4,
                event: HandleEvent::Plugin { data, jsep: None },
            } => assert_eq!(data["videoroom"], "destroyed"),
            other => panic!("{other:?}"),
        }
        // An event whose transaction nobody waits for any more (a request that timed out,
        // or a deferred subscription update) still reaches the handle.
        assert!(matches!(
            t.route(frame(r#"{"janus":"event","session_id":3,"transaction":"gone","sender":4,"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"updated"}}}"#)),
            Routed::ToHandle { handle_id: 4, .. }
        ));
        assert!(matches!(
            t.route(frame(r#"{"janus":"webrtcup","session_id":3,"sender":4}"#)),
            Routed::ToHandle {
                event: HandleEvent::Link(LinkEvent::WebrtcUp),
                ..
            }
        ));
        assert!(matches!(
            t.route(frame(
                r#"{"janus":"slowlink","session_id":3,"sender":4,"uplink":true,"nacks":9}"#
            )),
            Routed::ToHandle {
                event: HandleEvent::Link(LinkEvent::SlowLink { lost: Some(9), .. }),
                ..
            }
        ));
        assert!(matches!(
            t.route(frame(r#"{"janus":"timeout","session_id":3}"#)),
            Routed::SessionTimedOut { session_id: 3 }
        ));
        assert!(matches!(
            t.route(frame(r#"{"janus":"success","transaction":"nobody"}"#)),
            Routed::Ignored { .. }
        ));
    }

    #[test]
    fn a_mismatched_reply_is_an_error_not_a_hang() {
        let now = Instant::now();
        let mut t = Transactions::default();
        let tx = t.begin("create", Settle::Success, 1u32, now, SEC);
        let (_, r) = settled(t.route(frame(&format!(r#"{{"janus":"ack","transaction":"{tx}"}}"#))));
        assert!(matches!(
            r,
            Err(JanusError::UnexpectedReply {
                request: "create",
                ..
            })
        ));
        let tx = t.begin("attach", Settle::Success, 2u32, now, SEC);
        let bad = Incoming::parse(&format!(
            r#"{{"janus":"success","transaction":"{tx}","data":{{"id":"x"}}}}"#
        ))
        .unwrap_err();
        let (w, r) = match t.unreadable(bad) {
            Routed::Settled { waiter, result } => (waiter, result),
            other => panic!("{other:?}"),
        };
        assert_eq!(w, 2);
        assert!(matches!(
            r,
            Err(JanusError::UnexpectedReply {
                request: "attach",
                ..
            })
        ));
    }

    #[test]
    fn requests_expire_at_their_deadline_and_drain_on_disconnect() {
        let now = Instant::now();
        let mut t = Transactions::default();
        t.begin("create", Settle::Success, 1u32, now, SEC);
        t.begin("attach", Settle::Success, 2u32, now, 3 * SEC);
        assert!(t.expire(now).is_empty());
        let late = t.expire(now + 2 * SEC);
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].0, 1);
        assert!(matches!(
            late[0].1,
            JanusError::Timeout {
                request: "create",
                ..
            }
        ));
        assert_eq!(t.drain(), vec![2]);
        assert!(t.is_empty());
    }
}
