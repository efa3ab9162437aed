//! The Janus core API on the wire (Janus 1.1, "RESTful, WebSockets… API"): the requests we
//! send and everything Janus sends back. Plugin bodies stay JSON here; `videoroom` types them.
//!
//! Janus's JSEP objects are W3C session descriptions and its trickle candidates W3C ICE
//! candidates, so the protocol crate's types are used for both.

use huddle_protocol::{IceCandidate, SessionDescription};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A JSEP offer or answer.
pub type Jsep = SessionDescription;

/// A trickled ICE candidate, or the end of candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrickleCandidate {
    Candidate(IceCandidate),
    Completed,
}

// `{"completed": true}` or a candidate object.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum TrickleWire {
    Completed { completed: bool },
    Candidate(IceCandidate),
}

impl Serialize for TrickleCandidate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TrickleCandidate::Completed => TrickleWire::Completed { completed: true },
            TrickleCandidate::Candidate(c) => TrickleWire::Candidate(c.clone()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for TrickleCandidate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match TrickleWire::deserialize(d)? {
            TrickleWire::Completed { .. } => TrickleCandidate::Completed,
            TrickleWire::Candidate(c) => TrickleCandidate::Candidate(c),
        })
    }
}

/// A request of the core API; the connection adds `transaction` and `apisecret`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "janus", rename_all = "lowercase")]
pub enum Request {
    Info,
    Create,
    Destroy {
        session_id: u64,
    },
    Keepalive {
        session_id: u64,
    },
    Attach {
        session_id: u64,
        plugin: String,
    },
    Detach {
        session_id: u64,
        handle_id: u64,
    },
    Hangup {
        session_id: u64,
        handle_id: u64,
    },
    Message {
        session_id: u64,
        handle_id: u64,
        body: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        jsep: Option<Jsep>,
    },
    Trickle {
        session_id: u64,
        handle_id: u64,
        candidate: TrickleCandidate,
    },
}

/// How Janus settles a request's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// `success` (or `server_info` for `info`), or `error`.
    Success,
    /// `ack`, or `error`.
    Ack,
    /// A plugin message: `success` with `plugindata` when the plugin answers at once; else
    /// `ack` first and later an `event` with the same transaction.
    Plugin,
}

impl Request {
    /// The request's name, for errors and logs (`message` says which plugin request).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Info => "info",
            Request::Create => "create",
            Request::Destroy { .. } => "destroy",
            Request::Keepalive { .. } => "keepalive",
            Request::Attach { .. } => "attach",
            Request::Detach { .. } => "detach",
            Request::Hangup { .. } => "hangup",
            Request::Message { .. } => "message",
            Request::Trickle { .. } => "trickle",
        }
    }

    pub fn settle(&self) -> Settle {
        match self {
            Request::Keepalive { .. } | Request::Trickle { .. } => Settle::Ack,
            Request::Message { .. } => Settle::Plugin,
            _ => Settle::Success,
        }
    }

    /// The request as one WebSocket text frame.
    pub fn encode(&self, transaction: &str, apisecret: Option<&str>) -> String {
        #[derive(Serialize)]
        struct Envelope<'a> {
            #[serde(flatten)]
            request: &'a Request,
            transaction: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            apisecret: Option<&'a str>,
        }
        serde_json::to_string(&Envelope {
            request: self,
            transaction,
            apisecret,
        })
        .expect("a Janus request always serializes")
    }
}

/// `plugindata` of a plugin's reply or event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PluginData {
    pub plugin: String,
    pub data: Value,
}

/// `error` of a core error reply.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApiErrorBody {
    pub code: u16,
    #[serde(default)]
    pub reason: String,
}

/// `data` of `create` and `attach` successes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct IdData {
    pub id: u64,
}

/// What `info` tells about the server (the fields we use; the rest is ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServerInfo {
    #[serde(default)]
    pub transaction: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version_string: String,
    /// Seconds without a request before Janus drops a session; 0 = never.
    #[serde(rename = "session-timeout", default)]
    pub session_timeout: u64,
    #[serde(default)]
    pub api_secret: bool,
    #[serde(default)]
    pub plugins: serde_json::Map<String, Value>,
    #[serde(default)]
    pub transports: serde_json::Map<String, Value>,
}

/// Everything Janus sends on the WebSocket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "janus", rename_all = "lowercase")]
pub enum Incoming {
    Success {
        #[serde(default)]
        transaction: Option<String>,
        #[serde(default)]
        session_id: Option<u64>,
        #[serde(default)]
        sender: Option<u64>,
        #[serde(default)]
        data: Option<IdData>,
        #[serde(default)]
        plugindata: Option<PluginData>,
    },
    Error {
        #[serde(default)]
        transaction: Option<String>,
        #[serde(default)]
        session_id: Option<u64>,
        error: ApiErrorBody,
    },
    Ack {
        #[serde(default)]
        transaction: Option<String>,
        #[serde(default)]
        session_id: Option<u64>,
    },
    #[serde(rename = "server_info")]
    ServerInfo(ServerInfo),
    /// A plugin's message: the answer to an asynchronous request (same transaction) or
    /// something the plugin says on its own (no transaction).
    Event {
        #[serde(default)]
        transaction: Option<String>,
        #[serde(default)]
        session_id: Option<u64>,
        sender: u64,
        plugindata: PluginData,
        #[serde(default)]
        jsep: Option<Jsep>,
    },
    /// ICE and DTLS are up on the handle's PeerConnection.
    Webrtcup {
        session_id: u64,
        sender: u64,
    },
    /// Janus started or stopped receiving a medium on the handle.
    Media {
        session_id: u64,
        sender: u64,
        #[serde(rename = "type")]
        kind: String,
        receiving: bool,
        #[serde(default)]
        mid: Option<String>,
    },
    /// Janus sees losses on the handle's link (`uplink`: from Janus's point of view).
    Slowlink {
        session_id: u64,
        sender: u64,
        uplink: bool,
        #[serde(default)]
        media: Option<String>,
        #[serde(default)]
        mid: Option<String>,
        #[serde(default)]
        lost: Option<u64>,
        #[serde(default)]
        nacks: Option<u64>,
    },
    /// The handle's PeerConnection is gone.
    Hangup {
        session_id: u64,
        sender: u64,
        #[serde(default)]
        reason: Option<String>,
    },
    Detached {
        session_id: u64,
        sender: u64,
    },
    Timeout {
        session_id: u64,
    },
    /// Janus's own candidates (only with full-trickle).
    Trickle {
        session_id: u64,
        sender: u64,
        candidate: TrickleCandidate,
    },
}

/// A frame Janus sent that we cannot read; `transaction` names the request it answers, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    pub transaction: Option<String>,
    pub what: String,
    pub reason: String,
}

impl Incoming {
    pub fn parse(text: &str) -> Result<Incoming, Unreadable> {
        serde_json::from_str(text).map_err(|e| {
            let value: Option<Value> = serde_json::from_str(text).ok();
            let field = |name: &str| {
                value
                    .as_ref()
                    .and_then(|v| v.get(name))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            Unreadable {
                transaction: field("transaction"),
                what: field("janus").unwrap_or_else(|| "?".into()),
                reason: e.to_string(),
            }
        })
    }

    pub fn transaction(&self) -> Option<&str> {
        match self {
            Incoming::Success { transaction, .. }
            | Incoming::Error { transaction, .. }
            | Incoming::Ack { transaction, .. }
            | Incoming::Event { transaction, .. } => transaction.as_deref(),
            Incoming::ServerInfo(info) => info.transaction.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn as_json(request: &Request, tx: &str, secret: Option<&str>) -> Value {
        serde_json::from_str(&request.encode(tx, secret)).unwrap()
    }

    #[test]
    fn requests_carry_the_transaction_and_the_secret() {
        assert_eq!(
            as_json(&Request::Create, "t1", Some("s3cret")),
            json!({"janus": "create", "transaction": "t1", "apisecret": "s3cret"})
        );
        assert_eq!(
            as_json(&Request::Info, "t2", None),
            json!({"janus": "info", "transaction": "t2"})
        );
        assert_eq!(
            as_json(
                &Request::Attach {
                    session_id: 5947616880948117,
                    plugin: "janus.plugin.videoroom".into()
                },
                "t5",
                Some("s")
            ),
            json!({"janus": "attach", "session_id": 5947616880948117u64,
                   "plugin": "janus.plugin.videoroom", "transaction": "t5", "apisecret": "s"})
        );
        assert_eq!(
            as_json(
                &Request::Message {
                    session_id: 1,
                    handle_id: 2,
                    body: json!({"request": "publish"}),
                    jsep: Some(Jsep::offer("v=0\r\n")),
                },
                "t9",
                None
            ),
            json!({"janus": "message", "session_id": 1, "handle_id": 2,
                   "body": {"request": "publish"},
                   "jsep": {"type": "offer", "sdp": "v=0\r\n"}, "transaction": "t9"})
        );
        assert_eq!(
            as_json(&Request::Keepalive { session_id: 7 }, "k", Some("s")),
            json!({"janus": "keepalive", "session_id": 7, "transaction": "k", "apisecret": "s"})
        );
    }

    #[test]
    fn trickle_sends_a_candidate_or_completed() {
        let candidate = IceCandidate {
            candidate: "candidate:1 1 udp 2122260223 10.1.0.2 50000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: None,
        };
        assert_eq!(
            as_json(
                &Request::Trickle {
                    session_id: 1,
                    handle_id: 2,
                    candidate: TrickleCandidate::Candidate(candidate.clone())
                },
                "t",
                None
            ),
            json!({"janus": "trickle", "session_id": 1, "handle_id": 2, "transaction": "t",
                   "candidate": {"candidate": candidate.candidate, "sdpMid": "0", "sdpMLineIndex": 0}})
        );
        assert_eq!(
            as_json(
                &Request::Trickle {
                    session_id: 1,
                    handle_id: 2,
                    candidate: TrickleCandidate::Completed
                },
                "t",
                None
            )["candidate"],
            json!({"completed": true})
        );
        assert_eq!(Request::Keepalive { session_id: 1 }.settle(), Settle::Ack);
        assert_eq!(Request::Create.settle(), Settle::Success);
    }

    // The frames below are what Janus 1.1.2 (Debian) sent in this project's lab.

    #[test]
    fn parses_successes_errors_and_acks() {
        let m = Incoming::parse(
            r#"{"janus":"success","transaction":"t4","data":{"id":5947616880948117}}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            Incoming::Success {
                transaction: Some("t4".into()),
                session_id: None,
                sender: None,
                data: Some(IdData {
                    id: 5947616880948117
                }),
                plugindata: None
            }
        );
        let m = Incoming::parse(r#"{"janus":"error","transaction":"t2","error":{"code":403,"reason":"Unauthorized request (wrong or missing secret/token)"}}"#).unwrap();
        assert!(matches!(m, Incoming::Error { ref error, .. } if error.code == 403));
        assert_eq!(m.transaction(), Some("t2"));
        let m =
            Incoming::parse(r#"{"janus":"ack","session_id":5947616880948117,"transaction":"t13"}"#)
                .unwrap();
        assert_eq!(m.transaction(), Some("t13"));
        let m = Incoming::parse(r#"{"janus":"success","session_id":5947616880948117,"transaction":"t9","sender":9004547340449781,"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"success","room":"abc","exists":true}}}"#).unwrap();
        match m {
            Incoming::Success {
                sender, plugindata, ..
            } => {
                assert_eq!(sender, Some(9004547340449781));
                assert_eq!(plugindata.unwrap().data["exists"], json!(true));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_server_info() {
        let m = Incoming::parse(r#"{"janus":"server_info","transaction":"t1","name":"Janus WebRTC Server","version":1102,"version_string":"1.1.2","author":"Meetecho s.r.l.","data_channels":true,"accepting-new-sessions":true,"session-timeout":10,"reclaim-session-timeout":0,"full-trickle":false,"api_secret":true,"auth_token":false,"transports":{"janus.transport.websockets":{"name":"JANUS WebSockets transport plugin","version":1}},"events":{},"loggers":{},"plugins":{"janus.plugin.videoroom":{"name":"JANUS VideoRoom plugin","version":9}}}"#).unwrap();
        let Incoming::ServerInfo(info) = m else {
            panic!()
        };
        assert_eq!(info.version_string, "1.1.2");
        assert_eq!(info.session_timeout, 10);
        assert!(info.api_secret);
        assert!(info.plugins.contains_key("janus.plugin.videoroom"));
        assert_eq!(info.transaction.as_deref(), Some("t1"));
    }

    #[test]
    fn parses_handle_and_session_events() {
        let m = Incoming::parse(r#"{"janus":"event","session_id":3250097358354718,"sender":3220507222054962,"plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"destroyed","room":"abc"}}}"#).unwrap();
        assert!(matches!(
            m,
            Incoming::Event {
                transaction: None,
                sender: 3220507222054962,
                ..
            }
        ));
        assert_eq!(
            Incoming::parse(r#"{"janus":"timeout","session_id":6953057572593716}"#).unwrap(),
            Incoming::Timeout {
                session_id: 6953057572593716
            }
        );
        assert_eq!(
            Incoming::parse(r#"{"janus":"detached","session_id":1,"sender":2}"#).unwrap(),
            Incoming::Detached {
                session_id: 1,
                sender: 2
            }
        );
        let m = Incoming::parse(r#"{"janus":"media","session_id":1,"sender":2,"mid":"1","type":"video","receiving":true}"#).unwrap();
        assert!(
            matches!(m, Incoming::Media { ref kind, receiving: true, ref mid, .. } if kind == "video" && mid.as_deref() == Some("1"))
        );
        let m = Incoming::parse(r#"{"janus":"slowlink","session_id":1,"sender":2,"mid":"1","media":"video","uplink":false,"lost":12}"#).unwrap();
        assert!(matches!(
            m,
            Incoming::Slowlink {
                uplink: false,
                lost: Some(12),
                ..
            }
        ));
        let m = Incoming::parse(
            r#"{"janus":"hangup","session_id":1,"sender":2,"reason":"DTLS alert"}"#,
        )
        .unwrap();
        assert!(matches!(m, Incoming::Hangup { reason: Some(ref r), .. } if r == "DTLS alert"));
        let m = Incoming::parse(
            r#"{"janus":"trickle","session_id":1,"sender":2,"candidate":{"completed":true}}"#,
        )
        .unwrap();
        assert!(matches!(
            m,
            Incoming::Trickle {
                candidate: TrickleCandidate::Completed,
                ..
            }
        ));
        let m = Incoming::parse(r#"{"janus":"trickle","session_id":1,"sender":2,"candidate":{"sdpMid":"0","sdpMLineIndex":0,"candidate":"candidate:1 1 udp 2015363327 203.0.113.10 20011 typ host"}}"#).unwrap();
        assert!(
            matches!(m, Incoming::Trickle { candidate: TrickleCandidate::Candidate(ref c), .. } if c.sdp_mid.as_deref() == Some("0"))
        );
    }

    #[test]
    fn unreadable_frames_name_their_transaction() {
        let e = Incoming::parse(
            r#"{"janus":"success","transaction":"t7","data":{"id":"not a number"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.transaction.as_deref(), Some("t7"));
        assert_eq!(e.what, "success");
        let e = Incoming::parse(r#"{"janus":"brand-new-thing","transaction":"t8"}"#).unwrap_err();
        assert_eq!(e.transaction.as_deref(), Some("t8"));
        let e = Incoming::parse("not json").unwrap_err();
        assert_eq!(e.transaction, None);
    }
}
