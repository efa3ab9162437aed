//! The Lua scripts every node runs in Redis. Each is one atomic step.

use std::sync::LazyLock;

use fred::types::scripts::Script;

/// Takes the room locks (`KEYS`, in sorted order) for token `ARGV[1]` for `ARGV[2]` ms,
/// all or none. Returns 1 when taken.
pub static LOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
for i = 1, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= ARGV[1] then return 0 end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return 1
"#,
    )
});

/// Gives back the locks `KEYS` held by token `ARGV[1]`.
pub static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1
"#,
    )
});

/// Commits a room transition, only if this node still holds every lock it took
/// (fencing: a node that stalled past its lock's expiry changes nothing).
///
/// KEYS: places, room set, empty rooms (zset), sharers, the n locks, the m room keys.
/// ARGV: token, n, m; per room: name, document ("" = meeting ended), emptied-at ("" =
/// people inside), sharer ("" = none); then the number of place changes and, per change,
/// socket id and place ("" = nowhere).
pub static COMMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local token, n, m = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 1, n do
  if redis.call('GET', KEYS[4 + i]) ~= token then return 0 end
end
local a = 4
for j = 1, m do
  local key, name, doc, emptied, sharer = KEYS[4 + n + j], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  a = a + 4
  if doc == '' then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[2], name)
    redis.call('ZREM', KEYS[3], name)
    redis.call('HDEL', KEYS[4], name)
  else
    redis.call('SET', key, doc)
    redis.call('SADD', KEYS[2], name)
    if emptied == '' then redis.call('ZREM', KEYS[3], name) else redis.call('ZADD', KEYS[3], emptied, name) end
    if sharer == '' then redis.call('HDEL', KEYS[4], name) else redis.call('HSET', KEYS[4], name, sharer) end
  end
end
local p = tonumber(ARGV[a])
a = a + 1
for k = 1, p do
  local id, place = ARGV[a], ARGV[a + 1]
  a = a + 2
  if place == '' then redis.call('HDEL', KEYS[1], id) else redis.call('HSET', KEYS[1], id, place) end
end
return 1
"#,
    )
});

/// What a relay needs: where sender and target are and who shares in the sender's
/// room. KEYS: places, sharers; ARGV: from, to. Returns [from place, to place, sharer]
/// ("" for none).
pub static RELAY: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local a = redis.call('HGET', KEYS[1], ARGV[1]) or ''
local b = redis.call('HGET', KEYS[1], ARGV[2]) or ''
local s = ''
if a ~= '' then s = redis.call('HGET', KEYS[2], string.sub(a, 3)) or '' end
return {a, b, s}
"#,
    )
});

/// Appends a chat message: the room's next id, then the message in its meeting's
/// stream. KEYS: the room's sequence, the meeting's stream; ARGV: the message as JSON
/// with `"id":""` to fill in, the most messages a stream keeps. Returns the id.
pub static CHAT_APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local seq = redis.call('INCR', KEYS[1])
local id = string.format('%012d', seq)
local msg = string.gsub(ARGV[1], '"id":""', '"id":"' .. id .. '"', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'm', msg)
return id
"#,
    )
});

/// Counts a wrong passcode from an address (`KEYS[1]`) in a window of `ARGV[1]` ms that
/// starts at the first one; `ARGV[2]` = "0" only reads. Returns the count.
pub static WRONG_PASSCODES: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if ARGV[2] == '0' then return tonumber(redis.call('GET', KEYS[1]) or '0') end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"#,
    )
});
