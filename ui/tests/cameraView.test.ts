import { describe, expect, it } from "vitest";
import { cameraView } from "../src/room/cameraView";

describe("cameraView", () => {
  it("is every camera (null) when every remote tile is on screen", () => {
    expect(cameraView(["a", "b"], new Set(["a", "b"]), false)).toBeNull();
    expect(cameraView([], new Set(), false)).toBeNull();
  });

  it("names the shown ones when some are scrolled away", () => {
    expect(cameraView(["a", "b", "c"], new Set(["c", "a"]), false)).toEqual(["a", "c"]);
    expect(cameraView(["a", "b"], new Set(), false)).toEqual([]);
  });

  it("shows none while the window is hidden", () => {
    expect(cameraView(["a", "b"], new Set(["a", "b"]), true)).toEqual([]);
  });
});
