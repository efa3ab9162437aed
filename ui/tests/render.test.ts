import { afterEach, describe, expect, it, vi } from "vitest";
import { drawBarcode } from "../src/render/barcode";
import { computeFit } from "../src/render/fit";
import { encodeFrame } from "../src/render/frameHeader";
import { FrameHub } from "../src/render/hub";
import { FrameSocket } from "../src/render/socket";
import { percentile, StreamStats } from "../src/render/stats";
import { ViewSizeReporter } from "../src/render/viewSizes";

function frame(stream: string, decodedAtMs: number, barcodeT: number | null, w = 320, h = 180): ArrayBuffer {
  const y = new Uint8Array(w * h).fill(128);
  if (barcodeT !== null) drawBarcode(y, w, h, barcodeT);
  return encodeFrame({ kind: 1, width: w, height: h, stream, decodedAtMs, sentAtMs: decodedAtMs, y });
}

afterEach(() => vi.useRealTimers());

describe("computeFit", () => {
  it("contain letterboxes a wide frame in a square view", () => {
    expect(computeFit(1280, 720, 500, 500, "contain")).toEqual({ quadX: 1, quadY: 0.5625, uvX: 1, uvY: 1 });
  });
  it("contain pillarboxes a 4:3 frame in a 16:9 view", () => {
    const f = computeFit(640, 480, 1600, 900, "contain");
    expect(f.quadX).toBeCloseTo(0.75);
    expect(f.quadY).toBe(1);
  });
  it("cover crops the frame instead", () => {
    const f = computeFit(1280, 720, 500, 500, "cover");
    expect(f.quadX).toBe(1);
    expect(f.quadY).toBe(1);
    expect(f.uvX).toBeCloseTo(0.5625);
    expect(f.uvY).toBe(1);
    expect(computeFit(640, 480, 1600, 900, "cover").uvY).toBeCloseTo(0.75);
  });
});

describe("stats", () => {
  it("percentiles use nearest rank", () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(s, 50)).toBe(5);
    expect(percentile(s, 95)).toBe(10);
    expect(percentile([], 50)).toBeNull();
  });
  it("drops glass-to-glass reads outside −50 ms … 60 s", () => {
    const st = new StreamStats();
    st.addGlassToGlass(-51);
    st.addGlassToGlass(60_001);
    st.addGlassToGlass(80);
    expect(st.snapshot().glassToGlass.n).toBe(1);
  });
});

describe("FrameHub", () => {
  it("draws each frame on arrival, once, and keeps the latest per stream", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(1_763_950_001_000);
    const hub = new FrameHub();
    const canvas = document.createElement("canvas");
    const actives: boolean[] = [];
    const view = hub.attach(canvas, "ada/video", "cover", (a) => actives.push(a));
    const drawn: number[] = [];
    view.draw = (f) => drawn.push(f.decodedAtMs);

    hub.ingest(frame("ada/video", 1_763_950_000_900, 1_763_950_000_800));
    hub.ingest(frame("ada/video", 1_763_950_000_950, 1_763_950_000_850));
    hub.ingest(frame("bob/video", 1_763_950_000_990, null)); // no view: kept, not drawn
    hub.tick(); // nothing new: no redraw
    expect(drawn).toEqual([1_763_950_000_900, 1_763_950_000_950]);
    expect(actives).toEqual([true]); // reported on change only

    const s = hub.renderStats();
    expect(s["ada/video"]).toMatchObject({ framesReceived: 2, framesDrawn: 2, framesDropped: 0, barcodesRead: 2 });
    expect(s["ada/video"]!.lastBarcodeMs).toBe(1_763_950_000_850);
    expect(s["ada/video"]!.glassToGlass).toEqual({ n: 2, p50: 150, p95: 200 });
    expect(s["ada/video"]!.decodeToDraw).toEqual({ n: 2, p50: 50, p95: 100 });

    // A stream whose view comes later is drawn then, once.
    const late: number[] = [];
    const bobView = hub.attach(document.createElement("canvas"), "bob/video", "cover", () => {});
    bobView.draw = (f) => late.push(f.decodedAtMs);
    hub.tick();
    hub.tick();
    expect(late.length).toBe(1);
    bobView.detach();
    expect(s["bob/video"]).toMatchObject({ framesReceived: 1, framesDrawn: 0, barcodesRead: 0 });
    view.detach();
  });

  it("counts parse errors and ignores garbage", () => {
    const hub = new FrameHub();
    hub.ingest(new ArrayBuffer(3));
    expect(hub.parseErrors).toBe(1);
    expect(hub.renderStats()).toEqual({});
  });

  it("marks views inactive when frames stop", () => {
    const hub = new FrameHub();
    const states: boolean[] = [];
    const v = hub.attach(document.createElement("canvas"), "local", "cover", (a) => states.push(a));
    v.draw = () => {};
    hub.ingest(frame("local", Date.now(), null));
    hub.tick();
    hub.checkStale(Date.now() + 10_000);
    expect(states).toEqual([true, false]);
    v.detach();
  });
});

describe("ViewSizeReporter", () => {
  it("debounces, sends the largest size per stream, and only when changed", async () => {
    vi.useFakeTimers();
    const sent: unknown[] = [];
    const r = new ViewSizeReporter((s) => {
      sent.push(s);
      return Promise.resolve();
    }, 100);
    const a = r.register();
    const b = r.register();
    r.set(a, "ada/video", 640, 360);
    r.set(b, "ada/video", 320.4, 180.2);
    r.set(a, "local", 400, 225);
    r.set(a, "local", 401, 225);
    expect(sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(150);
    expect(sent).toEqual([
      [
        { stream: "ada/video", width: 320, height: 180 },
        { stream: "local", width: 401, height: 225 },
      ],
    ]);
    r.set(a, "local", 401, 225); // unchanged
    r.flush();
    expect(sent).toHaveLength(1);
    r.remove(b);
    await vi.advanceTimersByTimeAsync(150);
    expect(sent.at(-1)).toEqual([{ stream: "local", width: 401, height: 225 }]);
  });
});

class FakeWS {
  static all: FakeWS[] = [];
  binaryType = "blob";
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  readyState = 0;
  sent: unknown[] = [];
  constructor(readonly url: string) {
    FakeWS.all.push(this);
  }
  send(data: unknown) {
    this.sent.push(data);
  }
  close() {
    this.closed = true;
  }
}

describe("FrameSocket", () => {
  it("uses arraybuffers, passes binary messages on, acknowledges each and reconnects after a drop", async () => {
    vi.useFakeTimers();
    FakeWS.all = [];
    const got: ArrayBuffer[] = [];
    const s = new FrameSocket("ws://127.0.0.1:1/frames?token=t", {
      onFrame: (b) => got.push(b),
      createSocket: (u) => new FakeWS(u) as unknown as WebSocket,
      minDelayMs: 100,
    });
    s.start();
    const ws = FakeWS.all[0]!;
    expect(ws.binaryType).toBe("arraybuffer");
    ws.readyState = 1;
    ws.onopen?.();
    ws.onmessage?.({ data: new ArrayBuffer(8) });
    ws.onmessage?.({ data: "text is ignored" });
    expect(got).toHaveLength(1);
    // Each frame handled is acknowledged (the app sends only a couple ahead of the acks).
    expect(ws.sent).toEqual(["ack"]);
    ws.onclose?.();
    await vi.advanceTimersByTimeAsync(99);
    expect(FakeWS.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2);
    expect(FakeWS.all).toHaveLength(2);
    expect(FakeWS.all[1]!.url).toBe("ws://127.0.0.1:1/frames?token=t");
    s.stop();
    expect(FakeWS.all[1]!.closed).toBe(true);
  });
});
