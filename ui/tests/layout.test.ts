import { describe, expect, it } from "vitest";
import { bestGrid } from "../src/room/layout";

function area(n: number, cols: number, W: number, H: number, gap: number, aspect: number): number {
  const rows = Math.ceil(n / cols);
  const cw = (W - gap * (cols - 1)) / cols;
  const ch = (H - gap * (rows - 1)) / rows;
  const tw = Math.min(cw, ch * aspect);
  return tw * (tw / aspect);
}

describe("bestGrid", () => {
  it("one tile fills the stage by aspect", () => {
    expect(bestGrid(1, 1600, 900, 16 / 9, 8)).toEqual({ cols: 1, rows: 1, tileWidth: 1600, tileHeight: 900 });
    const g = bestGrid(1, 1000, 1000, 16 / 9, 8);
    expect(g.tileWidth).toBe(1000);
    expect(g.tileHeight).toBe(562);
  });

  it("puts two side by side on a wide stage and stacked on a tall one", () => {
    expect(bestGrid(2, 1600, 900)).toMatchObject({ cols: 2, rows: 1 });
    expect(bestGrid(2, 500, 1000)).toMatchObject({ cols: 1, rows: 2 });
  });

  it("uses 2×2 for 3 or 4 on a 16:9 stage", () => {
    expect(bestGrid(3, 1600, 900)).toMatchObject({ cols: 2, rows: 2 });
    expect(bestGrid(4, 1600, 900)).toMatchObject({ cols: 2, rows: 2 });
  });

  it("uses one column for 3 on a very tall stage", () => {
    expect(bestGrid(3, 400, 1200)).toMatchObject({ cols: 1, rows: 3 });
  });

  it("maximises tile area over every column count", () => {
    for (const [W, H] of [
      [1600, 900],
      [1200, 1000],
      [800, 1400],
      [1920, 600],
    ] as const) {
      for (let n = 1; n <= 50; n++) {
        const g = bestGrid(n, W, H, 16 / 9, 8);
        expect(g.cols * g.rows).toBeGreaterThanOrEqual(n);
        expect((g.rows - 1) * g.cols).toBeLessThan(n); // no empty row
        const best = Math.max(...Array.from({ length: n }, (_, i) => area(n, i + 1, W, H, 8, 16 / 9)));
        expect(g.tileWidth * g.tileHeight).toBeGreaterThanOrEqual(best * 0.99 - 2 * (g.tileWidth + g.tileHeight));
        expect(g.tileWidth * g.cols + 8 * (g.cols - 1)).toBeLessThanOrEqual(W);
        expect(g.tileHeight * g.rows + 8 * (g.rows - 1)).toBeLessThanOrEqual(H);
      }
    }
  });

  it("handles empty input", () => {
    expect(bestGrid(0, 100, 100).tileWidth).toBe(0);
    expect(bestGrid(3, 0, 100).tileWidth).toBe(0);
  });
});
