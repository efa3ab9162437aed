//! The picture the encoder gets, following its target bitrate: below what the current
//! size and frame rate need, step down a ladder (`congestion::degradation`: cameras keep
//! their motion and lose size first, screens keep sharp text and lose frames first), and
//! climb back when the link allows.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::media::frame::VideoFrame;
use crate::media::pixels::Scaler;

/// Resolution and frame rate following the encoder's target, for the send loop: frames
/// are skipped to the policy's frame rate and scaled to its size.
pub struct Degrader {
    policy: crate::congestion::degradation::DegradationPolicy,
    scaler: Option<Scaler>,
    credit: f64,
    /// Encoded bytes over the last 1.5 s, to tell what the encoder really produces.
    produced: VecDeque<(Instant, usize)>,
}

impl Degrader {
    pub fn new(screen: bool) -> Self {
        use crate::congestion::degradation::{Content, DegradationPolicy, Format};
        let content = if screen {
            Content::Screen
        } else {
            Content::Camera
        };
        Degrader {
            policy: DegradationPolicy::new(
                content,
                Format {
                    width: 640,
                    height: 480,
                    fps: 30,
                },
            ),
            scaler: None,
            credit: 0.0,
            produced: VecDeque::new(),
        }
    }

    /// The encoder produced a frame of `bytes`. Keyframes are left out: receivers ask
    /// for them, they say nothing about what the content needs.
    pub fn on_encoded(&mut self, now: Instant, bytes: usize, keyframe: bool) {
        self.produced
            .push_back((now, if keyframe { 0 } else { bytes }));
        while self
            .produced
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > Duration::from_millis(1500))
        {
            self.produced.pop_front();
        }
    }

    fn produced_bps(&self, now: Instant) -> Option<f64> {
        let (first, _) = *self.produced.front()?;
        let span = now.saturating_duration_since(first);
        if span < Duration::from_millis(1000) {
            return None;
        }
        let bytes: usize = self.produced.iter().skip(1).map(|(_, b)| b).sum();
        Some(bytes as f64 * 8.0 / span.as_secs_f64())
    }

    /// The frame to encode now (scaled, or the same one), `None` to skip this one.
    pub fn apply<'a>(
        &mut self,
        now: Instant,
        frame: &'a VideoFrame,
        source_fps: u32,
        target_kbps: u32,
    ) -> Option<std::borrow::Cow<'a, VideoFrame>> {
        use crate::congestion::degradation::Format;
        self.policy.set_source(Format {
            width: frame.width as u32,
            height: frame.height as u32,
            fps: source_fps,
        });
        let produced = self.produced_bps(now);
        let before = self.policy.format();
        let format = self
            .policy
            .update(now, f64::from(target_kbps) * 1000.0, produced);
        if format != before {
            tracing::info!(
                ?format,
                target_kbps,
                produced_kbps = produced.map(|p| (p / 1000.0) as u32),
                "video format follows the link"
            );
            // What the old size produced says nothing about the new one.
            self.produced.clear();
        }
        self.credit += f64::from(format.fps) / f64::from(source_fps.max(1));
        if self.credit < 1.0 {
            return None;
        }
        self.credit = (self.credit - 1.0).min(1.0);
        let (w, h) = (format.width as usize, format.height as usize);
        if (w, h) == (frame.width, frame.height) {
            return Some(Cow::Borrowed(frame));
        }
        let fits = self
            .scaler
            .as_ref()
            .is_some_and(|s| s.src_size() == (frame.width, frame.height) && s.dst_size() == (w, h));
        if !fits {
            self.scaler = Some(Scaler::new(frame.width, frame.height, w, h));
        }
        let scaled = self.scaler.as_mut()?.scale(frame);
        match scaled {
            Ok(f) => Some(Cow::Owned(f)),
            Err(err) => {
                tracing::debug!(%err, "not scaled");
                Some(Cow::Borrowed(frame))
            }
        }
    }
}
