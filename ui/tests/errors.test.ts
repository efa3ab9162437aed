import { describe, expect, it } from "vitest";
import { toHuddleError } from "../src/bridge/api";
import { describeError } from "../src/bridge/errors";

describe("describeError", () => {
  it("puts email and room errors next to their fields", () => {
    expect(describeError({ code: "invalid_email", message: "bad" }).field).toBe("email");
    expect(describeError({ code: "invalid_room", message: "bad" }).field).toBe("room");
  });

  it("says a full room holds 50 people", () => {
    expect(describeError({ code: "room_full", message: "" }).text).toBe("This room is full (50 people).");
  });

  it("names the unreachable server", () => {
    const d = describeError({ code: "unreachable", message: "ECONNREFUSED" }, { serverUrl: "http://10.0.0.5:3000" });
    expect(d).toEqual({ field: null, text: "Can't reach the server at http://10.0.0.5:3000." });
  });

  it("says when the server's certificate is not trusted", () => {
    const d = describeError(
      { code: "unreachable", message: "cannot reach https://h:3000: invalid peer certificate: UnknownIssuer" },
      { serverUrl: "https://h:3000" },
    );
    expect(d).toEqual({ field: null, text: "The server at https://h:3000 has a certificate this computer doesn't trust, so Huddle didn't connect." });
  });

  it("names who is already sharing", () => {
    const d = describeError(
      { code: "sharing_conflict", message: "x", sharerId: "s1" },
      { lookupName: (id) => (id === "s1" ? "Ada" : null) },
    );
    expect(d.text).toBe("Ada is already sharing.");
    expect(describeError({ code: "sharing_conflict", message: "x", sharerId: "zz" }, { lookupName: () => null }).text).toBe(
      "Someone else is already sharing.",
    );
  });

  it("covers rate limiting, devices and unknown codes in plain words", () => {
    expect(describeError({ code: "rate_limited", message: "" }).text).toMatch(/Too many attempts/);
    const dev = describeError({ code: "device", message: "camera busy" });
    expect(dev).toEqual({ field: "devices", text: "A device couldn't be opened: camera busy" });
    expect(describeError({ code: "weird", message: "boom" }).text).toBe("Something went wrong: boom");
  });
});

describe("toHuddleError", () => {
  it("keeps code, message and sharerId from a rejected invoke", () => {
    const e = toHuddleError({ code: "sharing_conflict", message: "taken", sharerId: "s1" });
    expect(e).toBeInstanceOf(Error);
    expect([e.code, e.message, e.sharerId]).toEqual(["sharing_conflict", "taken", "s1"]);
  });
  it("wraps strings and errors as internal", () => {
    expect(toHuddleError("oops").code).toBe("internal");
    expect(toHuddleError("oops").message).toBe("oops");
    expect(toHuddleError(new Error("x")).message).toBe("x");
  });
});
