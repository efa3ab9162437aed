//! Screen sharing, as sharer and as viewer.

use huddle_protocol::{RelayBody, RelayKind, ServerEvent};

use super::*;
use crate::media::stream::StreamKind;
use crate::session::core::{Action, Input, KeyframeOf, LinkKey};
use crate::session::event::SessionEvent;

// --- Screen sharing -------------------------------------------------------------------

#[test]
fn the_sharer_offers_its_screen_to_everyone_and_to_a_late_viewer() {
    let mut io = Io::new();
    io.join("me", &[("a", "a@x.io"), ("b", "b@x.io")]);
    let done = io.feed(Input::SharingStarted);
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::SharerStarted { id }] if id == "me"
    ));
    assert_eq!(
        relay_kinds(&done),
        [
            (RelayKind::ShareOffer, "a".into()),
            (RelayKind::ShareOffer, "b".into())
        ]
    );
    // Someone joins while we share: the server says `viewerJoined`; we offer.
    io.feed(joined("c", "c@x.io"));
    let done = io.feed(Input::Server(ServerEvent::ViewerJoined("c".into())));
    assert_eq!(opened(&done), [LinkKey::share_out("c")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::ShareOffer, "c".into())]);
    // Their candidates go to the screen we send.
    let generation = io.generation(&LinkKey::share_out("c"));
    io.relayed(
        RelayKind::ShareAnswer,
        "c",
        RelayBody::Ans(answer("active")),
    );
    let done = io.relayed(RelayKind::ShareIce, "c", RelayBody::Candidate(candidate(1)));
    assert!(matches!(
        &done[..],
        [Action::AddRemoteCandidates { key, .. }] if *key == LinkKey::share_out("c")
    ));
    let done = io.feed(Input::Connected {
        key: LinkKey::share_out("c"),
        generation,
    });
    assert!(done.contains(&Action::RequestKeyframe(KeyframeOf::Screen)));
    // Stopping closes every viewer's connection, and the calls stay.
    let done = io.feed(Input::SharingStopped);
    assert_eq!(
        closed(&done),
        [
            LinkKey::share_out("a"),
            LinkKey::share_out("b"),
            LinkKey::share_out("c")
        ]
    );
    assert!(matches!(
        &events(&done)[..],
        [SessionEvent::SharerStopped { id }] if id == "me"
    ));
    assert!(io.is_open(&LinkKey::call("a")));
    // Not sharing any more: nobody is offered the screen.
    assert!(
        io.feed(Input::Server(ServerEvent::ViewerJoined("c".into())))
            .is_empty()
    );
}

#[test]
fn a_late_viewer_hears_of_the_share_in_its_ack_and_answers_the_offer() {
    let mut io = Io::new();
    let done = io.feed(Input::Joined(ack("me", &[("s", "s@x.io")], Some("s"))));
    assert!(events(&done).contains(&SessionEvent::SharerStarted { id: "s".into() }));
    // `sharerAvailable` repeats what the ack said: nothing new.
    let done = io.feed(Input::Server(ServerEvent::SharerAvailable("s".into())));
    assert!(done.is_empty());
    let done = io.relayed(RelayKind::ShareOffer, "s", RelayBody::Offer(offer()));
    assert_eq!(opened(&done), [LinkKey::share_in("s")]);
    assert_eq!(relay_kinds(&done), [(RelayKind::ShareAnswer, "s".into())]);
    // Its candidates belong to the screen we view; its tracks are a screen, timed from
    // when the share was announced.
    let done = io.relayed(RelayKind::ShareIce, "s", RelayBody::Candidate(candidate(1)));
    assert!(matches!(
        &done[..],
        [Action::AddRemoteCandidates { key, .. }] if *key == LinkKey::share_in("s")
    ));
    let key = LinkKey::share_in("s");
    let generation = io.generation(&key);
    let announced = io.now;
    io.later(500);
    let done = io.feed(Input::Track {
        key,
        generation,
        audio: false,
    });
    assert!(matches!(
        &done[0],
        Action::Receive { kind: StreamKind::Screen, since, .. } if *since == announced
    ));
}

#[test]
fn a_share_offer_from_anyone_but_the_rooms_sharer_is_refused() {
    let mut io = Io::new();
    io.join("me", &[("s", "s@x.io"), ("m", "m@x.io")]);
    // Nobody is sharing: an offer pushing a screen into our view is refused.
    let done = io.relayed(RelayKind::ShareOffer, "m", RelayBody::Offer(offer()));
    assert!(opened(&done).is_empty() && relays(&done).is_empty());
    assert!(events(&done).is_empty());
    assert_eq!(
        io.core.errors(),
        ["refused a screen offer from m: not the room's sharer"]
    );
    // s shares: its offer is answered, and m still cannot push a screen.
    io.feed(Input::Server(ServerEvent::SharerStarted("s".into())));
    let done = io.relayed(RelayKind::ShareOffer, "s", RelayBody::Offer(offer()));
    assert_eq!(opened(&done), [LinkKey::share_in("s")]);
    let done = io.relayed(RelayKind::ShareOffer, "m", RelayBody::Offer(offer()));
    assert!(opened(&done).is_empty() && relays(&done).is_empty());
    // A second offer from the sharer renegotiates the open share.
    let done = io.relayed(RelayKind::ShareOffer, "s", RelayBody::Offer(offer()));
    assert!(opened(&done).is_empty());
    assert_eq!(relay_kinds(&done), [(RelayKind::ShareAnswer, "s".into())]);
}

#[test]
fn when_the_sharer_leaves_its_screen_closes_and_the_share_stops() {
    let mut io = Io::new();
    io.feed(Input::Joined(ack("me", &[("s", "s@x.io")], Some("s"))));
    io.relayed(RelayKind::ShareOffer, "s", RelayBody::Offer(offer()));
    let done = io.feed(left("s", "s@x.io"));
    assert_eq!(closed(&done), [LinkKey::call("s"), LinkKey::share_in("s")]);
    assert_eq!(
        events(&done),
        [
            SessionEvent::SharerStopped { id: "s".into() },
            SessionEvent::ParticipantLeft {
                id: "s".into(),
                email: "s@x.io".into()
            }
        ]
    );
    // `sharerStopped` on its own closes the screen too.
    let mut io = Io::new();
    io.feed(Input::Joined(ack("me", &[("s", "s@x.io")], Some("s"))));
    io.relayed(RelayKind::ShareOffer, "s", RelayBody::Offer(offer()));
    let done = io.feed(Input::Server(ServerEvent::SharerStopped("s".into())));
    assert_eq!(closed(&done), [LinkKey::share_in("s")]);
    assert!(io.is_open(&LinkKey::call("s")));
}

#[test]
fn a_screen_we_cannot_view_is_dropped_and_said() {
    let mut io = Io::new();
    io.join("me", &[("s", "s@x.io")]);
    io.feed(Input::Server(ServerEvent::SharerStarted("s".into())));
    io.fail_answer = true;
    let done = io.relayed(RelayKind::ShareOffer, "s", RelayBody::Offer(offer()));
    assert_eq!(closed(&done), [LinkKey::share_in("s")]);
    assert_eq!(io.core.errors(), ["cannot view s@x.io's screen: it broke"]);
}
