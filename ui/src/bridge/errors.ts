// Command/server error codes → plain words, and which lobby field they concern.
import type { CommandError } from "./contract";

export type ErrorField = "email" | "room" | "name" | "passcode" | "devices" | null;

export interface ErrorContext {
  serverUrl?: string;
  /** Name or email for a participant id (for sharing_conflict). */
  lookupName?: (id: string) => string | null;
}

export interface DescribedError {
  field: ErrorField;
  text: string;
}

export function describeError(err: CommandError, ctx: ErrorContext = {}): DescribedError {
  const msg = err.message?.trim();
  switch (err.code) {
    case "invalid_email":
      return { field: "email", text: "That email address doesn't look right (like ada@example.com)." };
    case "invalid_room":
      return { field: "room", text: "Room numbers are 1–64 letters, digits, '_' or '-'." };
    case "passcode_required":
      return { field: "passcode", text: "This room is locked. Enter its passcode." };
    case "bad_passcode":
      return { field: "passcode", text: "That passcode isn't right." };
    case "removed":
      return { field: "room", text: "The host removed you from this room." };
    case "denied":
      return { field: "room", text: "The host didn't let you in." };
    case "cancelled":
      return { field: null, text: "You left the waiting room." };
    case "not_host":
      return { field: null, text: "Only the room's host can do that." };
    case "not_waiting":
      return { field: null, text: "They are no longer waiting." };
    case "room_full":
      return { field: "room", text: "This room is full (50 people)." };
    case "unreachable":
      // A TLS refusal reaches us as "unreachable" with the verifier's words in the message;
      // "can't reach" would send the person looking at their network instead.
      if (msg && /certificate|UnknownIssuer/i.test(msg)) {
        const at = ctx.serverUrl ? ` at ${ctx.serverUrl}` : "";
        return { field: null, text: `The server${at} has a certificate this computer doesn't trust, so Huddle didn't connect.` };
      }
      return {
        field: null,
        text: ctx.serverUrl ? `Can't reach the server at ${ctx.serverUrl}.` : "Can't reach the server.",
      };
    case "rate_limited":
      return { field: null, text: "Too many attempts. Wait a moment and try again." };
    case "device":
      return { field: "devices", text: msg ? `A device couldn't be opened: ${msg}` : "A device couldn't be opened." };
    case "sharing_conflict": {
      const who = err.sharerId ? ctx.lookupName?.(err.sharerId) : null;
      return { field: null, text: who ? `${who} is already sharing.` : "Someone else is already sharing." };
    }
    case "not_sharer":
      return { field: null, text: "You aren't sharing." };
    case "not_joined":
    case "not_in_room":
      return { field: null, text: "You're not in a room." };
    case "already_joined":
      return { field: null, text: "You're already in a room." };
    case "unauthorized":
      return { field: null, text: "The server refused access." };
    case "payload_too_large":
      return { field: null, text: "That was too large for the server." };
    case "bad_request":
      return { field: null, text: msg ? `The server refused the request: ${msg}` : "The server refused the request." };
    default:
      return { field: null, text: msg ? `Something went wrong: ${msg}` : "Something went wrong." };
  }
}
