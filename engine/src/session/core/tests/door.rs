//! The room's door: waiting, let in, turned away, removed; what the host hears.

use huddle_protocol::{
    JoinReply, LobbyDenied, LobbyKnock, LobbyTarget, RoomRemoved, RoomSettings, ServerEvent,
};

use super::*;
use crate::session::core::{Admission, Input, LinkKey};
use crate::session::event::SessionEvent;

fn server(event: ServerEvent) -> Input {
    Input::Server(event)
}

#[test]
fn a_joiner_waits_connected_and_calls_everyone_once_let_in() {
    let mut io = Io::new();
    let done = io.feed(Input::Waiting {
        room: "1234".into(),
    });
    assert_eq!(
        events(&done),
        [SessionEvent::Waiting {
            room: "1234".into()
        }]
    );
    assert!(
        opened(&done).is_empty(),
        "nobody is called from the waiting room"
    );
    assert!(matches!(io.core.admission(), Admission::Waiting { .. }));

    io.later(2_000);
    let mut admitted = ack("me", &[("h", "h@x.io")], None);
    admitted.host_id = Some("h".into());
    admitted.waiting_room = true;
    let let_in_at = io.now;
    let done = io.feed(server(ServerEvent::LobbyAdmitted(Box::new(
        admitted.clone(),
    ))));
    let evs = events(&done);
    assert_eq!(
        evs[0],
        SessionEvent::Admitted {
            room: "1234".into()
        }
    );
    assert!(matches!(
        &evs[1],
        SessionEvent::Joined { id, host_id: Some(h), waiting_room: true, .. } if id == "me" && h == "h"
    ));
    assert_eq!(opened(&done), [LinkKey::call("h")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::UserCall, "h".into())]);
    assert_eq!(io.core.admission(), &Admission::Inside(Box::new(admitted)));
    // First frames are timed from being let in.
    let key = LinkKey::call("h");
    let generation = io.generation(&key);
    let done = io.feed(Input::Track {
        key,
        generation,
        audio: false,
    });
    assert!(matches!(&done[0], Action::Receive { joined_at, .. } if *joined_at == let_in_at));
}

#[test]
fn a_denied_joiner_is_out_and_does_not_knock_again_after_a_reconnect() {
    let mut io = Io::new();
    io.feed(Input::Waiting { room: "9".into() });
    let done = io.feed(server(ServerEvent::LobbyDenied(LobbyDenied {
        room: "9".into(),
    })));
    assert_eq!(events(&done), [SessionEvent::Denied { room: "9".into() }]);
    assert!(io.core.admission().is_out());
    // A late admission changes nothing.
    assert!(
        io.feed(server(ServerEvent::LobbyAdmitted(Box::new(ack(
            "me",
            &[],
            None
        )))))
        .is_empty()
    );
    let done = io.feed(Input::SignalingBack);
    assert!(!done.contains(&Action::Rejoin));
}

#[test]
fn a_reconnect_while_waiting_knocks_again_and_a_rejoin_may_wait() {
    let mut io = Io::new();
    io.feed(Input::Waiting { room: "9".into() });
    let done = io.feed(Input::SignalingBack);
    assert_eq!(done.last(), Some(&Action::Rejoin));
    let done = io.feed(Input::Rejoined(Ok(JoinReply::Waiting { room: "9".into() })));
    assert_eq!(events(&done), [SessionEvent::Waiting { room: "9".into() }]);
    // In a room whose host turned the waiting room on, our rejoin waits too.
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    io.feed(Input::SignalingBack);
    let done = io.feed(Input::Rejoined(Ok(JoinReply::Waiting {
        room: "1234".into(),
    })));
    assert_eq!(
        events(&done),
        [SessionEvent::Waiting {
            room: "1234".into()
        }]
    );
    assert!(opened(&done).is_empty());
}

#[test]
fn a_removed_participant_ends_every_call_and_its_share() {
    let mut io = Io::new();
    io.join("me", &[("h", "h@x.io"), ("b", "b@x.io")]);
    io.feed(Input::SharingStarted);
    let done = io.feed(server(ServerEvent::RoomRemoved(RoomRemoved {
        room: "1234".into(),
        by: "h".into(),
    })));
    assert_eq!(
        closed(&done),
        [
            LinkKey::call("b"),
            LinkKey::share_out("b"),
            LinkKey::call("h"),
            LinkKey::share_out("h")
        ]
    );
    assert!(done.contains(&Action::StopScreen));
    assert_eq!(
        events(&done),
        [SessionEvent::Removed {
            room: "1234".into(),
            by: "h".into()
        }]
    );
    assert!(io.core.admission().is_out());
    // Nothing to go back to after a reconnect, and nobody to call.
    assert!(!io.feed(Input::SignalingBack).contains(&Action::Rejoin));
    assert!(opened(&io.feed(joined("c", "c@x.io"))).is_empty());
}

#[test]
fn the_host_hears_knocks_withdrawals_new_hosts_and_settings() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io")]);
    let done = io.feed(server(ServerEvent::LobbyKnock(LobbyKnock {
        id: "k".into(),
        email: "k@x.io".into(),
        name: Some("Kim".into()),
    })));
    assert_eq!(
        events(&done),
        [SessionEvent::Knock {
            id: "k".into(),
            email: "k@x.io".into(),
            name: Some("Kim".into())
        }]
    );
    let done = io.feed(server(ServerEvent::LobbyLeft(LobbyTarget {
        id: "k".into(),
    })));
    assert_eq!(
        events(&done),
        [SessionEvent::KnockWithdrawn { id: "k".into() }]
    );
    let done = io.feed(server(ServerEvent::HostChanged(
        huddle_protocol::HostChanged {
            host_id: "me".into(),
        },
    )));
    assert_eq!(
        events(&done),
        [SessionEvent::HostChanged {
            host_id: "me".into()
        }]
    );
    let settings = RoomSettings {
        locked: true,
        waiting_room: true,
        listed: false,
    };
    let done = io.feed(server(ServerEvent::RoomSettings(settings)));
    assert_eq!(events(&done), [SessionEvent::RoomSettings(settings)]);
    let Admission::Inside(ack) = io.core.admission() else {
        panic!("inside");
    };
    assert_eq!(ack.host_id.as_deref(), Some("me"));
    assert!(ack.locked && ack.waiting_room);
}
