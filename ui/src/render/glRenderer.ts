// Draws I420 frames into one canvas with WebGL (R8 textures on WebGL2, LUMINANCE on
// WebGL1); BT.601 limited-range YUV→RGB in the fragment shader.
import type { Frame } from "./frameHeader";
import { computeFit, type Fit } from "./fit";

export interface FrameRenderer {
  draw(frame: Frame, fit: Fit): void;
  dispose(): void;
  readonly lost: boolean;
}

const VS = `
attribute vec2 a_pos;
uniform vec2 u_quad;
uniform vec2 u_uv;
varying vec2 v_uv;
void main() {
  vec2 uv = a_pos * 0.5 + 0.5;
  v_uv = vec2(0.5 + (uv.x - 0.5) * u_uv.x, 0.5 - (uv.y - 0.5) * u_uv.y);
  gl_Position = vec4(a_pos * u_quad, 0.0, 1.0);
}`;

// Limited-range BT.601: Y in [16,235], Cb/Cr in [16,240].
const FS = (channel: string) => `
precision mediump float;
varying vec2 v_uv;
uniform sampler2D u_y;
uniform sampler2D u_u;
uniform sampler2D u_v;
void main() {
  float y = 1.16438356 * (texture2D(u_y, v_uv).${channel} - 0.0627451);
  float u = texture2D(u_u, v_uv).${channel} - 0.5019608;
  float v = texture2D(u_v, v_uv).${channel} - 0.5019608;
  gl_FragColor = vec4(
    clamp(y + 1.59602678 * v, 0.0, 1.0),
    clamp(y - 0.39176229 * u - 0.81296764 * v, 0.0, 1.0),
    clamp(y + 2.01723214 * u, 0.0, 1.0),
    1.0);
}`;

type GL = WebGLRenderingContext | WebGL2RenderingContext;

let liveContexts = 0;
/** WebKit keeps ~16 live WebGL contexts; past this many, tiles fall back to 2D canvas. */
export const MAX_GL_CONTEXTS = 12;

export class GLRenderer implements FrameRenderer {
  lost = false;
  private gl: GL;
  private isGL2: boolean;
  private prog: WebGLProgram;
  private tex: WebGLTexture[] = [];
  private texSizes: [number, number][] = [
    [0, 0],
    [0, 0],
    [0, 0],
  ];
  private uQuad: WebGLUniformLocation | null;
  private uUv: WebGLUniformLocation | null;
  private onLost = (e: Event): void => {
    e.preventDefault();
    this.lost = true;
  };

  static create(canvas: HTMLCanvasElement): GLRenderer | null {
    if (liveContexts >= MAX_GL_CONTEXTS) return null;
    const opts: WebGLContextAttributes = {
      alpha: false,
      antialias: false,
      depth: false,
      stencil: false,
      preserveDrawingBuffer: false,
      powerPreference: "low-power",
    };
    try {
      const gl2 = canvas.getContext("webgl2", opts);
      if (gl2) return new GLRenderer(canvas, gl2, true);
      const gl1 = canvas.getContext("webgl", opts);
      if (gl1) return new GLRenderer(canvas, gl1, false);
    } catch {
      // no WebGL here
    }
    return null;
  }

  private constructor(
    private canvas: HTMLCanvasElement,
    gl: GL,
    isGL2: boolean,
  ) {
    this.gl = gl;
    this.isGL2 = isGL2;
    liveContexts++;
    canvas.addEventListener("webglcontextlost", this.onLost);
    const prog = gl.createProgram();
    const compile = (type: number, src: string): WebGLShader => {
      const s = gl.createShader(type)!;
      gl.shaderSource(s, src);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s) ?? "shader");
      return s;
    };
    gl.attachShader(prog, compile(gl.VERTEX_SHADER, VS));
    // WebGL2 R8 textures put the value in .r; WebGL1 LUMINANCE in .r as well (rgb replicated).
    gl.attachShader(prog, compile(gl.FRAGMENT_SHADER, FS("r")));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog) ?? "link");
    this.prog = prog;
    gl.useProgram(prog);
    const buf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const loc = gl.getAttribLocation(prog, "a_pos");
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
    this.uQuad = gl.getUniformLocation(prog, "u_quad");
    this.uUv = gl.getUniformLocation(prog, "u_uv");
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    ["u_y", "u_u", "u_v"].forEach((name, i) => {
      const t = gl.createTexture();
      gl.activeTexture(gl.TEXTURE0 + i);
      gl.bindTexture(gl.TEXTURE_2D, t);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      gl.uniform1i(gl.getUniformLocation(prog, name), i);
      this.tex.push(t);
    });
    gl.clearColor(0, 0, 0, 0);
  }

  private upload(i: number, data: Uint8Array, w: number, h: number): void {
    const gl = this.gl;
    gl.activeTexture(gl.TEXTURE0 + i);
    gl.bindTexture(gl.TEXTURE_2D, this.tex[i]!);
    const size = this.texSizes[i]!;
    const fmt = this.isGL2 ? (gl as WebGL2RenderingContext).RED : gl.LUMINANCE;
    if (size[0] === w && size[1] === h) {
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w, h, fmt, gl.UNSIGNED_BYTE, data);
    } else {
      const internal = this.isGL2 ? (gl as WebGL2RenderingContext).R8 : gl.LUMINANCE;
      gl.texImage2D(gl.TEXTURE_2D, 0, internal, w, h, 0, fmt, gl.UNSIGNED_BYTE, data);
      this.texSizes[i] = [w, h];
    }
  }

  draw(frame: Frame, fit: Fit): void {
    if (this.lost) return;
    const gl = this.gl;
    const cw = this.canvas.width;
    const chh = this.canvas.height;
    gl.viewport(0, 0, cw, chh);
    gl.useProgram(this.prog);
    this.upload(0, frame.y, frame.width, frame.height);
    this.upload(1, frame.u, frame.chromaWidth, frame.chromaHeight);
    this.upload(2, frame.v, frame.chromaWidth, frame.chromaHeight);
    const f = computeFit(frame.width, frame.height, cw, chh, fit);
    gl.uniform2f(this.uQuad, f.quadX, f.quadY);
    gl.uniform2f(this.uUv, f.uvX, f.uvY);
    if (f.quadX < 1 || f.quadY < 1) gl.clear(gl.COLOR_BUFFER_BIT);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }

  dispose(): void {
    const gl = this.gl;
    this.canvas.removeEventListener("webglcontextlost", this.onLost);
    for (const t of this.tex) gl.deleteTexture(t);
    gl.deleteProgram(this.prog);
    liveContexts = Math.max(0, liveContexts - 1);
    // Free the context now rather than at GC time (WebKit caps live contexts).
    const ext = gl.getExtension("WEBGL_lose_context");
    ext?.loseContext();
  }
}

/** Fallback: converts to RGBA in JS and draws with a 2D context (small tiles only). */
export class Canvas2DRenderer implements FrameRenderer {
  lost = false;
  private ctx: CanvasRenderingContext2D;
  private scratch: HTMLCanvasElement;
  private sctx: CanvasRenderingContext2D;
  private img: ImageData | null = null;

  static create(canvas: HTMLCanvasElement): Canvas2DRenderer | null {
    try {
      const ctx = canvas.getContext("2d");
      const scratch = document.createElement("canvas");
      const sctx = scratch.getContext("2d");
      if (!ctx || !sctx) return null;
      return new Canvas2DRenderer(canvas, ctx, scratch, sctx);
    } catch {
      return null;
    }
  }

  private constructor(
    private canvas: HTMLCanvasElement,
    ctx: CanvasRenderingContext2D,
    scratch: HTMLCanvasElement,
    sctx: CanvasRenderingContext2D,
  ) {
    this.ctx = ctx;
    this.scratch = scratch;
    this.sctx = sctx;
  }

  draw(frame: Frame, fit: Fit): void {
    const { width: w, height: h } = frame;
    if (!this.img || this.img.width !== w || this.img.height !== h) {
      this.img = this.sctx.createImageData(w, h);
      this.scratch.width = w;
      this.scratch.height = h;
    }
    const out = this.img.data;
    const cw = frame.chromaWidth;
    for (let j = 0; j < h; j++) {
      const crow = (j >> 1) * cw;
      for (let i = 0; i < w; i++) {
        const yv = 1.164 * (frame.y[j * w + i]! - 16);
        const u = frame.u[crow + (i >> 1)]! - 128;
        const v = frame.v[crow + (i >> 1)]! - 128;
        const o = (j * w + i) * 4;
        out[o] = yv + 1.596 * v;
        out[o + 1] = yv - 0.392 * u - 0.813 * v;
        out[o + 2] = yv + 2.017 * u;
        out[o + 3] = 255;
      }
    }
    this.sctx.putImageData(this.img, 0, 0);
    const vw = this.canvas.width;
    const vh = this.canvas.height;
    const f = computeFit(w, h, vw, vh, fit);
    this.ctx.clearRect(0, 0, vw, vh);
    const sw = w * f.uvX;
    const sh = h * f.uvY;
    const dw = vw * f.quadX;
    const dh = vh * f.quadY;
    this.ctx.drawImage(this.scratch, (w - sw) / 2, (h - sh) / 2, sw, sh, (vw - dw) / 2, (vh - dh) / 2, dw, dh);
  }

  dispose(): void {
    this.img = null;
  }
}

export function createRenderer(canvas: HTMLCanvasElement): FrameRenderer | null {
  try {
    const gl = GLRenderer.create(canvas);
    if (gl) return gl;
  } catch {
    // shader/program failure: fall back
  }
  return Canvas2DRenderer.create(canvas);
}
