// Stats event → what the tiles show (active speaker, connection quality). Pure.
import type { PeerStats, Quality, StatsEvent } from "../bridge/contract";

export interface QualityDisplay {
  quality: Quality;
  label: string;
  title: string;
  /**
   * How the media travels: straight between us, through the TURN relay, through the room's
   * SFU (a large room), or not known yet.
   */
  path: "direct" | "relayed" | "sfu" | null;
}

const LABELS: Record<Quality, string> = {
  good: "Good connection",
  fair: "Fair connection",
  poor: "Poor connection",
  unknown: "Connection unknown",
};

function fmt(v: number | null, unit: string, digits = 0): string | null {
  return v === null || !Number.isFinite(v) ? null : `${v.toFixed(digits)}${unit}`;
}

export function qualityDisplay(peer: PeerStats | undefined): QualityDisplay {
  if (!peer) return { quality: "unknown", label: LABELS.unknown, title: LABELS.unknown, path: null };
  const parts = [
    fmt(peer.rttMs, " ms", 0) && `RTT ${fmt(peer.rttMs, " ms", 0)}`,
    fmt(peer.lossPct, "%", 1) && `loss ${fmt(peer.lossPct, "%", 1)}`,
    fmt(peer.jitterMs, " ms", 0) && `jitter ${fmt(peer.jitterMs, " ms", 0)}`,
    fmt(peer.fps, " fps", 0),
    fmt(peer.kbps, " kbps", 0),
  ].filter((x): x is string => !!x);
  let path: QualityDisplay["path"] = null;
  if (peer.relayed !== null) path = peer.viaSfu ? "sfu" : peer.relayed ? "relayed" : "direct";
  if (path === "sfu") parts.push(peer.relayed ? "through the SFU server, relayed through the TURN server" : "through the SFU server");
  else if (path) parts.push(path === "relayed" ? "relayed through the TURN server" : "direct");
  const label = LABELS[peer.quality] ?? LABELS.unknown;
  return { quality: peer.quality, label, title: parts.length ? `${label}: ${parts.join(", ")}` : label, path };
}

/** The active speaker if they are someone in the room, else null. */
export function activeSpeaker(stats: StatsEvent | null, ids: ReadonlySet<string>): string | null {
  const a = stats?.activeSpeaker ?? null;
  return a !== null && ids.has(a) ? a : null;
}

export function peerStatsById(stats: StatsEvent | null): Map<string, PeerStats> {
  return new Map((stats?.peers ?? []).map((p) => [p.id, p]));
}
