//! What the system calls a device, as listings give it.

/// A microphone or speaker as the system names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Stable identifier, e.g. `pulseaudio:alsa_input.usb-…` (accepted by `open`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    pub is_default: bool,
}
