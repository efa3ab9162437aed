//! Cameras through nokhwa (V4L2 on Linux, AVFoundation / Media Foundation elsewhere),
//! converted to packed I420.
//!
//! A nokhwa `Camera` may be `!Send`, so a dedicated thread opens it, captures, converts
//! and leaves the newest frame in a slot; `next_frame` takes it. Old frames are
//! replaced, not queued: a slow consumer gets fresh pictures, not a backlog.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nokhwa::Camera;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};

use super::device_info::DeviceInfo;
use super::source::{SourceError, VideoSource};
use crate::media::frame::{CapturedFrame, VideoFrame};
use crate::media::pixels::camera_formats::{
    ConvertError, bgr_to_i420, gray_to_i420, nv12_to_i420, rgb_to_i420, yuyv_to_i420,
};

/// Formats we can convert, best first: YUV needs no colour maths, MJPEG needs decoding.
const FORMATS: [FrameFormat; 6] = [
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::MJPEG,
    FrameFormat::RAWRGB,
    FrameFormat::RAWBGR,
    FrameFormat::GRAY,
];

/// How long `next_frame` waits before calling the camera stopped.
const FRAME_TIMEOUT: Duration = Duration::from_secs(2);
/// Consecutive capture errors after which the camera is considered gone.
const MAX_CAPTURE_ERRORS: u32 = 50;

/// Every camera, its index as `id`; the first is the default. Empty when there is none.
pub fn list_cameras() -> Result<Vec<DeviceInfo>, SourceError> {
    let cameras = nokhwa::query(ApiBackend::Auto)
        .map_err(|err| SourceError::Device(format!("cannot list cameras: {err}")))?;
    Ok(cameras
        .iter()
        .enumerate()
        .map(|(i, info)| DeviceInfo {
            id: info.index().as_string(),
            name: info.human_name(),
            is_default: i == 0,
        })
        .collect())
}

/// The newest frame, or why there is none.
#[derive(Default)]
struct Slot {
    frame: Option<CapturedFrame>,
    error: Option<String>,
    ended: bool,
}

type Shared = Arc<(Mutex<Slot>, Condvar)>;

/// A camera delivering I420 frames at its own pace.
pub struct NokhwaCamera {
    shared: Shared,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    description: String,
}

impl NokhwaCamera {
    /// Opens a camera (`None` = the first that works; else an index or a name as
    /// [`list_cameras`] gives them) at the format nearest `width`×`height` @ `fps`.
    pub fn open(
        choice: Option<&str>,
        width: usize,
        height: usize,
        fps: u32,
    ) -> Result<Self, SourceError> {
        let cameras = list_cameras()?;
        if cameras.is_empty() {
            return Err(SourceError::NoCamera(" (no video devices found)".into()));
        }
        let candidates: Vec<DeviceInfo> = match choice {
            None => cameras,
            Some(wanted) => vec![pick(&cameras, wanted)?],
        };
        let mut last_error = None;
        for info in candidates {
            match Self::start(info, width, height, fps) {
                Ok(camera) => return Ok(camera),
                Err(err) => {
                    tracing::debug!(%err, "camera did not open");
                    last_error = Some(err);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| SourceError::NoCamera(" (no video devices found)".into())))
    }

    fn start(info: DeviceInfo, width: usize, height: usize, fps: u32) -> Result<Self, SourceError> {
        let index: u32 = info.id.parse().map_err(|_| {
            SourceError::Device(format!("camera id \"{}\" is not an index", info.id))
        })?;
        let shared: Shared = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("huddle-camera".into())
                .spawn(move || {
                    let wanted =
                        CameraFormat::new_from(width as u32, height as u32, FrameFormat::YUYV, fps);
                    match open_camera(index, wanted) {
                        Ok((camera, format)) => {
                            let _ = ready_tx.send(Ok(format));
                            capture_loop(camera, &shared, &stop);
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                })
                .map_err(|err| {
                    SourceError::Device(format!("cannot start the camera thread: {err}"))
                })?
        };
        match ready_rx.recv() {
            Ok(Ok(format)) => {
                let description = format!(
                    "camera {} ({}x{} {} @ {} fps)",
                    info.name,
                    format.width(),
                    format.height(),
                    format.format(),
                    format.frame_rate()
                );
                tracing::info!(camera = %description, "camera opened");
                Ok(NokhwaCamera {
                    shared,
                    stop,
                    thread: Some(thread),
                    description,
                })
            }
            Ok(Err(err)) => {
                let _ = thread.join();
                Err(SourceError::Device(format!(
                    "camera {} ({}): {err}",
                    info.name, info.id
                )))
            }
            Err(_) => Err(SourceError::Device(format!(
                "camera {}: its thread ended while opening",
                info.name
            ))),
        }
    }
}

/// A camera by index, or by name (exact, then case-insensitive part).
fn pick(cameras: &[DeviceInfo], wanted: &str) -> Result<DeviceInfo, SourceError> {
    let lower = wanted.to_lowercase();
    cameras
        .iter()
        .find(|c| c.id == wanted || c.name == wanted)
        .or_else(|| {
            cameras
                .iter()
                .find(|c| c.name.to_lowercase().contains(&lower))
        })
        .cloned()
        .ok_or_else(|| {
            let names: Vec<String> = cameras
                .iter()
                .map(|c| format!("{}: {}", c.id, c.name))
                .collect();
            SourceError::NoCamera(format!(
                " (nothing matches \"{wanted}\"; found {})",
                names.join(", ")
            ))
        })
}

/// Opens the camera and switches it to the supported format nearest `wanted`.
fn open_camera(
    index: u32,
    wanted: CameraFormat,
) -> Result<(Camera, CameraFormat), nokhwa::NokhwaError> {
    let any = RequestedFormat::with_formats(RequestedFormatType::None, &FORMATS);
    let mut camera = Camera::new(CameraIndex::Index(index), any)?;
    let best = camera
        .compatible_camera_formats()
        .ok()
        .and_then(|formats| nearest_format(&formats, wanted));
    if let Some(best) = best
        && best != camera.camera_format()
    {
        let exact = [best.format()];
        camera.set_camera_requset(RequestedFormat::with_formats(
            RequestedFormatType::Exact(best),
            &exact,
        ))?;
    }
    camera.open_stream()?;
    let format = camera.camera_format();
    Ok((camera, format))
}

/// Nearest resolution first, then nearest frame rate, then the cheaper pixel format.
fn nearest_format(formats: &[CameraFormat], wanted: CameraFormat) -> Option<CameraFormat> {
    formats
        .iter()
        .filter(|f| FORMATS.contains(&f.format()))
        .min_by_key(|f| {
            let res = f.width().abs_diff(wanted.width()) + f.height().abs_diff(wanted.height());
            let fps = f.frame_rate().abs_diff(wanted.frame_rate());
            let rank = FORMATS
                .iter()
                .position(|&x| x == f.format())
                .unwrap_or(FORMATS.len());
            (res, fps, rank)
        })
        .copied()
}

fn capture_loop(mut camera: Camera, shared: &Shared, stop: &AtomicBool) {
    let (lock, ready) = &**shared;
    let mut errors = 0;
    while !stop.load(Ordering::Relaxed) {
        let converted = camera
            .frame()
            .map_err(|err| err.to_string())
            .and_then(|buffer| {
                let captured_at = Instant::now();
                let res = buffer.resolution();
                to_i420(
                    buffer.buffer(),
                    buffer.source_frame_format(),
                    res.width() as usize,
                    res.height() as usize,
                )
                .map(|frame| CapturedFrame { frame, captured_at })
                .map_err(|err| err.to_string())
            });
        let mut slot = lock.lock().unwrap_or_else(PoisonError::into_inner);
        match converted {
            Ok(frame) => {
                errors = 0;
                slot.frame = Some(frame);
            }
            Err(err) => {
                errors += 1;
                tracing::debug!(%err, "camera frame lost");
                slot.error = Some(err);
                if errors >= MAX_CAPTURE_ERRORS {
                    slot.ended = true;
                }
            }
        }
        let ended = slot.ended;
        drop(slot);
        ready.notify_all();
        if ended {
            break;
        }
        if errors > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if let Err(err) = camera.stop_stream() {
        tracing::debug!(%err, "camera did not stop cleanly");
    }
}

impl VideoSource for NokhwaCamera {
    fn next_frame(&mut self) -> Result<CapturedFrame, SourceError> {
        let (lock, ready) = &*self.shared;
        let deadline = Instant::now() + FRAME_TIMEOUT;
        let mut slot = lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(frame) = slot.frame.take() {
                return Ok(frame);
            }
            let now = Instant::now();
            if slot.ended || now >= deadline {
                let why = slot
                    .error
                    .clone()
                    .unwrap_or_else(|| "no frame for 2 s".into());
                return Err(SourceError::Stopped(format!("{}: {why}", self.description)));
            }
            slot = ready
                .wait_timeout(slot, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

impl Drop for NokhwaCamera {
    fn drop(&mut self) {
        // The loop notices within one frame; joining frees the device for a reopen.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Converts one camera buffer of `format` to I420 (MJPEG is decoded first).
pub fn to_i420(
    data: &[u8],
    format: FrameFormat,
    width: usize,
    height: usize,
) -> Result<VideoFrame, ConvertError> {
    match format {
        FrameFormat::YUYV => yuyv_to_i420(data, width, height),
        FrameFormat::NV12 => nv12_to_i420(data, width, height),
        FrameFormat::RAWRGB => rgb_to_i420(data, width, height),
        FrameFormat::RAWBGR => bgr_to_i420(data, width, height),
        FrameFormat::GRAY => gray_to_i420(data, width, height),
        FrameFormat::MJPEG => {
            let rgb = nokhwa::utils::mjpeg_to_rgb(data, false)
                .map_err(|err| ConvertError::Mjpeg(err.to_string()))?;
            rgb_to_i420(&rgb, width, height)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_nearest_format() {
        let f = |w, h, fmt, fps| CameraFormat::new_from(w, h, fmt, fps);
        let offered = [
            f(1280, 720, FrameFormat::MJPEG, 30),
            f(640, 480, FrameFormat::MJPEG, 30),
            f(640, 480, FrameFormat::YUYV, 30),
            f(640, 480, FrameFormat::YUYV, 15),
        ];
        let wanted = f(640, 480, FrameFormat::YUYV, 30);
        assert_eq!(nearest_format(&offered, wanted), Some(offered[2]));
        let hd = f(1280, 720, FrameFormat::YUYV, 30);
        assert_eq!(nearest_format(&offered, hd), Some(offered[0]));
    }

    #[test]
    fn no_camera_is_a_plain_error() {
        // This machine has no /dev/video*: listing is empty and opening says so.
        if list_cameras().is_ok_and(|c| c.is_empty()) {
            let err = NokhwaCamera::open(None, 640, 480, 30)
                .err()
                .expect("no camera");
            assert_eq!(err.to_string(), "no camera found (no video devices found)");
        }
    }
}
