//! The client side of PROTOCOL.md: what the server sends us, parsed into types.

use serde::{Deserialize, Serialize};

/// An RTCSessionDescriptionInit as it travels through signaling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
}

/// An RTCIceCandidateInit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(
        rename = "sdpMLineIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_m_line_index: Option<u16>,
    #[serde(
        rename = "usernameFragment",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub username_fragment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "yes")]
    pub audio: bool,
    #[serde(default = "yes")]
    pub video: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub room: String,
    pub from: String,
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    pub text: String,
    pub ts: i64,
    #[serde(rename = "clientId", default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The ack of `room:join`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Joined {
    pub id: String,
    pub room: String,
    pub participants: Vec<Participant>,
    #[serde(rename = "sharerId", default)]
    pub sharer_id: Option<String>,
    #[serde(default)]
    pub history: Vec<ChatMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserJoined {
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserLeft {
    pub id: String,
    pub email: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaStateChanged {
    pub id: String,
    pub audio: bool,
    pub video: bool,
}

/// A relayed message: `from` plus one of the bodies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Relayed {
    pub from: String,
    #[serde(default)]
    pub offer: Option<SessionDescription>,
    #[serde(default)]
    pub ans: Option<SessionDescription>,
    #[serde(default)]
    pub candidate: Option<IceCandidate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServerError {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub event: Option<String>,
}

/// Everything the server can tell a participant.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// The Socket.IO connection is up again after a loss (we are a new connection).
    Connected,
    /// The Socket.IO connection dropped; the client is reconnecting.
    Disconnected,
    UserJoined(UserJoined),
    UserLeft(UserLeft),
    IncomingCall {
        from: String,
        offer: SessionDescription,
    },
    CallAccepted {
        from: String,
        ans: SessionDescription,
    },
    NegoNeeded {
        from: String,
        offer: SessionDescription,
    },
    NegoFinal {
        from: String,
        ans: SessionDescription,
    },
    IceCandidate {
        from: String,
        candidate: IceCandidate,
    },
    CallEnded {
        from: String,
    },
    MediaState(MediaStateChanged),
    Chat(ChatMessage),
    SharerStarted(String),
    SharerStopped(String),
    SharerAvailable(String),
    ViewerJoined(String),
    SharingConflict(String),
    ShareOffer {
        from: String,
        offer: SessionDescription,
    },
    ShareAnswer {
        from: String,
        ans: SessionDescription,
    },
    ShareIce {
        from: String,
        candidate: IceCandidate,
    },
    Error(ServerError),
}

impl ServerEvent {
    /// Parses one event from its name and first argument; `None` for events we do not
    /// know or payloads that do not fit (logged by the caller).
    pub fn parse(event: &str, payload: &serde_json::Value) -> Option<ServerEvent> {
        use serde_json::from_value as from;
        let p = payload.clone();
        let id = || payload.as_str().map(str::to_string);
        let relay = || from::<Relayed>(p.clone()).ok();
        Some(match event {
            "user:joined" => ServerEvent::UserJoined(from(p).ok()?),
            "user:left" => ServerEvent::UserLeft(from(p).ok()?),
            "incoming:call" => {
                let r = relay()?;
                ServerEvent::IncomingCall {
                    from: r.from,
                    offer: r.offer?,
                }
            }
            "call:accepted" => {
                let r = relay()?;
                ServerEvent::CallAccepted {
                    from: r.from,
                    ans: r.ans?,
                }
            }
            "peer:nego:needed" => {
                let r = relay()?;
                ServerEvent::NegoNeeded {
                    from: r.from,
                    offer: r.offer?,
                }
            }
            "peer:nego:final" => {
                let r = relay()?;
                ServerEvent::NegoFinal {
                    from: r.from,
                    ans: r.ans?,
                }
            }
            "ice:candidate" => {
                let r = relay()?;
                ServerEvent::IceCandidate {
                    from: r.from,
                    candidate: r.candidate?,
                }
            }
            "call:ended" => ServerEvent::CallEnded {
                from: relay()?.from,
            },
            "media:state" => ServerEvent::MediaState(from(p).ok()?),
            "chat:message" => ServerEvent::Chat(from(p).ok()?),
            "sharerStarted" => ServerEvent::SharerStarted(id()?),
            "sharerStopped" => ServerEvent::SharerStopped(id()?),
            "sharerAvailable" => ServerEvent::SharerAvailable(id()?),
            "viewerJoined" => ServerEvent::ViewerJoined(id()?),
            "sharingConflict" => ServerEvent::SharingConflict(id()?),
            "share:offer" => {
                let r = relay()?;
                ServerEvent::ShareOffer {
                    from: r.from,
                    offer: r.offer?,
                }
            }
            "share:answer" => {
                let r = relay()?;
                ServerEvent::ShareAnswer {
                    from: r.from,
                    ans: r.ans?,
                }
            }
            "share:ice" => {
                let r = relay()?;
                ServerEvent::ShareIce {
                    from: r.from,
                    candidate: r.candidate?,
                }
            }
            "error" => ServerEvent::Error(from(p).ok()?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_relays_and_bare_ids() {
        let e = ServerEvent::parse(
            "incoming:call",
            &json!({"from": "a", "offer": {"type": "offer", "sdp": "v=0"}}),
        );
        assert_eq!(
            e,
            Some(ServerEvent::IncomingCall {
                from: "a".into(),
                offer: SessionDescription {
                    kind: "offer".into(),
                    sdp: "v=0".into()
                }
            })
        );
        assert_eq!(
            ServerEvent::parse("sharerStarted", &json!("abc")),
            Some(ServerEvent::SharerStarted("abc".into()))
        );
        assert_eq!(
            ServerEvent::parse("incoming:call", &json!({"from": "a"})),
            None
        );
        assert_eq!(ServerEvent::parse("whatever", &json!({})), None);
    }

    #[test]
    fn join_ack_defaults() {
        let j: Joined = serde_json::from_value(json!({
            "ok": true, "id": "me", "room": "1",
            "participants": [{"id": "p", "email": "p@x.y", "name": null, "audio": false, "video": true}],
            "sharerId": null, "history": []
        }))
        .unwrap();
        assert_eq!(j.participants[0].name, None);
        assert!(!j.participants[0].audio);
        assert_eq!(j.sharer_id, None);
    }
}
