// The frame WebSocket: binary frames in, one "ack" back per frame handled (the app sends
// only a couple ahead, so a slow page never builds a backlog); reconnects when it drops.
export type SocketStatus = "connecting" | "open" | "closed";

export interface FrameSocketOptions {
  onFrame: (buf: ArrayBuffer) => void;
  onStatus?: (s: SocketStatus) => void;
  /** For tests. */
  createSocket?: (url: string) => WebSocket;
  minDelayMs?: number;
  maxDelayMs?: number;
}

export class FrameSocket {
  private ws: WebSocket | null = null;
  private stopped = false;
  private delay: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  reconnects = 0;

  constructor(
    private url: string,
    private opts: FrameSocketOptions,
  ) {
    this.delay = opts.minDelayMs ?? 250;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  private open(): void {
    if (this.stopped) return;
    this.opts.onStatus?.("connecting");
    let ws: WebSocket;
    try {
      ws = this.opts.createSocket ? this.opts.createSocket(this.url) : new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.delay = this.opts.minDelayMs ?? 250;
      this.opts.onStatus?.("open");
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (!(ev.data instanceof ArrayBuffer)) return;
      try {
        this.opts.onFrame(ev.data);
      } finally {
        // 1 = OPEN (the constant is not on every WebSocket-like object).
        if (ws.readyState === 1) ws.send("ack");
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.opts.onStatus?.("closed");
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows; it schedules the reconnect
    };
    this.ws = ws;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.timer) return;
    const d = this.delay;
    this.delay = Math.min(this.opts.maxDelayMs ?? 4000, this.delay * 2);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reconnects++;
      this.open();
    }, d);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }
}
