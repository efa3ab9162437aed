//! Drives the Janus client from another process, for the lab's media tests (browsers
//! publish and subscribe through Janus while a Node test decides what happens).
//!
//! Reads one JSON command per line on stdin, answers each on stdout with its `id`:
//! `{"id": 1, "ok": true, …}` or `{"id": 1, "ok": false, "error": "…"}`; events of every
//! peer's handle come as `{"event": {"peer": "a", …}}`. Commands (`peer` names a handle):
//!
//! | op | fields | answer |
//! | --- | --- | --- |
//! | `create_room` | `room`, `publishers?` | `room` |
//! | `destroy_room` / `list` | `room` | — / `participants` |
//! | `publisher` | `peer`, `room`, `feed`, `display?` | `joined` |
//! | `publish` | `peer`, `offer`, `descriptions?` | `answer` |
//! | `configure_publisher` | `peer`, `offer?`, `descriptions?`, `keyframe?` | `answer` |
//! | `unpublish` | `peer` | — |
//! | `subscriber` | `peer`, `room`, `streams` (`[{feed, mid?}]`) | `offer`, `streams` |
//! | `start` | `peer`, `answer` | — |
//! | `update` | `peer`, `subscribe?`, `unsubscribe?` | `change`, `offer?`, `streams?` |
//! | `configure_subscriber` | `peer`, `streams` (`[{mid, send}]`) | — |
//! | `trickle` | `peer`, `candidate` (null: end of candidates) | — |
//! | `leave` | `peer` | — |
//!
//! `janus_driver --url ws://IP:8188 --api-secret S --admin-key K`

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use huddle_protocol::IceCandidate;
use huddle_server::sfu::janus::{
    ConfigurePublisher, ConfigureSubscriber, CreateRoom, JanusClient, JanusConfig, JoinPublisher,
    JoinSubscriber, Jsep, LinkEvent, Publish, Session, StreamDescription, SubscribeStream,
    SubscriberStreamConfig, SubscriptionChange, TrickleCandidate, UnsubscribeStream, Update,
    VideoRoomEvent, VideoRoomHandle,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, mpsc};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    url: String,
    #[arg(long)]
    api_secret: String,
    #[arg(long)]
    admin_key: String,
}

// Fields drop in order: the handle detaches before its session is destroyed.
struct Peer {
    handle: Arc<VideoRoomHandle>,
    _session: Session,
}

struct Driver {
    janus: JanusClient,
    admin: VideoRoomHandle,
    admin_key: String,
    peers: Mutex<HashMap<String, Peer>>,
    out: mpsc::UnboundedSender<Value>,
}

#[derive(Deserialize)]
struct Stream {
    feed: String,
    mid: Option<String>,
}

#[derive(Deserialize)]
struct Unsub {
    feed: Option<String>,
    mid: Option<String>,
    sub_mid: Option<String>,
}

#[derive(Deserialize)]
struct SendFlag {
    mid: String,
    send: bool,
}

fn field<T: for<'de> Deserialize<'de>>(cmd: &Value, name: &str) -> anyhow::Result<T> {
    let v = cmd.get(name).cloned().unwrap_or(Value::Null);
    serde_json::from_value(v).with_context(|| format!("field `{name}`"))
}

fn descriptions(cmd: &Value) -> anyhow::Result<Vec<StreamDescription>> {
    #[derive(Deserialize)]
    struct D {
        mid: String,
        description: String,
    }
    let list: Option<Vec<D>> = field(cmd, "descriptions")?;
    Ok(list
        .unwrap_or_default()
        .into_iter()
        .map(|d| StreamDescription {
            mid: d.mid,
            description: d.description,
        })
        .collect())
}

fn change_json(change: SubscriptionChange) -> Value {
    match change {
        SubscriptionChange::Renegotiate { streams, offer } => json!({
            "change": "renegotiate", "offer": offer, "streams": streams_json(&streams)
        }),
        SubscriptionChange::Unchanged => json!({"change": "unchanged"}),
        SubscriptionChange::Deferred => json!({"change": "deferred"}),
    }
}

fn streams_json(streams: &[huddle_server::sfu::janus::SubscriptionStream]) -> Value {
    streams
        .iter()
        .map(|s| {
            json!({"mid": s.mid, "mindex": s.mindex, "type": s.kind, "feed_id": s.feed_id,
                   "feed_mid": s.feed_mid, "feed_description": s.feed_description,
                   "active": s.active, "send": s.send})
        })
        .collect()
}

fn event_json(peer: &str, e: VideoRoomEvent) -> Value {
    let body = match e {
        VideoRoomEvent::Publishers { room, publishers } => json!({
            "kind": "publishers", "room": room,
            "publishers": publishers.iter().map(|p| json!({
                "id": p.id,
                "streams": p.streams.iter().map(|s| json!({"mid": s.mid, "type": s.kind,
                    "codec": s.codec, "description": s.description})).collect::<Vec<_>>()
            })).collect::<Vec<_>>()
        }),
        VideoRoomEvent::Unpublished { room, feed } => {
            json!({"kind": "unpublished", "room": room, "feed": feed})
        }
        VideoRoomEvent::Leaving { room, participant } => {
            json!({"kind": "leaving", "room": room, "participant": participant})
        }
        VideoRoomEvent::Updated {
            room,
            streams,
            offer,
        } => {
            json!({"kind": "updated", "room": room, "streams": streams_json(&streams), "offer": offer})
        }
        VideoRoomEvent::Link(LinkEvent::WebrtcUp) => json!({"kind": "webrtcup"}),
        VideoRoomEvent::Link(LinkEvent::Media {
            kind,
            mid,
            receiving,
        }) => json!({"kind": "media", "type": kind, "mid": mid, "receiving": receiving}),
        VideoRoomEvent::Link(LinkEvent::SlowLink { uplink, lost, .. }) => {
            json!({"kind": "slowlink", "uplink": uplink, "lost": lost})
        }
        VideoRoomEvent::Link(LinkEvent::Hangup { reason }) => {
            json!({"kind": "hangup", "reason": reason})
        }
        VideoRoomEvent::Destroyed { room } => json!({"kind": "destroyed", "room": room}),
        other => json!({"kind": "other", "debug": format!("{other:?}")}),
    };
    let mut body = body;
    body["peer"] = json!(peer);
    json!({ "event": body })
}

impl Driver {
    async fn peer(&self, cmd: &Value) -> anyhow::Result<Arc<VideoRoomHandle>> {
        let name: String = field(cmd, "peer")?;
        let peers = self.peers.lock().await;
        peers
            .get(&name)
            .map(|p| p.handle.clone())
            .ok_or_else(|| anyhow!("no peer {name}"))
    }

    /// A new peer: its own session and VideoRoom handle, its events pumped to stdout.
    async fn new_peer(&self, cmd: &Value) -> anyhow::Result<Arc<VideoRoomHandle>> {
        let name: String = field(cmd, "peer")?;
        let session = self.janus.create_session().await?;
        let mut handle = VideoRoomHandle::attach(&session).await?;
        let mut events = handle.take_events().expect("fresh handle");
        let out = self.out.clone();
        let peer = name.clone();
        tokio::spawn(async move {
            while let Some(e) = events.next().await {
                let _ = out.send(event_json(&peer, e));
            }
        });
        let handle = Arc::new(handle);
        self.peers.lock().await.insert(
            name,
            Peer {
                handle: handle.clone(),
                _session: session,
            },
        );
        Ok(handle)
    }

    async fn run(&self, cmd: &Value) -> anyhow::Result<Value> {
        let op: String = field(cmd, "op")?;
        Ok(match op.as_str() {
            "create_room" => {
                let created = self
                    .admin
                    .create_room(CreateRoom {
                        room: field(cmd, "room")?,
                        admin_key: Some(self.admin_key.clone()),
                        publishers: Some(field::<Option<u32>>(cmd, "publishers")?.unwrap_or(50)),
                        ..Default::default()
                    })
                    .await?;
                json!({"room": created.room})
            }
            "destroy_room" => {
                let room: String = field(cmd, "room")?;
                self.admin.destroy_room(&room, None).await?;
                json!({})
            }
            "list" => {
                let room: String = field(cmd, "room")?;
                let list = self.admin.list_participants(&room).await?;
                json!({"participants": list.iter().map(|p| json!({"id": p.id, "publisher": p.publisher})).collect::<Vec<_>>()})
            }
            "publisher" => {
                let handle = self.new_peer(cmd).await?;
                let joined = handle
                    .join_publisher(JoinPublisher {
                        room: field(cmd, "room")?,
                        id: Some(field(cmd, "feed")?),
                        display: field(cmd, "display")?,
                    })
                    .await?;
                json!({"joined": {"id": joined.id, "private_id": joined.private_id,
                       "publishers": joined.publishers.iter().map(|p| &p.id).collect::<Vec<_>>()}})
            }
            "publish" => {
                let offer: Jsep = field(cmd, "offer")?;
                let answer = self
                    .peer(cmd)
                    .await?
                    .publish(
                        Publish {
                            descriptions: descriptions(cmd)?,
                            ..Default::default()
                        },
                        offer,
                    )
                    .await?;
                json!({"answer": answer})
            }
            "configure_publisher" => {
                let offer: Option<Jsep> = field(cmd, "offer")?;
                let answer = self
                    .peer(cmd)
                    .await?
                    .configure_publisher(
                        ConfigurePublisher {
                            descriptions: descriptions(cmd)?,
                            keyframe: field(cmd, "keyframe")?,
                            ..Default::default()
                        },
                        offer,
                    )
                    .await?;
                json!({"answer": answer})
            }
            "unpublish" => {
                self.peer(cmd).await?.unpublish().await?;
                json!({})
            }
            "subscriber" => {
                let streams: Vec<Stream> = field(cmd, "streams")?;
                let handle = self.new_peer(cmd).await?;
                let sub = handle
                    .join_subscriber(JoinSubscriber {
                        room: field(cmd, "room")?,
                        streams: streams
                            .into_iter()
                            .map(|s| SubscribeStream {
                                feed: s.feed,
                                mid: s.mid,
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .await?;
                json!({"offer": sub.offer, "streams": streams_json(&sub.streams)})
            }
            "start" => {
                let answer: Jsep = field(cmd, "answer")?;
                self.peer(cmd).await?.start(answer).await?;
                json!({})
            }
            "update" => {
                let subscribe: Option<Vec<Stream>> = field(cmd, "subscribe")?;
                let unsubscribe: Option<Vec<Unsub>> = field(cmd, "unsubscribe")?;
                let change = self
                    .peer(cmd)
                    .await?
                    .update(Update {
                        subscribe: subscribe
                            .unwrap_or_default()
                            .into_iter()
                            .map(|s| SubscribeStream {
                                feed: s.feed,
                                mid: s.mid,
                            })
                            .collect(),
                        unsubscribe: unsubscribe
                            .unwrap_or_default()
                            .into_iter()
                            .map(|u| UnsubscribeStream {
                                feed: u.feed,
                                mid: u.mid,
                                sub_mid: u.sub_mid,
                            })
                            .collect(),
                    })
                    .await?;
                change_json(change)
            }
            "configure_subscriber" => {
                let streams: Vec<SendFlag> = field(cmd, "streams")?;
                self.peer(cmd)
                    .await?
                    .configure_subscriber(ConfigureSubscriber {
                        streams: streams
                            .into_iter()
                            .map(|s| SubscriberStreamConfig {
                                mid: s.mid,
                                send: Some(s.send),
                                ..Default::default()
                            })
                            .collect(),
                        restart: None,
                    })
                    .await?;
                json!({})
            }
            "trickle" => {
                let candidate: Option<IceCandidate> = field(cmd, "candidate")?;
                let candidate = match candidate {
                    Some(c) => TrickleCandidate::Candidate(c),
                    None => TrickleCandidate::Completed,
                };
                self.peer(cmd).await?.trickle(candidate).await?;
                json!({})
            }
            "leave" => {
                let name: String = field(cmd, "peer")?;
                let peer = self.peers.lock().await.remove(&name);
                let Some(peer) = peer else {
                    bail!("no peer {name}")
                };
                peer.handle.leave().await?;
                json!({})
            }
            other => bail!("unknown op {other}"),
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let janus =
        JanusClient::connect(JanusConfig::new(&args.url).with_api_secret(&args.api_secret)).await?;
    let admin_session = janus.create_session().await?;
    let admin = VideoRoomHandle::attach(&admin_session).await?;
    let (out, mut out_rx) = mpsc::unbounded_channel::<Value>();
    let driver = Arc::new(Driver {
        janus,
        admin,
        admin_key: args.admin_key,
        peers: Mutex::new(HashMap::new()),
        out: out.clone(),
    });
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(v) = out_rx.recv().await {
            let line = format!("{v}\n");
            if stdout.write_all(line.as_bytes()).await.is_err() {
                break;
            }
            let _ = stdout.flush().await;
        }
    });
    let _ = out.send(json!({"ready": true}));

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let cmd: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let _ = out.send(json!({"ok": false, "error": format!("bad JSON: {e}")}));
                continue;
            }
        };
        let driver = driver.clone();
        let out = out.clone();
        // Each command on its own task: a slow one does not hold the others up.
        tokio::spawn(async move {
            let id = cmd.get("id").cloned().unwrap_or(Value::Null);
            let reply = match driver.run(&cmd).await {
                Ok(mut v) => {
                    v["id"] = id;
                    v["ok"] = json!(true);
                    v
                }
                Err(e) => json!({"id": id, "ok": false, "error": format!("{e:#}")}),
            };
            let _ = out.send(reply);
        });
    }
    drop(out);
    drop(driver);
    let _ = writer.await;
    drop(admin_session);
    Ok(())
}
