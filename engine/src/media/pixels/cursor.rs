//! Drawing a cursor picture into a BGRA screen image (the cursor is not part of a capture).

/// A cursor picture as XFixes `GetCursorImage` gives it: `width × height` pixels of
/// premultiplied ARGB (alpha in the top byte), with the hotspot at (`xhot`, `yhot`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CursorImage {
    pub width: usize,
    pub height: usize,
    pub xhot: usize,
    pub yhot: usize,
    pub pixels: Vec<u32>,
}

/// Draws `cursor` over a BGRA picture (`stride` bytes per line) with its top-left pixel at
/// (`x`, `y`), which may lie partly or wholly outside the picture.
pub fn blend_cursor(
    dst: &mut [u8],
    stride: usize,
    width: usize,
    height: usize,
    cursor: &CursorImage,
    x: i64,
    y: i64,
) {
    if cursor.pixels.len() < cursor.width * cursor.height || stride < width * 4 {
        return;
    }
    // The overlap of the cursor with the picture, in cursor coordinates.
    let cx0 = (-x).clamp(0, cursor.width as i64) as usize;
    let cy0 = (-y).clamp(0, cursor.height as i64) as usize;
    let cx1 = (width as i64 - x).clamp(0, cursor.width as i64) as usize;
    let cy1 = (height as i64 - y).clamp(0, cursor.height as i64) as usize;
    if cx0 >= cx1 || cy0 >= cy1 {
        return;
    }
    for cy in cy0..cy1 {
        let py = (y + cy as i64) as usize;
        let line = &cursor.pixels[cy * cursor.width..][cx0..cx1];
        let start = py * stride + (x + cx0 as i64) as usize * 4;
        let Some(out) = dst.get_mut(start..start + line.len() * 4) else {
            return;
        };
        for (&argb, px) in line.iter().zip(out.chunks_exact_mut(4)) {
            let a = argb >> 24;
            if a == 0 {
                continue;
            }
            let keep = 255 - a;
            // Premultiplied "over": out = src + dst·(1 − α).
            for (i, shift) in [(0, 0), (1, 8), (2, 16)] {
                let s = (argb >> shift) & 0xFF;
                let d = u32::from(px[i]);
                px[i] = (s + (d * keep + 127) / 255).min(255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::pixels::test_util::solid_bgra;

    #[test]
    fn cursor_is_blended_over_a_region_and_clipped() {
        let (w, h) = (8, 6);
        let mut img = solid_bgra([100, 100, 100], w, h);
        // 3×2 cursor: opaque red, half-transparent white (premultiplied), transparent;
        // second line opaque black, opaque white, transparent.
        let cursor = CursorImage {
            width: 3,
            height: 2,
            xhot: 0,
            yhot: 0,
            pixels: vec![
                0xFFFF_0000,
                0x8080_8080,
                0x0000_0000,
                0xFF00_0000,
                0xFFFF_FFFF,
                0x0000_0000,
            ],
        };
        blend_cursor(&mut img, w * 4, w, h, &cursor, 2, 3);
        let px = |img: &[u8], x: usize, y: usize| {
            <[u8; 4]>::try_from(&img[(y * w + x) * 4..][..4]).unwrap()
        };
        assert_eq!(px(&img, 2, 3), [0, 0, 255, 255]);
        // 128 + 100·127/255 ≈ 178.
        assert_eq!(px(&img, 3, 3), [178, 178, 178, 255]);
        assert_eq!(px(&img, 4, 3), [100, 100, 100, 255]);
        assert_eq!(px(&img, 2, 4), [0, 0, 0, 255]);
        assert_eq!(px(&img, 3, 4), [255, 255, 255, 255]);
        // Nothing outside the cursor changed.
        for y in 0..h {
            for x in 0..w {
                if !((2..=4).contains(&x) && (3..=4).contains(&y)) {
                    assert_eq!(px(&img, x, y), [100, 100, 100, 255], "({x},{y})");
                }
            }
        }
        // Partly and wholly outside: clipped, no panic.
        let mut img = solid_bgra([100, 100, 100], w, h);
        blend_cursor(&mut img, w * 4, w, h, &cursor, -1, -1);
        assert_eq!(px(&img, 0, 0), [255, 255, 255, 255]);
        blend_cursor(&mut img, w * 4, w, h, &cursor, 7, 5);
        assert_eq!(px(&img, 7, 5), [0, 0, 255, 255]);
        for (x, y) in [
            (-10, 0),
            (100, 0),
            (0, -10),
            (0, 100),
            (i64::MIN / 2, i64::MAX / 2),
        ] {
            blend_cursor(&mut img, w * 4, w, h, &cursor, x, y);
        }
    }
}
