// What the stage shows: a grid of cameras, or a share filling it with a camera strip. Pure.
import type { Participant } from "../bridge/contract";

export interface TilePlan {
  participantId: string;
  stream: string;
  self: boolean;
}

export interface StagePlan {
  mode: "grid" | "share";
  /** The share stream shown on the stage ("ID/screen"), when someone else shares. */
  shareStream: string | null;
  /** We share ourselves: show the "You are presenting" bar, not our own screen. */
  presenting: boolean;
  tiles: TilePlan[];
}

export function cameraStream(id: string, selfId: string): string {
  return id === selfId ? "local" : `${id}/video`;
}

export function screenStream(id: string): string {
  return `${id}/screen`;
}

export function planStage(participants: readonly Participant[], selfId: string, sharerId: string | null): StagePlan {
  const self = participants.filter((p) => p.id === selfId);
  const others = participants.filter((p) => p.id !== selfId);
  const tiles = [...self, ...others].map((p) => ({
    participantId: p.id,
    stream: cameraStream(p.id, selfId),
    self: p.id === selfId,
  }));
  const presenting = sharerId !== null && sharerId === selfId;
  const remoteShare = sharerId !== null && !presenting && participants.some((p) => p.id === sharerId);
  return {
    mode: remoteShare ? "share" : "grid",
    shareStream: remoteShare ? screenStream(sharerId) : null,
    presenting,
    tiles,
  };
}
