// object-fit math for drawing a W×H frame into a canvas. Pure.
export type Fit = "cover" | "contain";

export interface FitResult {
  /** Quad size as a fraction of the canvas (≤ 1), centered. */
  quadX: number;
  quadY: number;
  /** Visible part of the texture (≤ 1), centered. */
  uvX: number;
  uvY: number;
}

export function computeFit(frameW: number, frameH: number, viewW: number, viewH: number, fit: Fit): FitResult {
  if (frameW <= 0 || frameH <= 0 || viewW <= 0 || viewH <= 0) return { quadX: 1, quadY: 1, uvX: 1, uvY: 1 };
  const fa = frameW / frameH;
  const va = viewW / viewH;
  if (fit === "contain") {
    return fa > va
      ? { quadX: 1, quadY: va / fa, uvX: 1, uvY: 1 }
      : { quadX: fa / va, quadY: 1, uvX: 1, uvY: 1 };
  }
  return fa > va
    ? { quadX: 1, quadY: 1, uvX: va / fa, uvY: 1 }
    : { quadX: 1, quadY: 1, uvX: 1, uvY: fa / va };
}
