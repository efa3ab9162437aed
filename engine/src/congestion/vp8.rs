//! What frame recovery needs to know from a VP8 RTP payload (RFC 7741): whether the
//! packet starts a frame, whether that frame is a keyframe, and its picture ID.

/// Facts from one VP8 payload descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Meta {
    /// The first packet of a frame (S bit set on partition 0).
    pub frame_start: bool,
    /// The frame is a keyframe (only known on its first packet).
    pub keyframe: bool,
    pub picture_id: Option<u16>,
    /// Bytes of descriptor before the VP8 data.
    pub descriptor_len: usize,
}

/// Reads a VP8 payload descriptor; `None` if it is cut short (or the payload is
/// empty, as padding is).
pub fn parse(payload: &[u8]) -> Option<Vp8Meta> {
    let first = *payload.first()?;
    let extended = first & 0x80 != 0;
    let start = first & 0x10 != 0;
    let partition = first & 0x07;
    let mut i = 1;
    let mut picture_id = None;
    if extended {
        let x = *payload.get(i)?;
        i += 1;
        let (has_pid, has_tl0, has_tid, has_key) =
            (x & 0x80 != 0, x & 0x40 != 0, x & 0x20 != 0, x & 0x10 != 0);
        if has_pid {
            let b = *payload.get(i)?;
            i += 1;
            if b & 0x80 != 0 {
                let lo = *payload.get(i)?;
                i += 1;
                picture_id = Some(u16::from(b & 0x7F) << 8 | u16::from(lo));
            } else {
                picture_id = Some(u16::from(b));
            }
        }
        if has_tl0 {
            payload.get(i)?;
            i += 1;
        }
        if has_tid || has_key {
            payload.get(i)?;
            i += 1;
        }
    }
    let frame_start = start && partition == 0;
    // The VP8 frame tag's P bit is 0 on keyframes; it is only present at the start.
    let keyframe = frame_start && payload.get(i).is_some_and(|tag| tag & 0x01 == 0);
    Some(Vp8Meta {
        frame_start,
        keyframe,
        picture_id,
        descriptor_len: i,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_with_and_without_picture_ids() {
        // Start of a keyframe with a 15-bit picture ID 0x1234.
        let key = [0x90, 0x80, 0x80 | 0x12, 0x34, 0x10, 0x02, 0x00];
        assert_eq!(
            parse(&key),
            Some(Vp8Meta {
                frame_start: true,
                keyframe: true,
                picture_id: Some(0x1234),
                descriptor_len: 4
            })
        );
        // Start of an inter frame, 7-bit picture ID 5.
        let delta = [0x90, 0x80, 0x05, 0x01];
        let m = parse(&delta).expect("parsed");
        assert!(m.frame_start && !m.keyframe);
        assert_eq!(m.picture_id, Some(5));
        // A continuation packet: no S bit.
        let cont = [0x00, 0xAB];
        let m = parse(&cont).expect("parsed");
        assert!(!m.frame_start && !m.keyframe);
        // Cut short, and padding.
        assert_eq!(parse(&[0x80]), None);
        assert_eq!(parse(&[0x90, 0x80, 0x80]), None);
        assert_eq!(parse(&[]), None);
    }

    #[test]
    fn what_our_own_packetizer_produces_is_read() {
        use bytes::Bytes;
        use rtc::rtp::codec::vp8::Vp8Payloader;
        use rtc::rtp::packetizer::Payloader;
        let mut p = Vp8Payloader::default();
        p.enable_picture_id = true;
        // A keyframe's first bytes: frame tag with P = 0, then the start code.
        let mut frame = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a];
        frame.resize(3000, 7);
        let payloads = p.payload(1200, &Bytes::from(frame)).expect("packetized");
        let metas: Vec<Vp8Meta> = payloads.iter().filter_map(|p| parse(p)).collect();
        assert_eq!(metas.len(), payloads.len());
        assert!(metas[0].frame_start && metas[0].keyframe);
        assert!(metas[1..].iter().all(|m| !m.frame_start));
        assert!(metas.iter().all(|m| m.picture_id == metas[0].picture_id));
    }
}
