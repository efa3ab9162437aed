//! Our own camera and microphone: opened in the lobby for the preview and the level meter,
//! then handed to the session on join, so joining does not reopen a device.
//!
//! Each source is wrapped once: [`ShownCamera`] copies every frame to our own tile,
//! [`MeteredMicrophone`] reports the level. In the lobby a thread pulls from them (nobody
//! else does); in a room the engine's senders pull.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use huddle_engine::devices::{
    self, AudioSource, CameraChoice, MicChoice, SourceError, VideoSource,
};
use huddle_engine::frames::{AudioFrame, CapturedFrame};

use crate::error::CommandError;
use crate::frames::hub::LOCAL_KEY;
use crate::frames::{FrameHub, FrameKind, packing};

/// Called with the microphone's RMS level (0..1) about 20 times a second.
pub type LevelListener = Arc<dyn Fn(f32) + Send + Sync>;

/// A camera whose every frame is also drawn in our own tile.
pub struct ShownCamera {
    inner: Box<dyn VideoSource>,
    hub: Arc<FrameHub>,
}

impl VideoSource for ShownCamera {
    fn next_frame(&mut self) -> Result<CapturedFrame, SourceError> {
        let captured = self.inner.next_frame()?;
        self.hub.push(
            FrameKind::LocalCamera,
            LOCAL_KEY,
            &captured.frame,
            packing::now_ms(),
        );
        Ok(captured)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Chunks (10 ms each) per level report.
const CHUNKS_PER_LEVEL: u32 = 5;

/// A microphone that reports its level.
pub struct MeteredMicrophone {
    inner: Box<dyn AudioSource>,
    on_level: LevelListener,
    sum_squares: f64,
    samples: u64,
    chunks: u32,
}

impl AudioSource for MeteredMicrophone {
    fn next_chunk(&mut self) -> Result<AudioFrame, SourceError> {
        let chunk = self.inner.next_chunk()?;
        for &s in &chunk.samples {
            let v = f64::from(s) / 32768.0;
            self.sum_squares += v * v;
        }
        self.samples += chunk.samples.len() as u64;
        self.chunks += 1;
        if self.chunks >= CHUNKS_PER_LEVEL {
            let rms = (self.sum_squares / self.samples.max(1) as f64).sqrt();
            (self.on_level)(level_from_rms(rms));
            self.sum_squares = 0.0;
            self.samples = 0;
            self.chunks = 0;
        }
        Ok(chunk)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn is_device(&self) -> bool {
        self.inner.is_device()
    }
}

/// RMS to a meter position: −60 dBFS and below is 0, 0 dBFS is 1, linear in dB between,
/// which is how loudness feels.
pub fn level_from_rms(rms: f64) -> f32 {
    if rms <= 0.0 {
        return 0.0;
    }
    let db = 20.0 * rms.log10();
    ((db + 60.0) / 60.0).clamp(0.0, 1.0) as f32
}

/// A source being pulled by a lobby thread, returned when stopped.
struct Pulled<S> {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Option<S>>,
}

impl<S: Send + 'static> Pulled<S> {
    fn start(mut source: S, mut pull: impl FnMut(&mut S) -> bool + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("huddle-preview".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    if !pull(&mut source) {
                        return None;
                    }
                }
                Some(source)
            })
            .expect("spawning a thread");
        Pulled { stop, thread }
    }

    fn finish(self) -> Option<S> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().ok().flatten()
    }
}

/// The devices chosen in the lobby, open and previewing.
#[derive(Default)]
pub struct Preview {
    camera: Option<(String, Pulled<ShownCamera>)>,
    microphone: Option<(String, Pulled<MeteredMicrophone>)>,
}

/// Opened sources, ready for a session.
pub struct TakenMedia {
    pub camera: Option<Box<dyn VideoSource>>,
    pub microphone: Option<Box<dyn AudioSource>>,
}

impl Preview {
    /// Shows `camera` and meters `microphone` (ids as `list_devices` gives them; `None`
    /// closes). A device already open with the same id is kept.
    pub fn set(
        &mut self,
        camera: Option<&str>,
        microphone: Option<&str>,
        hub: &Arc<FrameHub>,
        on_level: &LevelListener,
    ) -> Result<(), CommandError> {
        if self.camera.as_ref().map(|(id, _)| id.as_str()) != camera {
            if let Some((_, old)) = self.camera.take() {
                old.finish();
            }
            if let Some(id) = camera {
                let source = open_camera(id, hub)?;
                let pulled = Pulled::start(source, |s| s.next_frame().is_ok());
                self.camera = Some((id.to_string(), pulled));
            }
        }
        if self.microphone.as_ref().map(|(id, _)| id.as_str()) != microphone {
            if let Some((_, old)) = self.microphone.take() {
                old.finish();
            }
            if let Some(id) = microphone {
                let source = open_microphone(id, on_level)?;
                let pulled = Pulled::start(source, |s| s.next_chunk().is_ok());
                self.microphone = Some((id.to_string(), pulled));
            }
        }
        Ok(())
    }

    /// Stops previewing and hands over the devices for `camera` and `microphone`,
    /// reusing what is open and opening the rest.
    pub fn take(
        &mut self,
        camera: Option<&str>,
        microphone: Option<&str>,
        hub: &Arc<FrameHub>,
        on_level: &LevelListener,
    ) -> Result<TakenMedia, CommandError> {
        let open_cam = self
            .camera
            .take()
            .and_then(|(id, p)| Some((id, p.finish()?)));
        let open_mic = self
            .microphone
            .take()
            .and_then(|(id, p)| Some((id, p.finish()?)));
        let camera: Option<Box<dyn VideoSource>> = match (camera, open_cam) {
            (None, _) => None,
            (Some(want), Some((id, source))) if want == id => Some(Box::new(source)),
            (Some(want), _) => Some(Box::new(open_camera(want, hub)?)),
        };
        let microphone: Option<Box<dyn AudioSource>> = match (microphone, open_mic) {
            (None, _) => None,
            (Some(want), Some((id, source))) if want == id => Some(Box::new(source)),
            (Some(want), _) => Some(Box::new(open_microphone(want, on_level)?)),
        };
        Ok(TakenMedia { camera, microphone })
    }

    pub fn close(&mut self) {
        if let Some((_, p)) = self.camera.take() {
            p.finish();
        }
        if let Some((_, p)) = self.microphone.take() {
            p.finish();
        }
    }
}

pub fn open_camera(id: &str, hub: &Arc<FrameHub>) -> Result<ShownCamera, CommandError> {
    let inner = devices::open_camera(&CameraChoice::parse(id))
        .map_err(|e| CommandError::Device(format!("camera: {e}")))?
        .ok_or_else(|| CommandError::Device("no camera chosen".into()))?;
    Ok(ShownCamera {
        inner,
        hub: hub.clone(),
    })
}

pub fn open_microphone(
    id: &str,
    on_level: &LevelListener,
) -> Result<MeteredMicrophone, CommandError> {
    let inner = devices::open_microphone(&MicChoice::parse(id))
        .map_err(|e| CommandError::Device(format!("microphone: {e}")))?
        .ok_or_else(|| CommandError::Device("no microphone chosen".into()))?;
    Ok(MeteredMicrophone {
        inner,
        on_level: on_level.clone(),
        sum_squares: 0.0,
        samples: 0,
        chunks: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn levels_follow_decibels() {
        assert_eq!(level_from_rms(0.0), 0.0);
        assert_eq!(level_from_rms(1.0), 1.0);
        assert!((level_from_rms(0.001) - 0.0).abs() < 1e-6); // −60 dBFS
        assert!((level_from_rms(0.031_622_8) - 0.5).abs() < 1e-3); // −30 dBFS
    }

    #[test]
    fn the_preview_meters_the_microphone_and_hands_the_devices_over() {
        let levels = Arc::new(Mutex::new(Vec::new()));
        let sink = levels.clone();
        let on_level: LevelListener = Arc::new(move |l| sink.lock().unwrap().push(l));
        let hub = Arc::new(FrameHub::new());
        let mut frames = hub.connect();
        let mut preview = Preview::default();
        preview
            .set(Some("test"), Some("sine"), &hub, &on_level)
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        // The synthetic camera's frames reach our tile.
        let frame = frames.try_recv().expect("a preview frame");
        assert_eq!(frame[1], FrameKind::LocalCamera as u8);
        // The 440 Hz tone has a steady, clearly non-zero level.
        let heard = levels.lock().unwrap().clone();
        assert!(heard.len() >= 3, "levels: {heard:?}");
        assert!(heard.iter().all(|&l| l > 0.5), "levels: {heard:?}");

        let taken = preview.take(Some("test"), None, &hub, &on_level).unwrap();
        assert!(taken.camera.is_some());
        assert!(taken.microphone.is_none());
        let bad = preview.set(Some("no-such-camera-xyz"), None, &hub, &on_level);
        assert_eq!(bad.unwrap_err().code(), "device");
    }
}
