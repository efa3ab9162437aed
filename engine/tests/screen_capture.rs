//! Screen capture against a real X server: each test starts its own Xvfb, draws BCv1
//! barcodes into windows with plain X requests, captures them with `X11Capture` and reads
//! the barcodes back. Needs `Xvfb` (Debian: `xvfb`); without it the tests fail, not skip.
#![cfg(all(unix, not(target_os = "macos")))]

mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use huddle_engine::devices::{SourceError, VideoSource};
use huddle_engine::frames::{self as scale, Scaler, VideoFrame, testsignal};
use huddle_engine::share::{self as screen, ShareChoice, X11Capture, x11};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ConfigureWindowAux, ConnectionExt as _, CreateGCAux, CreateWindowAux, PropMode,
    Rectangle, StackMode, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

use support::Xvfb;

/// The tests share the process environment (`DISPLAY`): one at a time.
static X_LOCK: Mutex<()> = Mutex::new(());

const T_FULL: u64 = 1_763_950_000_123;
const T_PARTIAL: u64 = 0x0123_4567_89AB;
const T_LATER: u64 = 1_700_000_000_001;
/// RGB of the bottom half of the test windows; its limited-range luma.
const GREY: u32 = 0x80_8080;
const GREY_Y: u8 = 126;

/// A client that draws the test pictures.
struct Painter {
    conn: RustConnection,
    root: Window,
    root_visual: u32,
    white: u32,
    black: u32,
}

impl Painter {
    fn connect(display: &str) -> Painter {
        let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
        let s = &conn.setup().roots[screen];
        let (root, root_visual, white, black) =
            (s.root, s.root_visual, s.white_pixel, s.black_pixel);
        Painter {
            conn,
            root,
            root_visual,
            white,
            black,
        }
    }

    /// A mapped window at (x, y), titled, showing the barcode of `t` (bottom half grey).
    fn window(&self, title: &str, x: i16, y: i16, w: u16, h: u16, t: u64) -> Window {
        let win = self.unmapped_window(title, x, y, w, h);
        self.conn.map_window(win).unwrap();
        self.paint(win, w, h, t);
        win
    }

    /// A titled window at (x, y), not mapped yet.
    fn unmapped_window(&self, title: &str, x: i16, y: i16, w: u16, h: u16) -> Window {
        let c = &self.conn;
        let win = c.generate_id().unwrap();
        c.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            win,
            self.root,
            x,
            y,
            w,
            h,
            0,
            WindowClass::INPUT_OUTPUT,
            self.root_visual,
            &CreateWindowAux::new().background_pixel(self.black),
        )
        .unwrap();
        c.change_property8(
            PropMode::REPLACE,
            win,
            AtomEnum::WM_NAME,
            AtomEnum::STRING,
            title.as_bytes(),
        )
        .unwrap();
        self.sync();
        win
    }

    /// Draws the BCv1 grid of `t` as filled rectangles, as the spec lays it out.
    fn paint(&self, win: Window, w: u16, h: u16, t: u64) {
        let c = &self.conn;
        let gc = |pixel: u32| {
            let gc = c.generate_id().unwrap();
            c.create_gc(gc, win, &CreateGCAux::new().foreground(pixel))
                .unwrap();
            gc
        };
        let (white, black, grey) = (gc(self.white), gc(self.black), gc(GREY));
        let (w32, h32) = (u32::from(w), u32::from(h));
        let edge = |k: u32, len: u32, parts: u32| (k * len / parts) as i16;
        let bits = testsignal::encode_bits(t);
        let (mut ones, mut zeros) = (Vec::new(), Vec::new());
        for i in 0..64u32 {
            let (r, col) = (i / 16, i % 16);
            let (x0, x1) = (edge(col, w32, 16), edge(col + 1, w32, 16));
            let (y0, y1) = (edge(r, h32, 8), edge(r + 1, h32, 8));
            let rect = Rectangle {
                x: x0,
                y: y0,
                width: (x1 - x0) as u16,
                height: (y1 - y0) as u16,
            };
            if (bits >> (63 - i)) & 1 == 1 {
                ones.push(rect);
            } else {
                zeros.push(rect);
            }
        }
        let bottom = Rectangle {
            x: 0,
            y: (h / 2) as i16,
            width: w,
            height: h - h / 2,
        };
        c.poly_fill_rectangle(win, black, &zeros).unwrap();
        c.poly_fill_rectangle(win, white, &ones).unwrap();
        c.poly_fill_rectangle(win, grey, &[bottom]).unwrap();
        for g in [white, black, grey] {
            c.free_gc(g).unwrap();
        }
        self.sync();
    }

    /// Waits until the server has done everything sent so far.
    fn sync(&self) {
        self.conn.get_input_focus().unwrap().reply().unwrap();
    }
}

fn read(frame: &VideoFrame) -> Option<u64> {
    testsignal::read(frame)
}

/// Whether any luma pixel in the box differs clearly from the grey background.
fn has_cursor_near(f: &VideoFrame, cx: usize, cy: usize) -> bool {
    (cy.saturating_sub(4)..(cy + 40).min(f.height)).any(|y| {
        (cx.saturating_sub(4)..(cx + 40).min(f.width))
            .any(|x| f.y()[y * f.width + x].abs_diff(GREY_Y) > 40)
    })
}

#[test]
fn captures_screens_and_windows_under_xvfb() {
    let _serial = X_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let xvfb = Xvfb::start(1920, 1080);
    let display = xvfb.display.as_str();
    let p = Painter::connect(display);

    // A window covering the screen, with the barcode of T_FULL; the pointer in the grey half.
    let full = p.window("huddle full", 0, 0, 1920, 1080, T_FULL);
    p.conn
        .warp_pointer(x11rb::NONE, p.root, 0, 0, 0, 0, 1700, 900)
        .unwrap();
    p.sync();

    // The whole screen, full size, through MIT-SHM, cursor drawn in.
    let mut cap =
        X11Capture::screen(Some(display), None, 1920, 1080, 30).expect("capture the screen");
    assert!(cap.uses_shm(), "Xvfb offers MIT-SHM: {}", cap.describe());
    let f = cap.capture().expect("a frame").frame;
    assert_eq!((f.width, f.height), (1920, 1080));
    assert_eq!(read(&f), Some(T_FULL));
    assert!(
        has_cursor_near(&f, 1700, 900),
        "no cursor drawn near the pointer"
    );
    assert!(
        !has_cursor_near(&f, 1200, 900),
        "cursor-like pixels where the pointer is not"
    );
    cap.set_cursor(false);
    let f = cap.capture().unwrap().frame;
    assert!(
        !has_cursor_near(&f, 1700, 900),
        "cursor drawn although turned off"
    );
    println!("{}", cap.describe());

    // The same without SHM (plain GetImage through the socket).
    assert!(!cap.set_shm(false).unwrap());
    let f = cap.capture().unwrap().frame;
    assert_eq!(read(&f), Some(T_FULL), "plain GetImage");
    assert!(cap.set_shm(true).unwrap());

    // Screen by number, scaled to 1280×720.
    let mut small = X11Capture::screen(Some(display), Some("0"), 1280, 720, 30).unwrap();
    let f = small.capture().unwrap().frame;
    assert_eq!((f.width, f.height), (1280, 720));
    assert_eq!(read(&f), Some(T_FULL), "screen scaled to 1280x720");

    // Listing: screen 0 and any RandR monitors; a monitor captures like a screen.
    let screens = x11::list_screens(Some(display)).unwrap();
    println!("screens: {screens:?}");
    let s0 = screens
        .iter()
        .find(|s| s.id == "0")
        .expect("X screen 0 listed");
    assert_eq!((s0.width, s0.height), (1920, 1080));
    for m in screens.iter().filter(|s| s.id != "0") {
        let mut mc = X11Capture::screen(Some(display), Some(&m.id), 1280, 720, 30).unwrap();
        assert_eq!(
            read(&mc.capture().unwrap().frame),
            Some(T_FULL),
            "monitor {}",
            m.id
        );
    }
    assert!(matches!(
        X11Capture::screen(Some(display), Some("no-such-monitor"), 1280, 720, 30),
        Err(SourceError::Device(_))
    ));

    // The full window itself, by id, scaled.
    let full_id = format!("0x{full:x}");
    let mut wc = X11Capture::window(Some(display), &full_id, 1280, 720, 30).unwrap();
    // Redirection sends the window an Expose (checked by hand): real apps repaint then.
    p.paint(full, 1920, 1080, T_FULL);
    let f = wc.capture().unwrap().frame;
    assert_eq!((f.width, f.height), (1280, 720));
    assert_eq!(read(&f), Some(T_FULL), "full window: {}", wc.describe());

    // A window partly off-screen (480 px past the right edge) and then wholly covered.
    let partial = p.window("huddle partial", 1400, 200, 1000, 600, T_PARTIAL);
    p.conn
        .configure_window(
            full,
            &ConfigureWindowAux::new().stack_mode(StackMode::ABOVE),
        )
        .unwrap();
    p.sync();
    let partial_id = format!("{partial}"); // decimal works too
    let mut pc = X11Capture::window(Some(display), &partial_id, 1920, 1080, 30).unwrap();
    // Its hidden parts were never drawn: they appear once the app answers the Expose.
    p.paint(partial, 1000, 600, T_PARTIAL);
    let f = pc.capture().unwrap().frame;
    assert_eq!((f.width, f.height), (1000, 600));
    assert_eq!(
        read(&f),
        Some(T_PARTIAL),
        "partly off-screen, covered window: {}",
        pc.describe()
    );
    // The screen still shows the full window on top.
    assert_eq!(read(&cap.capture().unwrap().frame), Some(T_FULL));

    // A window not shown yet: black at its size, then its picture once it is mapped (in the
    // grey half of the screen, so the screen's barcode stays readable).
    let later = p.unmapped_window("huddle later", 1200, 560, 640, 480);
    let mut lc =
        X11Capture::window(Some(display), &format!("0x{later:x}"), 1920, 1080, 30).unwrap();
    let f = lc.capture().unwrap().frame;
    assert_eq!((f.width, f.height), (640, 480));
    assert!(f.y().iter().all(|&y| y == 16), "not black while unmapped");
    p.conn.map_window(later).unwrap();
    p.paint(later, 640, 480, T_LATER);
    assert_eq!(read(&lc.capture().unwrap().frame), Some(T_LATER));
    assert_eq!(read(&cap.capture().unwrap().frame), Some(T_FULL));

    // Listing windows with no window manager: QueryTree finds both.
    // SAFETY: X_LOCK serialises the tests of this binary, and nothing else in this process
    // reads or writes the environment while they run.
    unsafe { std::env::set_var("DISPLAY", display) };
    let windows = screen::list_windows().expect("list windows");
    println!("windows: {windows:?}");
    let fw = windows
        .iter()
        .find(|w| w.id == full_id)
        .expect("full window listed");
    assert_eq!(
        (fw.title.as_str(), fw.width, fw.height),
        ("huddle full", 1920, 1080)
    );
    let pw = windows
        .iter()
        .find(|w| w.title == "huddle partial")
        .expect("partial window listed");
    assert_eq!((pw.width, pw.height), (1000, 600));
    let screens = screen::list_screens().expect("list screens");
    assert!(screens.iter().any(|s| s.id == "0" && s.width == 1920));

    // With a window manager's _NET_CLIENT_LIST, that list is used.
    let net_client_list = p
        .conn
        .intern_atom(false, b"_NET_CLIENT_LIST")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    p.conn
        .change_property32(
            PropMode::REPLACE,
            p.root,
            net_client_list,
            AtomEnum::WINDOW,
            &[partial],
        )
        .unwrap();
    p.sync();
    let managed = screen::list_windows().unwrap();
    assert_eq!(managed.len(), 1, "{managed:?}");
    assert_eq!(managed[0].title, "huddle partial");

    // open_share as the CLI uses it.
    let mut shared = screen::open_share(&ShareChoice::parse("screen").unwrap(), 1280, 720, 30)
        .unwrap()
        .expect("a source");
    let f = shared.next_frame().unwrap().frame;
    assert_eq!((f.width, f.height, read(&f)), (1280, 720, Some(T_FULL)));
    println!("{}", shared.describe());
    let choice = ShareChoice::parse(&format!("window:0x{partial:x}")).unwrap();
    let mut shared_win = screen::open_share(&choice, 1280, 720, 30)
        .unwrap()
        .expect("a source");
    let f = shared_win.next_frame().unwrap().frame;
    assert_eq!((f.width, f.height), (1000, 600));
    assert_eq!(read(&f), Some(T_PARTIAL));

    // Pacing: 6 frames at 30 fps take about 5 periods. Frames that fell due while the window
    // share was opened come at once (the pacer keeps its schedule by catching up), so the
    // count starts at the first frame that had to be waited for.
    for _ in 0..10 {
        let asked = Instant::now();
        shared.next_frame().unwrap();
        if asked.elapsed() >= Duration::from_millis(10) {
            break;
        }
    }
    let start = Instant::now();
    for _ in 0..6 {
        assert_eq!(read(&shared.next_frame().unwrap().frame), Some(T_FULL));
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(150), "{took:?}");

    // Unmapped (minimised): the last picture keeps coming; closed: Stopped.
    p.conn.unmap_window(partial).unwrap();
    p.sync();
    assert_eq!(read(&pc.capture().unwrap().frame), Some(T_PARTIAL));
    p.conn.destroy_window(partial).unwrap();
    p.sync();
    match pc.capture() {
        Err(SourceError::Stopped(msg)) => println!("closed window: {msg}"),
        other => panic!(
            "expected Stopped for a closed window, got {:?}",
            other.map(|f| f.frame.width)
        ),
    }
    match shared_win.next_frame() {
        Err(SourceError::Stopped(_)) => {}
        other => panic!("expected Stopped, got {:?}", other.map(|f| f.frame.width)),
    }
    assert!(X11Capture::window(Some(display), &format!("0x{partial:x}"), 1280, 720, 30).is_err());

    // The X server going away stops the screen capture without a panic.
    drop(p);
    drop(xvfb);
    assert!(cap.capture().is_err());
}

/// This thread's CPU time in ns (Linux schedstat): unlike wall time, not inflated by waiting
/// for a core on a busy machine.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Runs `f` in 10 batches of 20 and prints, in ms per call: the best batch's wall time (the
/// cost on an idle machine), the mean wall time (what others' load made of it), and this
/// thread's CPU time (for capture it leaves out the X server's share of the work).
fn bench(label: &str, mut f: impl FnMut()) {
    let (batches, per_batch) = (10u32, 20u32);
    f(); // warm up
    let mut best = f64::MAX;
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..per_batch {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() * 1000.0 / f64::from(per_batch));
    }
    let n = f64::from(batches * per_batch);
    let mean = start.elapsed().as_secs_f64() * 1000.0 / n;
    let cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => format!("{:.2}", (b - a) as f64 / 1e6 / n),
        _ => "?".into(),
    };
    println!("{label}: best {best:.2} ms, mean {mean:.2} ms, cpu {cpu} ms");
}

/// `cargo test --release -p huddle-engine --test screen_capture -- --ignored --nocapture`
#[test]
#[ignore]
fn timing() {
    let _serial = X_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let xvfb = Xvfb::start(1920, 1080);
    let display = xvfb.display.as_str();
    let p = Painter::connect(display);
    p.window("huddle timing", 0, 0, 1920, 1080, T_FULL);

    let mut cap = X11Capture::screen(Some(display), None, 1280, 720, 30).unwrap();
    for (label, shm, cursor) in [
        ("MIT-SHM + cursor", true, true),
        ("MIT-SHM, no cursor", true, false),
        ("plain GetImage + cursor", false, true),
    ] {
        assert_eq!(cap.set_shm(shm).unwrap(), shm);
        cap.set_cursor(cursor);
        bench(&format!("capture 1920x1080 {label}"), || {
            cap.grab().unwrap();
        });
    }
    cap.set_shm(true).unwrap();
    cap.set_cursor(true);

    let (w, h) = cap.capture_size();
    let bgra = cap.bgra().to_vec();
    let mut full = VideoFrame::black(w, h);
    bench("BGRA→I420 1920x1080", || {
        scale::bgra_to_i420(&bgra, w * 4, w, h, &mut full).unwrap();
    });
    assert_eq!(read(&full), Some(T_FULL));

    for (dw, dh) in [(1280, 720), (960, 540), (640, 360), (1278, 718)] {
        let mut scaler = Scaler::new(w, h, dw, dh);
        bench(&format!("scale 1920x1080→{dw}x{dh}"), || {
            std::hint::black_box(scaler.scale(&full).unwrap());
        });
    }
    bench(
        "whole capture() 1920x1080→1280x720 (SHM, cursor, convert, scale)",
        || {
            std::hint::black_box(cap.capture().unwrap());
        },
    );
}
