//! Which encoding (full or low, `congestion::encodings`) one peer's writer sends, frame by
//! frame: it follows the layer chosen for its peer, but changes only at a keyframe of the
//! new layer (a decoder cannot start from a delta frame of another encoding), sending the
//! old one until then. Sans-IO: the writer feeds it every published frame.

use crate::congestion::encodings::Layer;

/// A keyframe asked for and not come is asked for again after this many frames (about a
/// second): the request may have reached an encoder that was just stopping.
const ASK_AGAIN_AFTER: u32 = 30;

#[derive(Debug)]
pub struct LayerSwitch {
    on: Layer,
    started: bool,
    /// The layer whose keyframe we asked for, and frames seen since.
    asked: Option<(Layer, u32)>,
}

/// What to do with one published frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub send: bool,
    /// Ask this layer's encoder for a keyframe.
    pub keyframe_wanted: Option<Layer>,
    /// This frame is the first of a new layer (not the first one at all).
    pub switched: bool,
}

impl LayerSwitch {
    pub fn new(want: Layer) -> Self {
        LayerSwitch {
            on: want,
            started: false,
            asked: None,
        }
    }

    /// The layer being sent (or to start on).
    pub fn layer(&self) -> Layer {
        self.on
    }

    /// The receiver lost its place (the writer fell behind): start again at a keyframe.
    pub fn restart(&mut self) {
        self.started = false;
        self.asked = None;
    }

    /// A frame of `layer` was published while the peer should get `want`.
    pub fn on_frame(&mut self, want: Layer, layer: Layer, keyframe: bool) -> Step {
        let mut step = Step::default();
        let waiting = !self.started || want != self.on;
        if !waiting {
            self.asked = None;
        } else if layer == want && keyframe {
            step.switched = self.started;
            self.on = want;
            self.started = true;
            self.asked = None;
        } else {
            match &mut self.asked {
                Some((asked, seen)) if *asked == want && *seen < ASK_AGAIN_AFTER => *seen += 1,
                _ => {
                    step.keyframe_wanted = Some(want);
                    self.asked = Some((want, 0));
                }
            }
        }
        step.send = self.started && layer == self.on;
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Layer::{Full, Low};

    #[test]
    fn starts_on_a_keyframe_of_its_layer_and_asks_for_it_once() {
        let mut s = LayerSwitch::new(Full);
        let first = s.on_frame(Full, Full, false);
        assert_eq!(first.keyframe_wanted, Some(Full));
        assert!(!first.send);
        assert_eq!(s.on_frame(Full, Full, false), Step::default());
        assert!(
            !s.on_frame(Full, Low, true).send,
            "a low keyframe is not ours"
        );
        let kf = s.on_frame(Full, Full, true);
        assert!(kf.send && !kf.switched);
        assert!(s.on_frame(Full, Full, false).send);
        assert!(!s.on_frame(Full, Low, false).send);
    }

    #[test]
    fn switches_only_at_a_keyframe_of_the_new_layer_sending_the_old_until_then() {
        let mut s = LayerSwitch::new(Full);
        s.on_frame(Full, Full, true);
        let asked = s.on_frame(Low, Full, false);
        assert_eq!(asked.keyframe_wanted, Some(Low));
        assert!(asked.send, "the old layer goes on meanwhile");
        assert!(
            !s.on_frame(Low, Low, false).send,
            "no delta of the new one first"
        );
        assert!(s.on_frame(Low, Full, true).send);
        let switch = s.on_frame(Low, Low, true);
        assert!(switch.send && switch.switched);
        assert_eq!(s.layer(), Low);
        assert!(!s.on_frame(Low, Full, false).send);
        assert!(s.on_frame(Low, Low, false).send);
    }

    #[test]
    fn a_keyframe_that_does_not_come_is_asked_for_again() {
        let mut s = LayerSwitch::new(Full);
        s.on_frame(Full, Full, true);
        let asks = (0..100)
            .filter(|_| s.on_frame(Low, Full, false).keyframe_wanted.is_some())
            .count();
        assert_eq!(asks, 4, "every ~30 frames, not every frame");
    }

    #[test]
    fn a_change_of_mind_before_the_keyframe_costs_nothing() {
        let mut s = LayerSwitch::new(Full);
        s.on_frame(Full, Full, true);
        s.on_frame(Low, Full, false);
        let back = s.on_frame(Full, Full, false);
        assert!(back.send && !back.switched && back.keyframe_wanted.is_none());
    }

    #[test]
    fn after_a_restart_it_waits_for_a_keyframe() {
        let mut s = LayerSwitch::new(Low);
        s.on_frame(Low, Low, true);
        s.restart();
        let step = s.on_frame(Low, Low, false);
        assert!(!step.send);
        assert_eq!(step.keyframe_wanted, Some(Low));
        assert!(s.on_frame(Low, Low, true).send);
    }
}
