//! Local devices: listing and opening cameras, microphones and speakers (real ones by
//! default, synthetic ones when asked for explicitly), the sources they become, and
//! where remote audio is played.

use std::sync::Arc;

use crate::capture::camera;
use crate::capture::echo::EchoReference;
use crate::pipeline::outgoing::VideoSendConfig;
use crate::session::LocalMedia;

pub use crate::capture::audio_host::{list_microphones, list_speakers};
pub use crate::capture::camera::{NokhwaCamera, list_cameras};
pub use crate::capture::device_info::DeviceInfo;
pub use crate::capture::echo::{AudioProcessing, CaptureProcessor};
pub use crate::capture::microphone::CpalMicrophone;
pub use crate::capture::source::{
    AudioSource, CameraChoice, MicChoice, SineMicrophone, SourceError, SpeakerChoice,
    SyntheticCamera, VideoSource,
};
pub use crate::playout::mixer::Mixer;
pub use crate::playout::speaker::CpalSpeaker;

/// The size and rate cameras are asked for, and the synthetic one draws.
pub const CAMERA_WIDTH: usize = 640;
pub const CAMERA_HEIGHT: usize = 480;
pub const CAMERA_FPS: u32 = 30;

/// Every device, by kind; an `Err` says why a kind could not be listed.
pub struct Listing {
    pub cameras: Result<Vec<DeviceInfo>, String>,
    pub microphones: Result<Vec<DeviceInfo>, String>,
    pub speakers: Result<Vec<DeviceInfo>, String>,
}

pub fn list() -> Listing {
    Listing {
        cameras: camera::list_cameras().map_err(|e| e.to_string()),
        microphones: list_microphones().map_err(|e| e.to_string()),
        speakers: list_speakers().map_err(|e| e.to_string()),
    }
}

/// Opened local media, ready for a session.
pub struct OpenedMedia {
    pub local: LocalMedia,
    pub playback: Playback,
}

/// Where remote audio goes: the mixer every remote stream feeds, and the speaker
/// playing it (which also feeds the echo canceller its reference).
pub struct Playback {
    pub mixer: Arc<Mixer>,
    speaker: Option<CpalSpeaker>,
    reference: Option<EchoReference>,
}

impl Playback {
    fn open(
        choice: &SpeakerChoice,
        mixer: Arc<Mixer>,
        reference: Option<EchoReference>,
    ) -> Result<Self, SourceError> {
        let speaker = match choice {
            SpeakerChoice::None => None,
            SpeakerChoice::Default => {
                Some(CpalSpeaker::open(None, mixer.clone(), reference.clone())?)
            }
            SpeakerChoice::Device(id) => Some(CpalSpeaker::open(
                Some(id),
                mixer.clone(),
                reference.clone(),
            )?),
        };
        Ok(Playback {
            mixer,
            speaker,
            reference,
        })
    }

    /// Plays through another speaker from now on; the calls are not touched. On failure
    /// the current speaker keeps playing.
    pub fn switch(&mut self, choice: &SpeakerChoice) -> Result<(), SourceError> {
        let next = Playback::open(choice, self.mixer.clone(), self.reference.clone())?;
        self.speaker = next.speaker;
        Ok(())
    }

    pub fn describe(&self) -> String {
        self.speaker
            .as_ref()
            .map_or_else(|| "none".to_string(), CpalSpeaker::describe)
    }
}

pub fn open_camera(choice: &CameraChoice) -> Result<Option<Box<dyn VideoSource>>, SourceError> {
    Ok(match choice {
        CameraChoice::None => None,
        CameraChoice::Test => Some(Box::new(SyntheticCamera::new(
            CAMERA_WIDTH,
            CAMERA_HEIGHT,
            CAMERA_FPS,
        ))),
        CameraChoice::TestSized(w, h) => Some(Box::new(SyntheticCamera::new(*w, *h, CAMERA_FPS))),
        CameraChoice::Default => Some(Box::new(NokhwaCamera::open(
            None,
            CAMERA_WIDTH,
            CAMERA_HEIGHT,
            CAMERA_FPS,
        )?)),
        CameraChoice::Device(id) => Some(Box::new(NokhwaCamera::open(
            Some(id),
            CAMERA_WIDTH,
            CAMERA_HEIGHT,
            CAMERA_FPS,
        )?)),
    })
}

pub fn open_microphone(choice: &MicChoice) -> Result<Option<Box<dyn AudioSource>>, SourceError> {
    Ok(match choice {
        MicChoice::None => None,
        MicChoice::Sine => Some(Box::new(SineMicrophone::default())),
        MicChoice::Voice => Some(Box::new(SineMicrophone::voice())),
        MicChoice::Default => Some(Box::new(CpalMicrophone::open(None)?)),
        MicChoice::Device(id) => Some(Box::new(CpalMicrophone::open(Some(id))?)),
    })
}

/// Opens what was chosen. A real microphone gets echo cancellation, noise suppression
/// and gain control, with the speaker's output as the echo reference.
pub fn open(
    camera: &CameraChoice,
    mic: &MicChoice,
    speaker: &SpeakerChoice,
) -> Result<OpenedMedia, SourceError> {
    assemble(open_camera(camera)?, open_microphone(mic)?, speaker)
}

/// Local media from sources that are already open (an app's preview hands its devices
/// over), plus the chosen speaker.
pub fn assemble(
    camera: Option<Box<dyn VideoSource>>,
    microphone: Option<Box<dyn AudioSource>>,
    speaker: &SpeakerChoice,
) -> Result<OpenedMedia, SourceError> {
    let mixer = Arc::new(Mixer::new());
    let (processor, reference) = match &microphone {
        Some(m) if m.is_device() => {
            let (apm, reference) =
                AudioProcessing::new().map_err(|e| SourceError::Device(e.to_string()))?;
            (
                Some(Box::new(apm) as Box<dyn CaptureProcessor>),
                Some(reference),
            )
        }
        _ => (None, None),
    };
    Ok(OpenedMedia {
        local: LocalMedia {
            camera,
            microphone,
            capture_processor: processor,
            video: VideoSendConfig::default(),
        },
        playback: Playback::open(speaker, mixer, reference)?,
    })
}
