// Lobby field rules, as in PROTOCOL.md "Limits".
export interface LobbyFields {
  email: string;
  room: string;
  name: string;
}

export type FieldErrors = Partial<Record<keyof LobbyFields, string>>;

const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function validateEmail(email: string): string | null {
  if (email.length === 0) return "Enter your email address.";
  if (new TextEncoder().encode(email).length > 254) return "That email address is too long.";
  if (/\s/.test(email)) return "An email address can't contain spaces.";
  const at = email.lastIndexOf("@");
  if (at <= 0 || at === email.length - 1 || email.indexOf("@") !== at) {
    return "That email address doesn't look right (like ada@example.com).";
  }
  return null;
}

export function validateRoom(room: string): string | null {
  if (room.length === 0) return "Enter a room number.";
  if (room.length > 64) return "Room numbers are at most 64 characters.";
  if (!ROOM_RE.test(room)) return "Use only letters, digits, '_' or '-'.";
  return null;
}

export function validateName(name: string): string | null {
  if ([...name].length > 64) return "Display names are at most 64 characters.";
  return null;
}

export function validateLobby(f: LobbyFields): FieldErrors {
  const out: FieldErrors = {};
  const e = validateEmail(f.email);
  if (e) out.email = e;
  const r = validateRoom(f.room);
  if (r) out.room = r;
  const n = validateName(f.name);
  if (n) out.name = n;
  return out;
}
