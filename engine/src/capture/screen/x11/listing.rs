//! Which screens, RandR monitors and top-level windows an X display has.

use x11rb::connection::Connection;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, MapState, Window, WindowClass};
use x11rb::rust_connection::RustConnection;

use super::{Rect, conn_err, connect, has_extension, reply_err};
use crate::capture::screen::{ScreenInfo, WindowInfo};
use crate::capture::source::SourceError;

/// The RandR monitors of one root window (empty without RandR 1.5).
pub(super) fn monitors(
    conn: &RustConnection,
    root: Window,
) -> Result<Vec<(String, bool, Rect)>, SourceError> {
    if !has_extension(conn, randr::X11_EXTENSION_NAME)? {
        return Ok(Vec::new());
    }
    let version = conn
        .randr_query_version(1, 5)
        .map_err(conn_err)?
        .reply()
        .map_err(|e| reply_err("RandR version", e))?;
    if (version.major_version, version.minor_version) < (1, 5) {
        return Ok(Vec::new());
    }
    let reply = conn
        .randr_get_monitors(root, true)
        .map_err(conn_err)?
        .reply()
        .map_err(|e| reply_err("RandR monitors", e))?;
    let mut out = Vec::with_capacity(reply.monitors.len());
    for m in reply.monitors {
        let name = conn
            .get_atom_name(m.name)
            .map_err(conn_err)?
            .reply()
            .map(|r| String::from_utf8_lossy(&r.name).into_owned())
            .unwrap_or_else(|_| format!("monitor-{}", m.name));
        let rect = Rect {
            x: m.x,
            y: m.y,
            width: m.width,
            height: m.height,
        };
        out.push((name, m.primary, rect));
    }
    Ok(out)
}

/// The X screens of `display` (ids "0", "1", …) and their RandR monitors (ids = names).
pub fn list_screens(display: Option<&str>) -> Result<Vec<ScreenInfo>, SourceError> {
    let (conn, _, _) = connect(display)?;
    let mut out = Vec::new();
    for (i, screen) in conn.setup().roots.iter().enumerate() {
        out.push(ScreenInfo {
            id: i.to_string(),
            name: format!("X screen {i}"),
            width: u32::from(screen.width_in_pixels),
            height: u32::from(screen.height_in_pixels),
        });
    }
    let roots: Vec<Window> = conn.setup().roots.iter().map(|s| s.root).collect();
    for (i, root) in roots.into_iter().enumerate() {
        for (name, primary, r) in monitors(&conn, root)? {
            out.push(ScreenInfo {
                name: format!(
                    "monitor {name} of X screen {i}{} at {}x{}+{}+{}",
                    if primary { " (primary)" } else { "" },
                    r.width,
                    r.height,
                    r.x,
                    r.y
                ),
                id: name,
                width: u32::from(r.width),
                height: u32::from(r.height),
            });
        }
    }
    Ok(out)
}

/// Interns an atom if it exists (`None` when no client ever created it).
fn atom(conn: &RustConnection, name: &[u8]) -> Result<Option<u32>, SourceError> {
    let a = conn
        .intern_atom(true, name)
        .map_err(conn_err)?
        .reply()
        .map_err(|e| reply_err("InternAtom", e))?
        .atom;
    Ok((a != u32::from(AtomEnum::NONE)).then_some(a))
}

/// A window's title: `_NET_WM_NAME` (UTF-8), else `WM_NAME` (Latin-1 or UTF-8).
fn window_title(
    conn: &RustConnection,
    win: Window,
    net_wm_name: Option<u32>,
    utf8: Option<u32>,
) -> String {
    if let (Some(name), Some(utf8)) = (net_wm_name, utf8)
        && let Ok(Ok(r)) = conn
            .get_property(false, win, name, utf8, 0, 1024)
            .map(|c| c.reply())
        && !r.value.is_empty()
    {
        return String::from_utf8_lossy(&r.value).into_owned();
    }
    let cookie = conn.get_property(false, win, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 1024);
    match cookie.map(|c| c.reply()) {
        Ok(Ok(r)) if r.type_ == u32::from(AtomEnum::STRING) => {
            r.value.iter().map(|&b| char::from(b)).collect()
        }
        Ok(Ok(r)) => String::from_utf8_lossy(&r.value).into_owned(),
        _ => String::new(),
    }
}

/// The top-level windows: `_NET_CLIENT_LIST` when a window manager keeps one, else the
/// viewable children of each root window (no window manager, e.g. bare Xvfb).
pub fn list_windows(display: Option<&str>) -> Result<Vec<WindowInfo>, SourceError> {
    let (conn, _, _) = connect(display)?;
    let client_list = atom(&conn, b"_NET_CLIENT_LIST")?;
    let net_wm_name = atom(&conn, b"_NET_WM_NAME")?;
    let utf8 = atom(&conn, b"UTF8_STRING")?;
    let roots: Vec<Window> = conn.setup().roots.iter().map(|s| s.root).collect();

    let mut candidates = Vec::new();
    for root in roots {
        let managed = match client_list {
            Some(a) => conn
                .get_property(false, root, a, AtomEnum::WINDOW, 0, 1 << 16)
                .map_err(conn_err)?
                .reply()
                .ok()
                .and_then(|r| r.value32().map(|v| v.collect::<Vec<u32>>()))
                .unwrap_or_default(),
            None => Vec::new(),
        };
        if !managed.is_empty() {
            candidates.extend(managed);
            continue;
        }
        let children = conn
            .query_tree(root)
            .map_err(conn_err)?
            .reply()
            .map_err(|e| reply_err("QueryTree", e))?
            .children;
        // Ask for every child's attributes at once, then read the replies.
        let cookies = children
            .iter()
            .map(|&w| conn.get_window_attributes(w).map(|c| (w, c)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(conn_err)?;
        for (w, cookie) in cookies {
            // A window may vanish while we look: skip it.
            let Ok(attrs) = cookie.reply() else { continue };
            if attrs.map_state == MapState::VIEWABLE
                && attrs.class == WindowClass::INPUT_OUTPUT
                && !attrs.override_redirect
            {
                candidates.push(w);
            }
        }
    }

    let mut out = Vec::with_capacity(candidates.len());
    for w in candidates {
        let Ok(Ok(geom)) = conn.get_geometry(w).map(|c| c.reply()) else {
            continue;
        };
        out.push(WindowInfo {
            id: format!("0x{w:x}"),
            title: window_title(&conn, w, net_wm_name, utf8),
            width: u32::from(geom.width),
            height: u32::from(geom.height),
        });
    }
    Ok(out)
}

/// A window id as `list_windows` prints it (`0x…`) or in decimal.
pub fn parse_window_id(id: &str) -> Result<Window, SourceError> {
    let id = id.trim();
    let parsed = match id.strip_prefix("0x").or_else(|| id.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => id.parse(),
    };
    parsed.ok().filter(|&w| w != 0).ok_or_else(|| {
        SourceError::Device(format!("bad window id '{id}': expected 0x… or decimal"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ids_parse() {
        assert_eq!(parse_window_id("0x1a00003").unwrap(), 0x1a0_0003);
        assert_eq!(parse_window_id("0X1A00003").unwrap(), 0x1a0_0003);
        assert_eq!(parse_window_id("4194305").unwrap(), 4_194_305);
        for bad in ["", "0", "0x", "zz", "0xfffffffff", "-1"] {
            assert!(parse_window_id(bad).is_err(), "{bad}");
        }
    }
}
