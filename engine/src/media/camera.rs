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

use super::audio_device::DeviceInfo;
use super::frame::{CapturedFrame, VideoFrame};
use super::source::{SourceError, VideoSource};

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

// ---------------------------------------------------------------------------------------
// Pixel conversions to I420, BT.601 limited range (Y 16..235, U/V 16..240).

/// Converts one camera buffer of `format` to I420.
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

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{format} frame too short: {got} bytes, need {needed}")]
    TooShort {
        format: &'static str,
        got: usize,
        needed: usize,
    },
    #[error("MJPEG frame not decoded: {0}")]
    Mjpeg(String),
}

fn check_len(format: &'static str, data: &[u8], needed: usize) -> Result<(), ConvertError> {
    if data.len() < needed {
        return Err(ConvertError::TooShort {
            format,
            got: data.len(),
            needed,
        });
    }
    Ok(())
}

fn luma(r: i32, g: i32, b: i32) -> u8 {
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}

fn chroma(r: i32, g: i32, b: i32) -> (u8, u8) {
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (u as u8, v as u8)
}

/// Packed 8-bit RGB (`r`, `b` = byte offsets of red and blue in a 3-byte pixel).
fn packed_rgb_to_i420(
    data: &[u8],
    width: usize,
    height: usize,
    r: usize,
    b: usize,
) -> Result<VideoFrame, ConvertError> {
    check_len("RGB", data, width * height * 3)?;
    let mut frame = VideoFrame::black(width, height);
    let (cw, ch) = VideoFrame::chroma_size(width, height);
    let (yp, up, vp) = frame.planes_mut();
    let px = |x: usize, y: usize| {
        let i = (y * width + x) * 3;
        (
            i32::from(data[i + r]),
            i32::from(data[i + 1]),
            i32::from(data[i + b]),
        )
    };
    for y in 0..height {
        for x in 0..width {
            let (r, g, b) = px(x, y);
            yp[y * width + x] = luma(r, g, b);
        }
    }
    // Chroma from the mean colour of each 2×2 block (fewer pixels at odd edges).
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut sr, mut sg, mut sb, mut n) = (0, 0, 0, 0);
            for y in 2 * cy..(2 * cy + 2).min(height) {
                for x in 2 * cx..(2 * cx + 2).min(width) {
                    let (r, g, b) = px(x, y);
                    (sr, sg, sb, n) = (sr + r, sg + g, sb + b, n + 1);
                }
            }
            let (u, v) = chroma((sr + n / 2) / n, (sg + n / 2) / n, (sb + n / 2) / n);
            up[cy * cw + cx] = u;
            vp[cy * cw + cx] = v;
        }
    }
    Ok(frame)
}

pub fn rgb_to_i420(data: &[u8], width: usize, height: usize) -> Result<VideoFrame, ConvertError> {
    packed_rgb_to_i420(data, width, height, 0, 2)
}

pub fn bgr_to_i420(data: &[u8], width: usize, height: usize) -> Result<VideoFrame, ConvertError> {
    packed_rgb_to_i420(data, width, height, 2, 0)
}

/// YUYV 4:2:2 (Y0 U Y1 V per two pixels) to 4:2:0: vertical chroma pairs are averaged.
pub fn yuyv_to_i420(data: &[u8], width: usize, height: usize) -> Result<VideoFrame, ConvertError> {
    let stride = width.div_ceil(2) * 4;
    check_len("YUYV", data, stride * height)?;
    let mut frame = VideoFrame::black(width, height);
    let (cw, ch) = VideoFrame::chroma_size(width, height);
    let (yp, up, vp) = frame.planes_mut();
    for y in 0..height {
        let row = &data[y * stride..(y + 1) * stride];
        for x in 0..width {
            yp[y * width + x] = row[(x / 2) * 4 + (x % 2) * 2];
        }
    }
    for cy in 0..ch {
        let top = &data[2 * cy * stride..];
        let bottom = if 2 * cy + 1 < height {
            &data[(2 * cy + 1) * stride..]
        } else {
            top
        };
        for cx in 0..cw {
            let avg = |o: usize| {
                (u16::from(top[cx * 4 + o]) + u16::from(bottom[cx * 4 + o])).div_ceil(2) as u8
            };
            up[cy * cw + cx] = avg(1);
            vp[cy * cw + cx] = avg(3);
        }
    }
    Ok(frame)
}

/// NV12: the Y plane, then one plane of interleaved U, V at quarter resolution.
pub fn nv12_to_i420(data: &[u8], width: usize, height: usize) -> Result<VideoFrame, ConvertError> {
    let (cw, ch) = VideoFrame::chroma_size(width, height);
    check_len("NV12", data, width * height + 2 * cw * ch)?;
    let mut frame = VideoFrame::black(width, height);
    let (yp, up, vp) = frame.planes_mut();
    yp.copy_from_slice(&data[..width * height]);
    for (i, uv) in data[width * height..][..2 * cw * ch]
        .chunks_exact(2)
        .enumerate()
    {
        up[i] = uv[0];
        vp[i] = uv[1];
    }
    Ok(frame)
}

/// Full-range grey to limited-range luma, neutral chroma.
pub fn gray_to_i420(data: &[u8], width: usize, height: usize) -> Result<VideoFrame, ConvertError> {
    check_len("GRAY", data, width * height)?;
    let mut frame = VideoFrame::black(width, height);
    for (y, &g) in frame.y_mut().iter_mut().zip(data) {
        *y = (16 + (u32::from(g) * 219 + 127) / 255) as u8;
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid_rgb(rgb: [u8; 3], width: usize, height: usize) -> Vec<u8> {
        rgb.iter()
            .copied()
            .cycle()
            .take(width * height * 3)
            .collect()
    }

    fn assert_solid(frame: &VideoFrame, yuv: (u8, u8, u8)) {
        assert!(
            frame.y().iter().all(|&y| y == yuv.0),
            "Y {:?}",
            &frame.y()[..4]
        );
        assert!(
            frame.u().iter().all(|&u| u == yuv.1),
            "U {:?}",
            &frame.u()[..2]
        );
        assert!(
            frame.v().iter().all(|&v| v == yuv.2),
            "V {:?}",
            &frame.v()[..2]
        );
    }

    #[test]
    fn rgb_white_black_red_give_limited_range_values() {
        for (w, h) in [(4, 2), (5, 3)] {
            assert_solid(
                &rgb_to_i420(&solid_rgb([255, 255, 255], w, h), w, h).unwrap(),
                (235, 128, 128),
            );
            assert_solid(
                &rgb_to_i420(&solid_rgb([0, 0, 0], w, h), w, h).unwrap(),
                (16, 128, 128),
            );
            assert_solid(
                &rgb_to_i420(&solid_rgb([255, 0, 0], w, h), w, h).unwrap(),
                (82, 90, 240),
            );
            assert_solid(
                &bgr_to_i420(&solid_rgb([0, 0, 255], w, h), w, h).unwrap(),
                (82, 90, 240),
            );
        }
    }

    #[test]
    fn rgb_chroma_is_the_mean_of_each_2x2_block() {
        // Left block: two red, two black pixels → mean (128, 0, 0); right block white.
        #[rustfmt::skip]
        let rgb = [
            255, 0, 0,   0, 0, 0,   255, 255, 255,   255, 255, 255,
            0, 0, 0,   255, 0, 0,   255, 255, 255,   255, 255, 255,
        ];
        let f = rgb_to_i420(&rgb, 4, 2).unwrap();
        assert_eq!(f.y(), &[82, 16, 235, 235, 16, 82, 235, 235]);
        assert_eq!(f.u(), &[chroma(128, 0, 0).0, 128]);
        assert_eq!(f.v(), &[chroma(128, 0, 0).1, 128]);
    }

    #[test]
    fn yuyv_pattern_converts_to_i420() {
        // 4×2: row 0 = Y 10 20 30 40, U/V 100/200 and 110/210; row 1 = Y 50..80, U/V 102/202, 120/220.
        #[rustfmt::skip]
        let yuyv = [
            10, 100, 20, 200,   30, 110, 40, 210,
            50, 102, 60, 202,   70, 120, 80, 220,
        ];
        let f = yuyv_to_i420(&yuyv, 4, 2).unwrap();
        assert_eq!(f.y(), &[10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!(f.u(), &[101, 115]);
        assert_eq!(f.v(), &[201, 215]);
    }

    #[test]
    fn yuyv_with_odd_height_uses_the_last_row_alone() {
        let yuyv = [10, 100, 20, 200, 30, 110, 40, 210, 50, 102, 60, 202];
        let f = yuyv_to_i420(&yuyv, 2, 3).unwrap();
        assert_eq!(f.y(), &[10, 20, 30, 40, 50, 60]);
        assert_eq!(f.u(), &[105, 102]);
        assert_eq!(f.v(), &[205, 202]);
    }

    #[test]
    fn nv12_and_gray_convert() {
        let nv12 = [1, 2, 3, 4, 5, 6, 7, 8, 100, 200, 110, 210];
        let f = nv12_to_i420(&nv12, 4, 2).unwrap();
        assert_eq!(f.y(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!((f.u(), f.v()), (&[100, 110][..], &[200, 210][..]));
        let g = gray_to_i420(&[0, 255, 128, 64], 2, 2).unwrap();
        assert_eq!(g.y(), &[16, 235, 126, 71]);
        assert_eq!((g.u(), g.v()), (&[128][..], &[128][..]));
    }

    #[test]
    fn short_buffers_are_errors_not_panics() {
        assert!(yuyv_to_i420(&[0; 10], 4, 2).is_err());
        assert!(rgb_to_i420(&[0; 10], 4, 2).is_err());
        assert!(nv12_to_i420(&[0; 10], 4, 2).is_err());
        assert!(gray_to_i420(&[0; 3], 2, 2).is_err());
    }

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
