//! Graceful degradation: which resolution and frame rate a target bitrate can carry.
//!
//! Each step of a ladder needs a minimum bitrate, from the pixels per second it codes
//! and a bits-per-pixel floor below which VP8's picture falls apart. A camera keeps its
//! motion: it gives up resolution first (down to a quarter) and frame rate last (half).
//! A screen keeps sharp text: it gives up frame rate first (down to 5 fps) and
//! resolution last. Frame rates are whole divisors of 30, so the frames kept are evenly
//! spaced (keeping 2 of 3 made libvpx overshoot its target by 40 %). Steps down come
//! after a second below the step's floor (at once below half of it); steps up need 30 %
//! above the next step's floor for two seconds, so the picture does not flap between
//! sizes (each change of size costs a keyframe).
//!
//! The floors are a guess about the content; the encoder knows better. When what it
//! produces stays 20 % above its target for a second (it is at its coarsest quantizer
//! and cannot go lower), the policy steps down as well, and remembers what that step
//! really needed, so it climbs back only when the target allows it.

use std::time::{Duration, Instant};

/// Bits per pixel (per frame) a step needs, by content.
const CAMERA_BPP: f64 = 0.028;
const SCREEN_BPP: f64 = 0.010;
/// Below the floor this long, step down.
const DOWN_DELAY: Duration = Duration::from_secs(1);
/// Above the next step's floor by this much, this long, step up.
const UP_MARGIN: f64 = 1.3;
const UP_DELAY: Duration = Duration::from_secs(2);
/// The encoder producing this much more than its target, this long, cannot meet it.
const OVERSHOOT: f64 = 1.2;
const OVERSHOOT_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Camera,
    Screen,
}

/// What the encoder should produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl Format {
    fn pixel_rate(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height) * f64::from(self.fps)
    }
}

/// One rung: a scale of the source (in percent) and a frame rate cap.
#[derive(Debug, Clone, Copy)]
struct Step {
    scale_percent: u32,
    max_fps: u32,
}

const CAMERA_LADDER: [Step; 5] = [
    Step {
        scale_percent: 100,
        max_fps: 60,
    },
    Step {
        scale_percent: 75,
        max_fps: 60,
    },
    Step {
        scale_percent: 50,
        max_fps: 60,
    },
    Step {
        scale_percent: 25,
        max_fps: 60,
    },
    Step {
        scale_percent: 25,
        max_fps: 15,
    },
];

const SCREEN_LADDER: [Step; 6] = [
    Step {
        scale_percent: 100,
        max_fps: 30,
    },
    Step {
        scale_percent: 100,
        max_fps: 15,
    },
    Step {
        scale_percent: 100,
        max_fps: 10,
    },
    Step {
        scale_percent: 100,
        max_fps: 5,
    },
    Step {
        scale_percent: 75,
        max_fps: 5,
    },
    Step {
        scale_percent: 50,
        max_fps: 5,
    },
];

#[derive(Debug)]
pub struct DegradationPolicy {
    content: Content,
    source: Format,
    step: usize,
    below_since: Option<Instant>,
    above_since: Option<Instant>,
    /// What each step turned out to need (the encoder overshot its floor there).
    learned: [Option<f64>; 6],
    over_since: Option<Instant>,
}

impl DegradationPolicy {
    pub fn new(content: Content, source: Format) -> Self {
        DegradationPolicy {
            content,
            source,
            step: 0,
            below_since: None,
            above_since: None,
            learned: [None; 6],
            over_since: None,
        }
    }

    fn ladder(&self) -> &'static [Step] {
        match self.content {
            Content::Camera => &CAMERA_LADDER,
            Content::Screen => &SCREEN_LADDER,
        }
    }

    fn bpp(&self) -> f64 {
        match self.content {
            Content::Camera => CAMERA_BPP,
            Content::Screen => SCREEN_BPP,
        }
    }

    fn format_at(&self, step: usize) -> Format {
        let s = self.ladder()[step];
        let scale = |v: u32| ((v * s.scale_percent / 100) & !1).max(2);
        Format {
            width: scale(self.source.width),
            height: scale(self.source.height),
            fps: self.source.fps.min(s.max_fps).max(1),
        }
    }

    /// The bitrate a step needs, in bits per second: its pixel rate at the content's
    /// bits per pixel, or more if the encoder showed it needs more.
    pub fn floor_bps(&self, step: usize) -> f64 {
        let guess = self.format_at(step).pixel_rate() * self.bpp();
        self.learned[step].map_or(guess, |l| l.max(guess))
    }

    /// The format in force.
    pub fn format(&self) -> Format {
        self.format_at(self.step)
    }

    /// The camera or screen changed size or rate: start again from the top.
    pub fn set_source(&mut self, source: Format) {
        if source != self.source {
            self.source = source;
            self.step = 0;
            self.below_since = None;
            self.above_since = None;
            self.learned = [None; 6];
        }
    }

    /// Follows the video target and what the encoder actually produces (bits per
    /// second over the last second or so, if known); returns the format to encode.
    pub fn update(&mut self, now: Instant, target_bps: f64, produced_bps: Option<f64>) -> Format {
        let last = self.ladder().len() - 1;
        match produced_bps {
            Some(produced) if produced > target_bps * OVERSHOOT => {
                let since = *self.over_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= OVERSHOOT_DELAY {
                    // This step needs at least what it produced.
                    let learned = self.learned[self.step].map_or(produced, |l| l.max(produced));
                    self.learned[self.step] = Some(learned);
                }
            }
            _ => self.over_since = None,
        }
        let floor = self.floor_bps(self.step);
        if target_bps < floor && self.step < last {
            self.above_since = None;
            let since = *self.below_since.get_or_insert(now);
            if target_bps < floor / 2.0 || now.saturating_duration_since(since) >= DOWN_DELAY {
                // Straight to the highest step the target carries.
                self.step = (self.step + 1..=last)
                    .find(|&s| self.floor_bps(s) <= target_bps)
                    .unwrap_or(last);
                self.below_since = None;
                self.over_since = None;
            }
        } else if self.step > 0 && target_bps >= self.floor_bps(self.step - 1) * UP_MARGIN {
            self.below_since = None;
            let since = *self.above_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= UP_DELAY {
                self.step -= 1;
                self.above_since = None;
                self.over_since = None;
            }
        } else {
            self.below_since = None;
            self.above_since = None;
        }
        self.format()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VGA: Format = Format {
        width: 640,
        height: 480,
        fps: 30,
    };
    const HD: Format = Format {
        width: 1280,
        height: 720,
        fps: 30,
    };

    fn run(p: &mut DegradationPolicy, t0: Instant, from_s: f64, to_s: f64, bps: f64) -> Format {
        let mut f = p.format();
        let mut t = from_s;
        while t < to_s {
            f = p.update(t0 + Duration::from_secs_f64(t), bps, None);
            t += 0.1;
        }
        f
    }

    #[test]
    fn a_camera_keeps_its_frame_rate_and_gives_up_resolution() {
        let t0 = Instant::now();
        let mut p = DegradationPolicy::new(Content::Camera, VGA);
        assert_eq!(run(&mut p, t0, 0.0, 5.0, 600_000.0), VGA);
        let f = run(&mut p, t0, 5.0, 8.0, 200_000.0);
        assert_eq!((f.width, f.height, f.fps), (480, 360, 30));
        let f = run(&mut p, t0, 8.0, 11.0, 80_000.0);
        assert_eq!((f.width, f.height, f.fps), (320, 240, 30), "still 30 fps");
        let f = run(&mut p, t0, 11.0, 14.0, 30_000.0);
        assert_eq!(
            (f.width, f.fps),
            (160, 30),
            "still 30 fps at a quarter of the size"
        );
        let f = run(&mut p, t0, 14.0, 17.0, 10_000.0);
        assert_eq!((f.width, f.fps), (160, 15), "frame rate goes last");
    }

    #[test]
    fn a_screen_keeps_its_resolution_and_gives_up_frame_rate() {
        let t0 = Instant::now();
        let mut p = DegradationPolicy::new(Content::Screen, HD);
        let f = run(&mut p, t0, 0.0, 3.0, 150_000.0);
        assert_eq!((f.width, f.height, f.fps), (1280, 720, 15));
        let f = run(&mut p, t0, 3.0, 6.0, 60_000.0);
        assert_eq!((f.width, f.fps), (1280, 5));
        let f = run(&mut p, t0, 6.0, 9.0, 20_000.0);
        assert_eq!((f.width, f.height, f.fps), (640, 360, 5));
    }

    #[test]
    fn an_encoder_that_cannot_meet_its_target_steps_down_and_is_remembered() {
        let t0 = Instant::now();
        let mut p = DegradationPolicy::new(Content::Camera, VGA);
        // 300 kbit/s is above VGA's floor, but the content needs 450.
        let at = |i: u64| t0 + Duration::from_millis(i * 100);
        let mut i = 0;
        while p.format() == VGA && i < 40 {
            p.update(at(i), 300_000.0, Some(450_000.0));
            i += 1;
        }
        assert_eq!(p.format().width, 480, "stepped down after two seconds");
        assert!(
            i >= 20,
            "an overshoot is believed after a second, then a second below"
        );
        // A new size: nothing measured for a second (the caller starts over).
        for _ in 0..10 {
            p.update(at(i), 400_000.0, None);
            i += 1;
        }
        // The target rises to 400: climbing back needs 1.3 × 450, not 1.3 × 258.
        for _ in 0..100 {
            p.update(at(i), 400_000.0, Some(380_000.0));
            i += 1;
        }
        assert_eq!(p.format().width, 480, "does not flap back up");
        for _ in 0..100 {
            p.update(at(i), 600_000.0, Some(550_000.0));
            i += 1;
        }
        assert_eq!(p.format(), VGA);
    }

    #[test]
    fn a_short_overshoot_teaches_nothing() {
        let t0 = Instant::now();
        let mut p = DegradationPolicy::new(Content::Camera, VGA);
        for i in 0..50 {
            let produced = if i % 10 < 5 { 600_000.0 } else { 300_000.0 };
            p.update(
                t0 + Duration::from_millis(i * 100),
                300_000.0,
                Some(produced),
            );
        }
        assert_eq!(p.format(), VGA);
    }

    #[test]
    fn short_dips_are_ignored_and_climbing_back_waits_for_a_margin() {
        let t0 = Instant::now();
        let mut p = DegradationPolicy::new(Content::Camera, VGA);
        let floor = p.floor_bps(0);
        // 0.5 s just under the floor: no change.
        assert_eq!(run(&mut p, t0, 0.0, 0.5, floor * 0.9), VGA);
        assert_eq!(run(&mut p, t0, 0.5, 3.0, floor * 1.1), VGA);
        // A collapse: down at once.
        let f = p.update(t0 + Duration::from_secs(3), floor * 0.3, None);
        assert_ne!(f, VGA);
        // Back just above the floor: not enough margin to climb.
        let f2 = run(&mut p, t0, 3.0, 20.0, floor * 1.1);
        assert_eq!(
            f2.width, 480,
            "one step back up (480 × 360 fits with margin), not two"
        );
        let f3 = run(&mut p, t0, 20.0, 40.0, floor * 1.5);
        assert_eq!(f3, VGA);
    }
}
