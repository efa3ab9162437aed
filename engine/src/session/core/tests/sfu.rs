//! The SFU path as the rules see it: no calls in an SFU room, the mesh calls of a room
//! that switched end once the SFU carries each member, and no per-viewer screen links.

use huddle_protocol::{MediaMode, RelayKind};

use super::*;
use crate::session::core::{Input, LinkKey};

fn sfu_ack(me: &str, others: &[(&str, &str)]) -> JoinAck {
    let mut a = ack(me, others, None);
    a.media = MediaMode::Sfu;
    a.sfu_epoch = Some(1);
    a
}

#[test]
fn joining_an_sfu_room_makes_no_calls() {
    let mut io = Io::new();
    let done = io.feed(Input::Joined(sfu_ack(
        "me",
        &[("a", "a@x.io"), ("b", "b@x.io")],
    )));
    assert!(opened(&done).is_empty());
    assert!(relay_kinds(&done).is_empty());
    assert!(io.core.uses_sfu());
    assert_eq!(io.core.peers_met(), 2, "the others are still met");
    // Sharing in an SFU room opens no per-viewer connection.
    let done = io.feed(Input::SharingStarted);
    assert!(opened(&done).is_empty());
}

#[test]
fn after_a_switch_the_mesh_call_ends_once_the_sfu_carries_the_member() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    assert!(!io.core.uses_sfu());
    io.feed(Input::SfuMode);
    assert!(io.core.uses_sfu());
    let done = io.feed(Input::SfuCarries("a".into()));
    assert_eq!(closed(&done), [LinkKey::call("a")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::CallEnd, "a".into())]);
    // Told twice (audio and video): nothing more happens.
    assert!(io.feed(Input::SfuCarries("a".into())).is_empty());
}

#[test]
fn an_sfu_connection_counts_as_media_for_the_connect_timeout() {
    let mut io = Io::with(CoreConfig {
        connect_timeout: Some(Duration::from_secs(20)),
    });
    io.feed(Input::Joined(sfu_ack("me", &[("a", "a@x.io")])));
    io.feed(Input::SfuMode);
    io.later(1_000);
    io.feed(Input::SfuConnected);
    io.later(30_000);
    assert!(
        events(&io.feed(Input::Tick)).is_empty(),
        "no mesh call in an SFU room, and none is missed"
    );
}
