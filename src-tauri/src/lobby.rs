//! What the lobby and the share picker list: devices (with the synthetic ones when they
//! are asked for) and the screens and windows that can be shared.

use huddle_engine::devices::{self, DeviceInfo};
use huddle_engine::share;
use serde::Serialize;

/// A device as the window offers it.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Device {
    id: String,
    label: String,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DeviceList {
    cameras: Vec<Device>,
    microphones: Vec<Device>,
    speakers: Vec<Device>,
    /// Why a kind could not be listed, in plain words (e.g. "no camera found").
    problems: Vec<String>,
}

/// Real devices (a "system default" first where there is one), with the synthetic ones
/// first when they are asked for.
pub fn device_list(listing: devices::Listing, fake: bool) -> DeviceList {
    let mut problems = Vec::new();
    let mut kind = |listed: Result<Vec<DeviceInfo>, String>, default: bool| -> Vec<Device> {
        match listed {
            Ok(list) => {
                let mut out = Vec::new();
                if default && !list.is_empty() {
                    out.push(Device {
                        id: "default".into(),
                        label: "System default".into(),
                    });
                }
                out.extend(list.into_iter().map(|d| Device {
                    id: d.id,
                    label: d.name,
                }));
                out
            }
            Err(e) => {
                problems.push(e);
                Vec::new()
            }
        }
    };
    let mut cameras = kind(listing.cameras, false);
    let mut microphones = kind(listing.microphones, true);
    let speakers = kind(listing.speakers, true);
    if fake {
        cameras.insert(
            0,
            Device {
                id: "test".into(),
                label: "Test pattern (synthetic)".into(),
            },
        );
        microphones.insert(
            0,
            Device {
                id: "sine".into(),
                label: "Test tone, 440 Hz (synthetic)".into(),
            },
        );
        // Synthetic media needs no real devices: what failed to list is no problem.
        problems.clear();
    }
    DeviceList {
        cameras,
        microphones,
        speakers,
        problems,
    }
}

/// A screen that can be shared; its `id` is what `start_share` takes.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ScreenSource {
    id: String,
    name: String,
    width: u32,
    height: u32,
}

/// A window that can be shared; its `id` is what `start_share` takes.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct WindowSource {
    id: String,
    title: String,
    width: u32,
    height: u32,
}

#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ShareSources {
    screens: Vec<ScreenSource>,
    windows: Vec<WindowSource>,
}

/// The screens and windows of this desktop (the synthetic screen first when asked for).
/// Blocks: call it off the async runtime.
pub fn share_sources(fake: bool) -> ShareSources {
    let mut screens: Vec<ScreenSource> = share::list_screens()
        .unwrap_or_default()
        .into_iter()
        .map(|s| ScreenSource {
            id: format!("screen:{}", s.id),
            name: s.name,
            width: s.width,
            height: s.height,
        })
        .collect();
    if fake {
        let (width, height) = share::TEST_SIZE;
        screens.insert(
            0,
            ScreenSource {
                id: "test".into(),
                name: "Test screen (synthetic)".into(),
                width: width as u32,
                height: height as u32,
            },
        );
    }
    let windows = share::list_windows()
        .unwrap_or_default()
        .into_iter()
        .map(|w| WindowSource {
            id: format!("window:{}", w.id),
            title: w.title,
            width: w.width,
            height: w.height,
        })
        .collect();
    ShareSources { screens, windows }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> DeviceInfo {
        DeviceInfo {
            id: id.into(),
            name: format!("Device {id}"),
            is_default: false,
        }
    }

    #[test]
    fn device_lists_put_defaults_and_synthetic_sources_first() {
        let listing = devices::Listing {
            cameras: Err("no camera found".into()),
            microphones: Ok(vec![info("pulse:mic")]),
            speakers: Ok(vec![]),
        };
        let list = device_list(listing, false);
        assert!(list.cameras.is_empty());
        assert_eq!(
            list.microphones
                .iter()
                .map(|d| d.id.as_str())
                .collect::<Vec<_>>(),
            ["default", "pulse:mic"]
        );
        assert!(list.speakers.is_empty());
        assert_eq!(list.problems, ["no camera found"]);

        let listing = devices::Listing {
            cameras: Err("no camera found".into()),
            microphones: Ok(vec![]),
            speakers: Ok(vec![]),
        };
        let list = device_list(listing, true);
        assert_eq!(list.cameras[0].id, "test");
        assert_eq!(list.microphones[0].id, "sine");
        assert!(list.problems.is_empty());
    }

    #[test]
    fn the_synthetic_screen_is_listed_first_when_asked_for() {
        let sources = share_sources(true);
        assert_eq!(sources.screens[0].id, "test");
        assert_eq!(
            (sources.screens[0].width, sources.screens[0].height),
            (1280, 720)
        );
        assert!(share_sources(false).screens.iter().all(|s| s.id != "test"));
    }
}
