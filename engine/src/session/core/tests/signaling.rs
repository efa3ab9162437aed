//! The signaling connection: lost, back, held; media state; server errors.

use huddle_protocol::{JoinReply, RelayBody, RelayKind, ServerEvent};

use super::*;
use crate::session::core::{Action, Input, LinkKey, LinkKind};
use crate::session::event::SessionEvent;

// --- The signaling connection ---------------------------------------------------------

#[test]
fn after_a_reconnect_we_rejoin_as_a_newcomer_with_a_new_id() {
    let mut io = Io::new();
    io.join("old", &[("a", "a@x.io")]);
    io.feed(Input::SharingStarted);
    let done = io.feed(Input::SignalingLost);
    assert_eq!(events(&done), [SessionEvent::Reconnecting]);
    assert!(io.feed(Input::SignalingLost).is_empty(), "said once");
    io.later(3_000);
    let done = io.feed(Input::SignalingBack);
    // Everything of the old connection ends; our share with it.
    assert_eq!(closed(&done), [LinkKey::call("a"), LinkKey::share_out("a")]);
    assert!(done.contains(&Action::StopScreen));
    assert_eq!(done.last(), Some(&Action::Rejoin));
    // The server answers with our new id; a is still there (under its own new id).
    let rejoined_at = io.now;
    let done = io.feed(Input::Rejoined(Ok(JoinReply::Joined(ack(
        "new",
        &[("a2", "a@x.io")],
        None,
    )))));
    let evs = events(&done);
    assert!(matches!(&evs[0], SessionEvent::Rejoined { id, .. } if id == "new"));
    assert!(matches!(&evs[1], SessionEvent::Joined { id, .. } if id == "new"));
    assert_eq!(io.core.my_id(), "new");
    assert_eq!(opened(&done), [LinkKey::call("a2")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::UserCall, "a2".into())]);
    // Streams of the new calls time a newcomer's first frame from the rejoin.
    let key = LinkKey::call("a2");
    let generation = io.generation(&key);
    let done = io.feed(Input::Track {
        key,
        generation,
        audio: false,
    });
    assert!(matches!(
        &done[0],
        Action::Receive { joined_at, .. } if *joined_at == rejoined_at
    ));
    // Not sharing any more.
    assert!(
        io.feed(Input::Server(ServerEvent::ViewerJoined("a2".into())))
            .is_empty()
    );
}

#[test]
fn a_reconnect_we_did_not_notice_is_still_a_rejoin_and_a_failed_one_is_reported() {
    let mut io = Io::new();
    io.join("me", &[]);
    let done = io.feed(Input::SignalingBack);
    assert_eq!(events(&done), [SessionEvent::Reconnecting]);
    io.feed(Input::Rejoined(Err("room_full".into())));
    assert_eq!(io.core.errors(), ["could not rejoin: room_full"]);
}

#[test]
fn a_connection_that_held_is_said_so_and_its_event_handled() {
    let mut io = Io::new();
    io.join("me", &[]);
    io.feed(Input::SignalingLost);
    let done = io.feed(joined("a", "a@x.io"));
    assert!(matches!(
        &events(&done)[..],
        [
            SessionEvent::ConnectionHeld,
            SessionEvent::ParticipantJoined { .. }
        ]
    ));
}

#[test]
fn muting_is_announced_and_remembered_across_a_rejoin() {
    let mut io = Io::new();
    io.join("me", &[]);
    let done = io.feed(Input::MicMuted(true));
    assert_eq!(
        done,
        [Action::AnnounceMedia {
            audio: false,
            video: true
        }]
    );
    io.feed(Input::CameraOn(false));
    io.feed(Input::SignalingBack);
    let done = io.feed(Input::Rejoined(Ok(JoinReply::Joined(ack(
        "new",
        &[],
        None,
    )))));
    assert!(done.contains(&Action::AnnounceMedia {
        audio: false,
        video: false
    }));
}

#[test]
fn server_errors_and_room_events_reach_the_application() {
    let mut io = Io::new();
    io.join("me", &[]);
    let error: huddle_protocol::ErrorEvent = serde_json::from_value(json!({
        "code": "rate_limited", "message": "slow down"
    }))
    .unwrap();
    let done = io.feed(Input::Server(ServerEvent::Error(error)));
    assert_eq!(
        events(&done),
        [SessionEvent::ServerError {
            code: "rate_limited".into(),
            message: "slow down".into()
        }]
    );
    // A relay whose field does not fit its kind changes nothing.
    assert!(
        io.relayed(RelayKind::UserCall, "a", RelayBody::Nothing)
            .is_empty()
    );
    let key = LinkKey {
        kind: LinkKind::ShareIn,
        remote: "nobody".into(),
    };
    assert!(io.feed(Input::Connected { key, generation: 1 }).is_empty());
}
