//! One test suite for every video codec in [`VIDEO_CODECS`], through the descriptor and
//! the traits the rest of the engine uses. What only one codec has stays in its file.

use std::time::Instant;

use super::test_pictures::{grainy_picture, moving_picture, psnr};
use super::{
    CodecError, EncodedFrame, EncoderSettings, PTS_CLOCK_HZ, VIDEO_CODECS, VideoCodec, VideoEncoder,
};
use crate::media::frame::VideoFrame;
use crate::media::synthetic::TestPattern;
use crate::media::testsignal;

const TICKS_30FPS: i64 = PTS_CLOCK_HZ / 30;

fn encoder(codec: &VideoCodec, settings: EncoderSettings) -> Box<dyn VideoEncoder> {
    codec
        .encoder(&settings)
        .unwrap_or_else(|e| panic!("{codec:?} encoder for {settings:?}: {e}"))
}

fn sized(width: usize, height: usize) -> EncoderSettings {
    EncoderSettings {
        width,
        height,
        ..EncoderSettings::default()
    }
}

fn encode_one(enc: &mut dyn VideoEncoder, f: &VideoFrame, i: usize, kf: bool) -> EncodedFrame {
    let mut out = enc.encode(f, i as i64 * TICKS_30FPS, kf).unwrap();
    assert_eq!(out.len(), 1, "one encoded frame per input frame");
    out.remove(0)
}

/// `frame` cut to `w × h` (top-left), packed: what a codec that drops an odd last
/// column or row codes of it.
fn crop(frame: &VideoFrame, w: usize, h: usize) -> VideoFrame {
    let (fcw, _) = VideoFrame::chroma_size(frame.width, frame.height);
    let (cw, ch) = VideoFrame::chroma_size(w, h);
    let mut data = Vec::with_capacity(VideoFrame::byte_len(w, h));
    for r in 0..h {
        data.extend_from_slice(&frame.y()[r * frame.width..][..w]);
    }
    for plane in [frame.u(), frame.v()] {
        for r in 0..ch {
            data.extend_from_slice(&plane[r * fcw..][..cw]);
        }
    }
    VideoFrame {
        width: w,
        height: h,
        data,
    }
}

fn round_trip_60_frames_vga(codec: &VideoCodec) {
    let mut enc = encoder(
        codec,
        EncoderSettings {
            bitrate_kbps: 1000,
            ..EncoderSettings::default()
        },
    );
    let mut dec = codec.decoder().unwrap();
    let mut psnrs = Vec::new();
    let mut bytes = 0;
    for i in 0..60 {
        let input = moving_picture(640, 480, i);
        let pkt = encode_one(enc.as_mut(), &input, i, false);
        assert_eq!(
            pkt.keyframe,
            i == 0,
            "frame {i}: only the first is a keyframe"
        );
        assert_eq!(pkt.pts, i as i64 * TICKS_30FPS);
        bytes += pkt.data.len();
        let out = dec.decode(&pkt.data).unwrap().expect("a picture per frame");
        assert_eq!((out.width, out.height), (640, 480));
        assert_eq!(out.data.len(), VideoFrame::byte_len(640, 480));
        assert!(!dec.last_frame_corrupted());
        psnrs.push(psnr(input.y(), out.y()));
    }
    let avg = psnrs.iter().sum::<f64>() / psnrs.len() as f64;
    let min = psnrs.iter().cloned().fold(f64::MAX, f64::min);
    let kbps = bytes as f64 * 8.0 / 2.0 / 1000.0;
    println!("{codec:?} VGA @ 1 Mbps: luma PSNR avg {avg:.1} dB, min {min:.1} dB, {kbps:.0} kbps");
    assert!(avg > 30.0, "average PSNR {avg:.1} dB");
    assert!(min > 25.0, "worst PSNR {min:.1} dB");
}

fn odd_and_unaligned_sizes(codec: &VideoCodec) {
    // 642×362: even but not a multiple of 16; 641×361, 161×121, 17×17: odd (a codec
    // may code them without the last column and row: its `coded_size` says).
    for (w, h) in [(642, 362), (641, 361), (161, 121), (17, 17)] {
        let (cw, ch) = codec.coded_size(w, h);
        let mut enc = encoder(
            codec,
            EncoderSettings {
                bitrate_kbps: 1500,
                ..sized(w, h)
            },
        );
        let mut dec = codec.decoder().unwrap();
        for i in 0..10 {
            let input = moving_picture(w, h, i);
            let pkt = encode_one(enc.as_mut(), &input, i, false);
            let out = dec.decode(&pkt.data).unwrap().unwrap();
            assert_eq!((out.width, out.height), (cw, ch), "{w}×{h}");
            assert_eq!(out.data.len(), VideoFrame::byte_len(cw, ch));
            let expected = crop(&input, cw, ch);
            let p = psnr(expected.y(), out.y());
            assert!(p > 28.0, "{w}×{h} frame {i}: luma PSNR {p:.1} dB");
            // Chroma must line up too (a stride mix-up would wreck it).
            let pu = psnr(expected.u(), out.u());
            assert!(pu > 28.0, "{w}×{h} frame {i}: U PSNR {pu:.1} dB");
        }
    }
}

fn decode_with_gives_strided_planes_matching_the_copy(codec: &VideoCodec) {
    let (w, h) = (99, 51);
    let (cw, ch) = codec.coded_size(w, h);
    let mut enc = encoder(codec, sized(w, h));
    let pkt = encode_one(enc.as_mut(), &moving_picture(w, h, 0), 0, false);
    let mut dec_a = codec.decoder().unwrap();
    let mut dec_b = codec.decoder().unwrap();
    let copied = dec_a.decode(&pkt.data).unwrap().unwrap();
    let (dw, dh, y_stride, row5) = dec_b
        .decode_with(&pkt.data, |img| {
            assert!(img.y_stride >= img.width);
            assert_eq!(img.to_frame(), copied);
            (img.width, img.height, img.y_stride, img.y_row(5).to_vec())
        })
        .unwrap()
        .unwrap();
    assert_eq!((dw, dh), (cw, ch));
    assert!(y_stride >= cw);
    assert_eq!(row5, copied.y()[5 * cw..6 * cw]);
}

fn force_keyframe_works(codec: &VideoCodec) {
    let mut enc = encoder(codec, EncoderSettings::default());
    let mut packets = Vec::new();
    for i in 0..20 {
        let pkt = encode_one(enc.as_mut(), &moving_picture(640, 480, i), i, i == 10);
        assert_eq!(pkt.keyframe, i == 0 || i == 10, "frame {i}");
        packets.push(pkt);
    }
    // What makes a keyframe: a decoder joining there needs nothing before it...
    let mut late = codec.decoder().unwrap();
    for p in &packets[10..] {
        assert!(late.decode(&p.data).unwrap().is_some());
    }
    // ...whereas joining on an ordinary frame fails.
    let mut early = codec.decoder().unwrap();
    assert!(early.decode(&packets[9].data).is_err());
}

fn set_bitrate_changes_frame_sizes_without_keyframe(codec: &VideoCodec) {
    let (w, h) = (320, 240);
    let mut enc = encoder(
        codec,
        EncoderSettings {
            bitrate_kbps: 1000,
            ..sized(w, h)
        },
    );
    let mut dec = codec.decoder().unwrap();
    let mut sizes = Vec::new();
    for i in 0..120 {
        match i {
            40 => {
                enc.set_bitrate(150).unwrap();
                assert_eq!(enc.bitrate_kbps(), 150);
            }
            80 => enc.set_bitrate(1000).unwrap(),
            _ => {}
        }
        let pkt = encode_one(enc.as_mut(), &grainy_picture(w, h, i), i, false);
        assert_eq!(
            pkt.keyframe,
            i == 0,
            "frame {i}: retargeting must not add keyframes"
        );
        assert!(dec.decode(&pkt.data).unwrap().is_some());
        sizes.push(pkt.data.len());
    }
    assert_eq!(enc.bitrate_kbps(), 1000);
    let avg = |s: &[usize]| s.iter().sum::<usize>() as f64 / s.len() as f64;
    let (high, low, back) = (avg(&sizes[20..40]), avg(&sizes[60..80]), avg(&sizes[100..]));
    println!(
        "{codec:?} grainy 320×240: {high:.0} B/frame at 1000 kbps, {low:.0} at 150 kbps, \
         {back:.0} at 1000 again"
    );
    assert!(low < high * 0.5, "high {high:.0} B, low {low:.0} B");
    assert!(back > low * 2.0, "low {low:.0} B, back up {back:.0} B");
    assert!(enc.set_bitrate(0).is_err());
    assert_eq!(enc.bitrate_kbps(), 1000);

    // Before the first frame the change is taken at start-up.
    let mut fresh = encoder(codec, EncoderSettings::default());
    fresh.set_bitrate(300).unwrap();
    assert_eq!(fresh.bitrate_kbps(), 300);
    encode_one(fresh.as_mut(), &moving_picture(640, 480, 0), 0, false);
}

fn resolution_change_mid_stream(codec: &VideoCodec) {
    let mut enc = encoder(codec, EncoderSettings::default());
    let mut dec = codec.decoder().unwrap();
    let sizes = [(640, 480), (321, 241), (1280, 720), (642, 362)];
    let mut i = 0;
    for &(w, h) in &sizes {
        let (cw, ch) = codec.coded_size(w, h);
        for n in 0..8 {
            let input = moving_picture(w, h, i);
            let pkt = encode_one(enc.as_mut(), &input, i, false);
            assert_eq!(pkt.keyframe, n == 0, "{w}×{h} frame {n}");
            let out = dec.decode(&pkt.data).unwrap().unwrap();
            assert_eq!((out.width, out.height), (cw, ch), "{w}×{h}");
            let p = psnr(crop(&input, cw, ch).y(), out.y());
            assert!(p > 25.0, "{w}×{h} frame {n}: {p:.1} dB");
            i += 1;
        }
        assert_eq!(enc.size(), (w, h));
    }
}

fn bad_input_is_an_error_not_a_panic(codec: &VideoCodec) {
    let mut enc = encoder(codec, EncoderSettings::default());
    let short = VideoFrame {
        width: 640,
        height: 480,
        data: vec![0; 100],
    };
    assert!(matches!(
        enc.encode(&short, 0, false),
        Err(CodecError::BadFrameSize { .. })
    ));
    for bad in [
        sized(0, 480),
        EncoderSettings {
            fps: 0,
            ..EncoderSettings::default()
        },
        EncoderSettings {
            bitrate_kbps: 0,
            ..EncoderSettings::default()
        },
    ] {
        assert!(codec.encoder(&bad).is_err(), "{bad:?}");
    }

    let mut dec = codec.decoder().unwrap();
    assert!(dec.decode(&[]).is_err());
    assert!(dec.decode(b"definitely not a video frame").is_err());

    // Garbage in the middle of a real stream: Ok or Err, never a crash; the damage is
    // reported, and a keyframe afterwards recovers.
    let mut state = 1u64;
    let mut corrupted_seen = false;
    for i in 0..50 {
        let pkt = encode_one(enc.as_mut(), &moving_picture(640, 480, i), i, i == 40);
        dec.decode(&pkt.data).ok();
        corrupted_seen |= dec.last_frame_corrupted();
        if i % 5 == 4 {
            let mut junk = pkt.data.to_vec();
            // Keep the first bytes (start code, frame header); scramble the rest.
            for b in junk.iter_mut().skip(5) {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                *b = (state >> 56) as u8;
            }
            let _ = dec.decode(&junk);
            let _ = dec.decode(&junk[..junk.len() / 3]);
            let _ = dec.decode(&pkt.data[..pkt.data.len() / 2]);
        }
    }
    assert!(corrupted_seen, "damage must be reported");
    let pkt = encode_one(enc.as_mut(), &moving_picture(640, 480, 50), 50, true);
    let out = dec.decode(&pkt.data).unwrap().unwrap();
    assert_eq!((out.width, out.height), (640, 480));
    assert!(!dec.last_frame_corrupted(), "a keyframe clears the damage");
    let pkt = encode_one(enc.as_mut(), &moving_picture(640, 480, 51), 51, false);
    assert!(dec.decode(&pkt.data).unwrap().is_some());
    assert!(!dec.last_frame_corrupted());
}

fn testsignal_barcode_survives_the_round_trip(codec: &VideoCodec) {
    let (w, h) = (640, 480);
    let mut pattern = TestPattern::new(w, h, 30);
    let mut enc = encoder(codec, EncoderSettings::default());
    let mut dec = codec.decoder().unwrap();
    let t0 = 1_790_000_000_000u64;
    for i in 0..60 {
        let t = t0 + i as u64 * 33;
        let input = pattern.next_frame(t);
        assert_eq!(testsignal::read(&input), Some(t));
        let pkt = encode_one(enc.as_mut(), &input, i, false);
        let out = dec.decode(&pkt.data).unwrap().unwrap();
        assert_eq!(testsignal::read(&out), Some(t), "frame {i}");
        // The zero-copy path reads it straight from the strided plane as well.
        if pkt.keyframe {
            let mut again = codec.decoder().unwrap();
            let read = again
                .decode_with(&pkt.data, |img| {
                    testsignal::read_y(img.y, img.width, img.height, img.y_stride)
                })
                .unwrap();
            assert_eq!(read, Some(Some(t)));
        }
    }
}

/// A screen that moves for 10 frames, then holds still for 20, in screen-content mode:
/// every frame decodes sharp; returns the average bytes of a moving and a still frame.
pub(crate) fn screen_content_sizes(codec: &VideoCodec) -> (usize, usize) {
    let mut enc = encoder(
        codec,
        EncoderSettings {
            fps: 15,
            bitrate_kbps: 1500,
            screen_content: true,
            ..EncoderSettings::default()
        },
    );
    let mut dec = codec.decoder().unwrap();
    let mut sizes = Vec::new();
    for i in 0..30 {
        let input = moving_picture(640, 480, i.min(10));
        let pkt = encode_one(enc.as_mut(), &input, i, false);
        if i == 0 {
            assert!(pkt.keyframe);
        }
        let out = dec.decode(&pkt.data).unwrap().unwrap();
        let p = psnr(input.y(), out.y());
        assert!(p > 30.0, "frame {i}: {p:.1} dB");
        sizes.push(pkt.data.len());
    }
    let moving = sizes[1..10].iter().sum::<usize>() / 9;
    let still = sizes[20..].iter().sum::<usize>() / 10;
    println!(
        "{codec:?} screen 640×480: moving frames {moving} B, still frames {still} B on average"
    );
    (moving, still)
}

fn screen_content_round_trip(codec: &VideoCodec) {
    // What a still screen costs differs: OpenH264 skips unchanged blocks (see its own
    // test), libvpx's CBR spends the budget refining them.
    screen_content_sizes(codec);
}

/// Every rule above as a test for one codec (a test per codec and rule, so a failure
/// names both).
macro_rules! rules_for {
    ($codec:expr) => {
        rules_for!(
            $codec;
            round_trip_60_frames_vga,
            odd_and_unaligned_sizes,
            decode_with_gives_strided_planes_matching_the_copy,
            force_keyframe_works,
            set_bitrate_changes_frame_sizes_without_keyframe,
            resolution_change_mid_stream,
            bad_input_is_an_error_not_a_panic,
            testsignal_barcode_survives_the_round_trip,
            screen_content_round_trip
        );

        /// `cargo test -p huddle-engine --lib codec::suite -- --ignored --nocapture`
        /// (add `--release`: in a dev build OpenH264's C++ is built at -O0, which doubles
        /// to triples its times; libvpx is the system's optimised library).
        #[test]
        #[ignore]
        fn timing() {
            super::timing($codec)
        }
    };
    ($codec:expr; $($rule:ident),*) => {
        $(
            #[test]
            fn $rule() {
                super::$rule($codec)
            }
        )*
    };
}

/// The codecs the suite runs for (checked against [`VIDEO_CODECS`]).
const SUITE_CODECS: [&VideoCodec; 2] = [&super::vp8::VP8, &super::h264::H264];

mod vp8 {
    rules_for!(&crate::codec::vp8::VP8);
}

mod h264 {
    rules_for!(&crate::codec::h264::H264);
}

#[test]
fn every_codec_runs_the_suite() {
    assert_eq!(SUITE_CODECS, VIDEO_CODECS);
}

#[test]
fn codecs_are_send() {
    fn is_send<T: Send>() {}
    is_send::<super::vp8::Vp8Encoder>();
    is_send::<super::vp8::Vp8Decoder>();
    is_send::<super::h264::H264Encoder>();
    is_send::<super::h264::H264Decoder>();
}

/// CPU time this thread has run, in ns (Linux): unlike wall time, barely moved by
/// other processes competing for the cores.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn timing(codec: &'static VideoCodec) {
    let hd = |screen_content| EncoderSettings {
        width: 1920,
        height: 1080,
        bitrate_kbps: 2500,
        screen_content,
        ..EncoderSettings::default()
    };
    let cases = [
        ("camera", EncoderSettings::default()),
        (
            "screen",
            EncoderSettings {
                screen_content: true,
                ..EncoderSettings::default()
            },
        ),
        ("camera", hd(false)),
        ("screen", hd(true)),
        (
            "screen",
            EncoderSettings {
                fps: 15,
                bitrate_kbps: 1500,
                ..hd(true)
            },
        ),
    ];
    // "gradient": every pixel moves every frame (a worst case, like scrolling);
    // "pattern": the synthetic camera (barcode, scrolling stripes, a sliding box).
    for content in ["gradient", "pattern"] {
        for (label, settings) in cases.clone() {
            let desc = format!(
                "{codec:?} {label} {}×{} @ {} kbps, {} fps, {content}",
                settings.width, settings.height, settings.bitrate_kbps, settings.fps
            );
            let fps = settings.fps;
            timing_case(codec, &desc, encoder(codec, settings), fps, content);
        }
    }
}

/// Times 150 frames through `enc` (made for `fps`) and `codec`'s decoder (moving, then
/// still for the last 30) and prints encode and decode times, bitrate and quality.
pub(crate) fn timing_case(
    codec: &VideoCodec,
    desc: &str,
    mut enc: Box<dyn VideoEncoder>,
    fps: u32,
    content: &str,
) {
    let (w, h) = enc.size();
    let mut pattern = TestPattern::new(w, h, fps);
    let mut picture = |i: usize| {
        if content == "pattern" {
            pattern.next_frame(1_790_000_000_000 + i as u64 * 33)
        } else {
            // Back and forth over 30 pictures: continuous motion.
            let t = if (i / 30).is_multiple_of(2) {
                i % 30
            } else {
                29 - i % 30
            };
            moving_picture(w, h, t)
        }
    };
    let still = picture(0);
    let (cw, ch) = codec.coded_size(w, h);
    let mut dec_copy = codec.decoder().unwrap();
    let mut dec_view = codec.decoder().unwrap();
    let n = 150;
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let (mut enc_t, mut copy_t, mut view_t, mut bytes, mut first_kf) = (0.0, 0.0, 0.0, 0, 0.0);
    let (mut static_t, mut static_n, mut static_bytes, mut psnr_sum) = (0.0, 0, 0, 0.0);
    let mut enc_cpu = 0.0;
    for i in 0..n {
        let moving;
        let frame = if i >= n - 30 {
            &still
        } else {
            moving = picture(i);
            &moving
        };
        let (t, cpu) = (Instant::now(), thread_cpu_ns());
        let pkt = encode_one(enc.as_mut(), frame, i, false);
        let e = ms(t);
        let e_cpu = (thread_cpu_ns() - cpu) as f64 / 1e6;
        let t = Instant::now();
        let out = dec_copy.decode(&pkt.data).unwrap().unwrap();
        let c = ms(t);
        let t = Instant::now();
        let seen = dec_view.decode_with(&pkt.data, |img| img.y[0]).unwrap();
        let v = ms(t);
        assert_eq!((out.width, seen), (cw, Some(out.data[0])));
        if i == 0 {
            first_kf = e;
        } else if i > n - 25 {
            // Static frames, after a few to settle.
            static_t += e;
            static_n += 1;
            static_bytes += pkt.data.len();
        } else if i < n - 30 {
            (enc_t, copy_t, view_t) = (enc_t + e, copy_t + c, view_t + v);
            enc_cpu += e_cpu;
            bytes += pkt.data.len();
            psnr_sum += psnr(crop(frame, cw, ch).y(), out.y());
        }
    }
    let m = (n - 31) as f64;
    let sn = static_n as f64;
    let fps = f64::from(fps);
    println!(
        "{desc}: encode {:.2} ms/frame moving ({:.2} CPU), {:.2} static (first keyframe \
         {first_kf:.1} ms); decode {:.2} ms/frame zero-copy, {:.2} with packed copy; \
         moving {:.0} kbps at {:.1} dB, static {:.0} kbps",
        enc_t / m,
        enc_cpu / m,
        static_t / sn,
        view_t / m,
        copy_t / m,
        bytes as f64 / m * 8.0 * fps / 1000.0,
        psnr_sum / m,
        static_bytes as f64 / sn * 8.0 * fps / 1000.0,
    );
}
