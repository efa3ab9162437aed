// Grid layout: columns × rows that give the largest tiles for a stage. Pure.
export interface GridLayout {
  cols: number;
  rows: number;
  tileWidth: number;
  tileHeight: number;
}

/**
 * For n tiles of the given aspect ratio (width/height) in a stage of stageW × stageH
 * with `gap` pixels between tiles, choose the column count that maximises tile area.
 * Ties go to the layout with fewer empty cells, then to fewer columns.
 */
export function bestGrid(n: number, stageW: number, stageH: number, aspect = 16 / 9, gap = 8): GridLayout {
  if (n <= 0 || stageW <= 0 || stageH <= 0) return { cols: 1, rows: 1, tileWidth: 0, tileHeight: 0 };
  let best: GridLayout | null = null;
  let bestEmpty = Infinity;
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    // skip layouts with a whole empty row or column
    if ((cols - 1) * rows >= n) continue;
    const cellW = (stageW - gap * (cols - 1)) / cols;
    const cellH = (stageH - gap * (rows - 1)) / rows;
    if (cellW <= 0 || cellH <= 0) continue;
    const tileW = Math.min(cellW, cellH * aspect);
    const tileH = tileW / aspect;
    const empty = cols * rows - n;
    const area = tileW * tileH;
    const bestArea = best ? best.tileWidth * best.tileHeight : -1;
    if (area > bestArea + 1e-6 || (Math.abs(area - bestArea) <= 1e-6 && empty < bestEmpty)) {
      best = { cols, rows, tileWidth: Math.floor(tileW), tileHeight: Math.floor(tileH) };
      bestEmpty = empty;
    }
  }
  return best ?? { cols: 1, rows: n, tileWidth: 0, tileHeight: 0 };
}
