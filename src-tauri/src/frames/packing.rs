//! The binary frame message (mirrored by `ui/src/bridge/contract.ts`, little-endian):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u8 | version (1) |
//! | 1 | u8 | kind ([`FrameKind`]) |
//! | 2 | u16 | width |
//! | 4 | u16 | height |
//! | 6 | u16 | stream key length L |
//! | 8 | f64 | decodedAtMs: wall clock when the engine had the frame |
//! | 16 | f64 | sentAtMs: wall clock when it went onto the socket |
//! | 24 | L bytes | stream key, UTF-8 |
//! | 24+L | | I420: Y, U, V |

use huddle_engine::frames::VideoFrame;

pub const VERSION: u8 = 1;
pub const FIXED_BYTES: usize = 24;
const SENT_AT: std::ops::Range<usize> = 16..24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    LocalCamera = 0,
    RemoteCamera = 1,
    RemoteScreen = 2,
}

/// Packs `frame` for the window. `None` when the frame cannot be described by the
/// header (a side over 65535, a key over 65535 bytes, or a buffer that is too short).
pub fn pack(kind: FrameKind, key: &str, frame: &VideoFrame, decoded_at_ms: f64) -> Option<Vec<u8>> {
    let width = u16::try_from(frame.width).ok()?;
    let height = u16::try_from(frame.height).ok()?;
    let key_len = u16::try_from(key.len()).ok()?;
    let pixels = frame
        .data
        .get(..VideoFrame::byte_len(frame.width, frame.height))?;
    let mut out = Vec::with_capacity(FIXED_BYTES + key.len() + pixels.len());
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(&decoded_at_ms.to_le_bytes());
    out.extend_from_slice(&0f64.to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(pixels);
    Some(out)
}

/// Stamps the moment a packed message goes onto the socket.
pub fn stamp_sent_at(message: &mut [u8], sent_at_ms: f64) {
    if let Some(slot) = message.get_mut(SENT_AT) {
        slot.copy_from_slice(&sent_at_ms.to_le_bytes());
    }
}

/// Wall clock in ms since the epoch, with sub-millisecond precision (the UI's `Date.now()`
/// and the barcode use the same clock).
pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_then_key_then_planes() {
        let mut frame = VideoFrame::black(6, 4);
        frame.data[0] = 200;
        let mut m = pack(FrameKind::RemoteScreen, "abc/screen", &frame, 1234.5).unwrap();
        stamp_sent_at(&mut m, 99.25);
        assert_eq!(m[0], VERSION);
        assert_eq!(m[1], 2);
        assert_eq!(u16::from_le_bytes([m[2], m[3]]), 6);
        assert_eq!(u16::from_le_bytes([m[4], m[5]]), 4);
        assert_eq!(u16::from_le_bytes([m[6], m[7]]), 10);
        assert_eq!(f64::from_le_bytes(m[8..16].try_into().unwrap()), 1234.5);
        assert_eq!(f64::from_le_bytes(m[16..24].try_into().unwrap()), 99.25);
        assert_eq!(&m[24..34], b"abc/screen");
        assert_eq!(m[34], 200);
        // 6×4 luma + 2 × 3×2 chroma
        assert_eq!(m.len(), 34 + 24 + 12);
    }

    #[test]
    fn refuses_what_the_header_cannot_say() {
        let frame = VideoFrame {
            width: 70_000,
            height: 2,
            data: vec![],
        };
        assert!(pack(FrameKind::LocalCamera, "local", &frame, 0.0).is_none());
        let short = VideoFrame {
            width: 4,
            height: 4,
            data: vec![0; 10],
        };
        assert!(pack(FrameKind::LocalCamera, "local", &short, 0.0).is_none());
    }
}
