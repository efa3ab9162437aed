#!/usr/bin/env node
// Load benchmark for Huddle's signaling server (Socket.IO v4, PROTOCOL.md version 1).
//
// Phases (all driven from this one Node process; --client lean (default) speaks Socket.IO
// v4 over WebSocket through lean-client.mjs, --client official uses socket.io-client):
//   join   connect N clients, then fire all `room:join`s at once (burst) into R rooms,
//          yielding to this process's event loop every --burst-yield emits (default 20)
//          so that acks are read while the burst goes on; join-ack latency p50/p99;
//          checks every client ends up seeing exactly the other members of its room
//          (ack participants + user:joined) and the echo. Then everyone leaves and
//          re-joins paced at --join-rate joins/s (default 1000), and once more in one
//          synchronous loop (a reference: there every ack waits for the loop to end,
//          ~35-60 ms here, before this process can read it).
//   relay  pairs in the same room ping-pong `ice:candidate`: the receiver sends one back
//          to `from`; every client waits for its previous ack before the next send
//          (closed loop). Ack and one-way delivery latency, msg/s, and the server's CPU
//          over exactly the window (first send .. last ack/delivery) per relayed message.
//   chat   every client sends M `chat:send`s (closed loop on the ack); each must reach
//          the other members of its room exactly once; server CPU per delivery. Also
//          observed (not failed): deliveries out of id order, and rooms whose members
//          saw the messages in different orders.
//   relay and chat run --rounds times (default 3); the round with the median server CPU
//   per message is reported, with the range; losses are summed over all rounds.
//   idle   a fresh server; RSS before any connection, then K connections joined in
//          rooms of 10, held for S seconds (covers an Engine.IO heartbeat); all must
//          stay connected; RSS per joined idle connection.
// Server CPU = utime+stime from /proc/PID/stat (ticks / `getconf CLK_TCK`), RSS =
// VmRSS from /proc/PID/status. The client's own CPU (process.cpuUsage) is reported
// too: it shares the machine's cores with the server.
//
// Usage:
//   node load.mjs --server-bin ../../target/release/huddle-server [--clients 1000 ...]
//   node load.mjs --node-server                      # node-server.mjs baseline
//   node load.mjs --url http://127.0.0.1:3000 --pid 1234   # attach to a running server
// Exit code 0 = no errors and nothing lost, 1 = FAIL, 2 = could not run.

import { io } from 'socket.io-client'
import { leanIo } from './lean-client.mjs'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync, createWriteStream, mkdirSync, existsSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { CLK_TCK, procStat, rssBytes, threadCount } from '../../tests/lib/proc.mjs'
import { sleep } from '../../tests/lib/wait.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const REPO = path.resolve(HERE, '../..')

const { values: A } = parseArgs({
  options: {
    'server-bin': { type: 'string', default: process.env.HUDDLE_SERVER_BIN || path.join(REPO, 'target/release/huddle-server') },
    'server-args': { type: 'string', default: '' },
    'node-server': { type: 'boolean', default: false },
    url: { type: 'string' },
    pid: { type: 'string' },
    name: { type: 'string' },
    clients: { type: 'string', default: '1000' },
    rooms: { type: 'string', default: '100' },
    'relay-seconds': { type: 'string', default: '10' },
    balls: { type: 'string', default: '1' },
    'chat-messages': { type: 'string', default: '30' },
    'idle-clients': { type: 'string', default: '10000' },
    'idle-room-size': { type: 'string', default: '10' },
    'idle-hold-seconds': { type: 'string', default: '30' },
    'connect-concurrency': { type: 'string', default: '200' },
    'join-rate': { type: 'string', default: '1000' },
    'burst-yield': { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    'room-size': { type: 'string', default: '200' },
    client: { type: 'string', default: 'lean' },
    transport: { type: 'string', default: 'websocket' },
    phases: { type: 'string', default: 'join,relay,chat,idle' },
    json: { type: 'string' },
    'log-dir': { type: 'string', default: path.join(HERE, 'results') },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})

if (A.help) {
  const src = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n')
  console.log(src.slice(1, src.findIndex((l) => l.startsWith('import'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'))
  process.exit(0)
}

if (!['lean', 'official'].includes(A.client)) { console.error(`--client must be lean or official, not ${A.client}`); process.exit(2) }
if (A.client === 'lean' && A.transport !== 'websocket') { console.error('--transport polling needs --client official'); process.exit(2) }
const N_CLIENTS = int(A.clients)
const N_ROOMS = int(A.rooms)
const RELAY_SECONDS = Number(A['relay-seconds'])
const BALLS = int(A.balls)
const CHAT_MSGS = int(A['chat-messages'])
const IDLE_CLIENTS = int(A['idle-clients'])
const IDLE_ROOM_SIZE = int(A['idle-room-size'])
const IDLE_HOLD = Number(A['idle-hold-seconds'])
const CONC = int(A['connect-concurrency'])
const JOIN_RATE = int(A['join-rate'])
const BURST_YIELD = int(A['burst-yield'])
const ROUNDS = Math.max(1, int(A.rounds))
const PHASES = new Set(A.phases.split(',').map((s) => s.trim()).filter(Boolean))
const ATTACH = Boolean(A.url)
const NAME = A.name || (A['node-server'] ? 'node' : ATTACH ? 'attached' : 'huddle')
const RUN_ID = Math.random().toString(36).slice(2, 8)
const CANDIDATE_TAIL = ' 1 udp 2122260223 127.0.0.1 5000 typ host'

function int(s) {
  const n = Number.parseInt(s, 10)
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a non-negative integer: ${s}`)
  return n
}
const now = () => performance.now()

// ---- errors -------------------------------------------------------------------------
const errors = { count: 0, byKind: {}, samples: [] }
function err(kind, detail) {
  errors.count++
  errors.byKind[kind] = (errors.byKind[kind] || 0) + 1
  if (errors.samples.length < 40) {
    let d = detail
    try { d = typeof detail === 'string' ? detail : JSON.stringify(detail) } catch {}
    errors.samples.push(`${kind}: ${String(d).slice(0, 300)}`)
  }
}
const errSnapshot = () => ({ count: errors.count, byKind: { ...errors.byKind } })
function errDelta(before) {
  const byKind = {}
  for (const [k, v] of Object.entries(errors.byKind)) if (v - (before.byKind[k] || 0)) byKind[k] = v - (before.byKind[k] || 0)
  return { count: errors.count - before.count, byKind }
}

// ---- stats --------------------------------------------------------------------------
function pct(arr, q) {
  if (!arr.length) return null
  const a = Float64Array.from(arr).sort()
  return a[Math.min(a.length - 1, Math.max(0, Math.ceil(q * a.length) - 1))]
}
function lat(arr) {
  if (!arr.length) return { n: 0 }
  let s = 0, mx = 0
  for (const v of arr) { s += v; if (v > mx) mx = v }
  return { n: arr.length, p50: r3(pct(arr, 0.5)), p90: r3(pct(arr, 0.9)), p99: r3(pct(arr, 0.99)), max: r3(mx), mean: r3(s / arr.length) }
}
const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000)
const r1 = (x) => (x == null ? null : Math.round(x * 10) / 10)
const fmtLat = (l) => (l.n ? `p50 ${l.p50.toFixed(2)} ms  p99 ${l.p99.toFixed(2)} ms  max ${l.max.toFixed(2)} ms  (n=${l.n})` : 'n=0')

// ---- /proc --------------------------------------------------------------------------
function procCpuSeconds(pid) {
  const st = procStat(pid)
  return st ? st.ticks / CLK_TCK : null
}
function procRssKB(pid) {
  const rss = rssBytes(pid)
  return rss === null ? null : rss / 1024
}
const procThreads = threadCount
function systemBusySeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0) // user nice system idle iowait irq softirq steal
  return (total - f[3] - f[4]) / CLK_TCK
}

/** A measurement window over server CPU, client CPU, whole-machine CPU and wall time. */
function windowStart(pid) {
  return { t: now(), srv: pid ? procCpuSeconds(pid) : null, cli: process.cpuUsage(), sys: systemBusySeconds() }
}
function windowEnd(w, pid) {
  const wall = (now() - w.t) / 1000
  const srv = pid && w.srv != null ? procCpuSeconds(pid) - w.srv : null
  const c = process.cpuUsage(w.cli)
  const cli = (c.user + c.system) / 1e6
  const sys = systemBusySeconds() - w.sys
  return {
    wallS: r3(wall),
    serverCpuS: srv == null ? null : r3(srv),
    clientCpuS: r3(cli),
    // everything else on the machine (the other engineer's compiler, kernel work, ...)
    otherCpuS: srv == null ? null : r3(Math.max(0, sys - srv - cli)),
    serverCores: srv == null ? null : r3(srv / wall),
    clientCores: r3(cli / wall),
    machineBusyCores: r3(sys / wall),
  }
}

// ---- server process -----------------------------------------------------------------
let server = null // { child, pid, url, log, exited, stopping }

async function startServer(tag) {
  let bin, args
  const base = ['--listen', '127.0.0.1:0', '--db', ':memory:', '--rate-limit', '0', '--room-size', A['room-size'], '--log-format', 'text']
  const extra = A['server-args'].trim() ? A['server-args'].trim().split(/\s+/) : []
  if (A['node-server']) {
    bin = process.execPath
    args = [path.join(HERE, 'node-server.mjs'), ...extra, ...base]
  } else {
    bin = A['server-bin']
    // The load is the point: no connection cap in the way of 10,000 idle clients.
    args = [...extra, ...base, '--max-connections', '1000000']
    if (!existsSync(bin)) throw new Error(`server binary not found: ${bin}`)
  }
  mkdirSync(A['log-dir'], { recursive: true })
  const logPath = path.join(A['log-dir'], `${NAME}-${tag}-server.log`)
  const logStream = createWriteStream(logPath)
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
  const s = { child, pid: child.pid, url: null, logPath, cmd: [bin, ...args].join(' '), exited: null, stopping: false, logLines: 0, warnLines: [] }
  server = s
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not log "listening on" within 30 s (see ${logPath})`)), 30000)
    let buf = ''
    const onData = (chunk) => {
      logStream.write(chunk)
      buf += chunk.toString()
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\x1b\[[0-9;]*m/g, '')
        buf = buf.slice(i + 1)
        s.logLines++
        if (/\b(WARN|ERROR|panic|panicked)\b/i.test(line) && s.warnLines.length < 50) s.warnLines.push(line.slice(0, 400))
        const m = /listening on (http:\/\/[^\s"\\,]+)/.exec(line)
        if (m && !s.url) { s.url = m[1].replace(/\/$/, ''); clearTimeout(timer); resolve() }
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code, sig) => {
      s.exited = { code, signal: sig }
      clearTimeout(timer)
      if (!s.stopping) {
        err('server_exited', `server exited unexpectedly: code=${code} signal=${sig}`)
        reject(new Error(`server exited: code=${code} signal=${sig} (see ${logPath})`))
      }
    })
    child.on('error', (e) => { clearTimeout(timer); reject(e) })
  })
  await ready
  console.log(`[${NAME}] started ${s.cmd}\n[${NAME}]   pid ${s.pid}, ${s.url}, log ${path.relative(process.cwd(), logPath)}`)
  return s
}

async function stopServer(s) {
  if (!s || s.exited) return s?.exited
  s.stopping = true
  const t0 = now()
  s.child.kill('SIGTERM')
  for (let i = 0; i < 100 && !s.exited; i++) await sleep(50)
  if (!s.exited) {
    s.child.kill('SIGKILL')
    for (let i = 0; i < 40 && !s.exited; i++) await sleep(50)
    s.exited = { ...(s.exited || {}), killed: true }
  }
  s.exited.stopMs = Math.round(now() - t0)
  return s.exited
}

async function httpGet(url, timeoutMs = 5000) {
  const t0 = now()
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    return { status: res.status, body: await res.text(), ms: r3(now() - t0) }
  } catch (e) {
    return { status: null, body: String(e), ms: r3(now() - t0) }
  }
}

function parseProm(text) {
  const m = {}
  for (const line of String(text).split('\n')) {
    if (!line || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    const v = Number(line.slice(i + 1))
    if (Number.isFinite(v)) m[line.slice(0, i)] = v
  }
  return m
}
async function metrics(url) {
  const r = await httpGet(`${url}/metrics`)
  return r.status === 200 ? parseProm(r.body) : null
}
function metricsDelta(a, b) {
  if (!a || !b) return null
  const d = {}
  for (const [k, v] of Object.entries(b)) if (v !== (a[k] ?? 0)) d[k] = r3(v - (a[k] ?? 0))
  return d
}

// ---- clients ------------------------------------------------------------------------
let mode = 'idle' // which phase handlers are active: join | relay | chat | idle
let R = null // relay state
let C = null // chat state

function makeClient(idx, room) {
  return { idx, room, sock: null, id: null, members: null, peers: new Set(), echo: 0, joined: false, closing: false, disconnected: false, partner: null, busy: false, queue: 0, lastChatId: null, chatIds: [] }
}

function connectClient(url, c) {
  return new Promise((resolve) => {
    const t0 = now()
    const s = A.client === 'official'
      ? io(url, { transports: [A.transport], forceNew: true, reconnection: false, timeout: 30000 })
      : leanIo(url, { timeout: 30000 })
    c.sock = s
    s.on('disconnect', (reason) => {
      c.disconnected = true
      if (!c.closing) err('unexpected_disconnect', `client ${c.idx}: ${reason}`)
    })
    s.on('error', (e) => err('server_error_event', e))
    s.on('user:joined', (d) => {
      if (!d || typeof d.id !== 'string') return err('bad_user_joined', d)
      if (c.peers.has(d.id)) err('duplicate_peer', `client ${c.idx} got user:joined for known ${d.id}`)
      c.peers.add(d.id)
    })
    s.on('room:join', (d) => {
      c.echo++
      if (!d || d.room !== c.room) err('bad_join_echo', d)
    })
    s.on('user:left', (d) => { if (d && typeof d.id === 'string') c.peers.delete(d.id) })
    s.on('ice:candidate', (d) => onRelay(c, d))
    s.on('chat:message', (m) => onChat(c, m))
    s.once('connect', () => { c.id = s.id; resolve(now() - t0) })
    s.once('connect_error', (e) => { err('connect_error', `client ${c.idx}: ${e.message}`); resolve(null) })
  })
}

async function pool(items, conc, fn) {
  let i = 0
  await Promise.all(Array.from({ length: Math.min(conc, items.length) }, async () => {
    while (i < items.length) { const k = i++; await fn(items[k], k) }
  }))
}

/** Emit room:join and resolve with the ack latency (ms) or null on failure. */
function join(c, timeoutMs = 30000) {
  return new Promise((resolve) => {
    const t0 = now()
    let done = false
    const timer = setTimeout(() => { if (!done) { done = true; err('join_timeout', `client ${c.idx}`); resolve(null) } }, timeoutMs)
    c.sock.emit('room:join', { email: `c${c.idx}@bench.example`, room: c.room, name: `c${c.idx}` }, (ack) => {
      if (done) return
      done = true
      clearTimeout(timer)
      const ms = now() - t0
      if (!ack || ack.ok !== true) { err('join_refused', ack); return resolve(null) }
      if (ack.id !== c.id || ack.room !== c.room || !Array.isArray(ack.participants) || !Array.isArray(ack.history)) err('bad_join_ack', ack)
      for (const p of ack.participants || []) {
        if (p.id === c.id) err('self_in_participants', p)
        else if (c.peers.has(p.id)) err('duplicate_peer', `client ${c.idx}: ${p.id} in ack and user:joined`)
        c.peers.add(p.id)
      }
      c.joined = true
      resolve(ms)
    })
  })
}

/** Emit room:leave and resolve true on an ok ack. */
function leaveRoom(c, timeoutMs = 30000) {
  return new Promise((resolve) => {
    let done = false
    const timer = setTimeout(() => { if (!done) { done = true; err('leave_timeout', `client ${c.idx}`); resolve(false) } }, timeoutMs)
    c.sock.emit('room:leave', {}, (ack) => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (!ack || ack.ok !== true) { err('leave_refused', ack); return resolve(false) }
      c.joined = false
      c.peers.clear()
      resolve(true)
    })
  })
}

/** Wait until pred() or timeout; returns true if pred() became true. */
async function until(pred, timeoutMs, stepMs = 20) {
  const end = now() + timeoutMs
  while (now() < end) { if (pred()) return true; await sleep(stepMs) }
  return pred()
}

function groupByRoom(clients) {
  const m = new Map()
  for (const c of clients) { if (!m.has(c.room)) m.set(c.room, []); m.get(c.room).push(c) }
  return m
}

/** Every joined client should know exactly the other members of its room. */
function checkViews(clients) {
  let bad = 0, noEcho = 0
  for (const members of groupByRoom(clients).values()) {
    const ids = members.filter((c) => c.joined).map((c) => c.id)
    for (const c of members) {
      if (!c.joined) continue
      const want = ids.filter((id) => id !== c.id)
      if (c.peers.size !== want.length || !want.every((id) => c.peers.has(id))) bad++
      if (c.echo !== 1) noEcho++
    }
  }
  return { bad, noEcho }
}

// ---- relay ----------------------------------------------------------------------------
function relaySend(c) {
  c.busy = true
  const seq = ++R.seq
  const t = now()
  R.inflight.set(seq, { t, from: c, to: c.partner })
  R.sent++
  c.sock.emit('ice:candidate', { to: c.partner.id, candidate: { candidate: `candidate:${seq}${CANDIDATE_TAIL}`, sdpMid: '0', sdpMLineIndex: 0 } }, (ack) => {
    R.ackLat.push(now() - t)
    if (ack && ack.ok === true) R.acked++
    else { R.ackErr++; R.inflight.delete(seq); err('relay_refused', ack) }
    c.busy = false
    if (c.queue > 0) {
      if (R.running) { c.queue--; relaySend(c) } else { R.dropped += c.queue; c.queue = 0 }
    }
    R.check()
  })
}

function onRelay(c, d) {
  if (mode !== 'relay' || !R) return err('unexpected_relay', d)
  const m = /^candidate:(\d+) /.exec(d?.candidate?.candidate)
  if (!m) return err('relay_bad_payload', d)
  const seq = Number(m[1])
  const rec = R.inflight.get(seq)
  if (!rec) return err('relay_duplicate_or_unknown', `seq ${seq}`)
  R.inflight.delete(seq)
  R.delivered++
  R.delLat.push(now() - rec.t)
  if (rec.to !== c || d.from !== rec.from.id) err('relay_misrouted', { seq, from: d.from, expected: rec.from.id })
  if (d.candidate.candidate !== `candidate:${seq}${CANDIDATE_TAIL}` || d.candidate.sdpMid !== '0' || d.candidate.sdpMLineIndex !== 0) err('relay_payload_altered', d)
  if (R.running) {
    if (c.busy) c.queue++
    else relaySend(c)
  }
  R.check()
}

async function phaseRelay(clients, pid) {
  const pairs = []
  for (const members of groupByRoom(clients.filter((c) => c.joined)).values()) {
    for (let i = 0; i + 1 < members.length; i += 2) {
      members[i].partner = members[i + 1]
      members[i + 1].partner = members[i]
      pairs.push([members[i], members[i + 1]])
    }
  }
  let drained
  const drainedP = new Promise((r) => (drained = r))
  R = {
    running: true, seq: 0, sent: 0, acked: 0, ackErr: 0, delivered: 0, dropped: 0,
    inflight: new Map(), ackLat: [], delLat: [],
    check() { if (!this.running && this.acked + this.ackErr === this.sent && this.inflight.size === 0) drained() },
  }
  const e0 = errSnapshot()
  mode = 'relay'
  const w = windowStart(pid)
  for (const [a, b] of pairs) {
    for (let k = 0; k < BALLS; k++) {
      const c = k % 2 ? b : a
      if (c.busy) c.queue++
      else relaySend(c)
    }
  }
  await sleep(RELAY_SECONDS * 1000)
  const sendWindowS = (now() - w.t) / 1000
  R.running = false
  R.check()
  const ok = await Promise.race([drainedP.then(() => true), sleep(15000).then(() => false)])
  const win = windowEnd(w, pid)
  if (!ok) err('relay_drain_timeout', `sent ${R.sent} acked ${R.acked} refused ${R.ackErr} delivered ${R.delivered} in flight ${R.inflight.size}`)
  // Wait a little for stragglers (duplicates would show up here) before leaving the phase.
  await sleep(300)
  mode = 'idle'
  const lost = R.sent - R.delivered
  return {
    pairs: pairs.length, balls: BALLS, sendWindowS: r3(sendWindowS),
    sent: R.sent, acked: R.acked, refused: R.ackErr, delivered: R.delivered, lost, droppedQueued: R.dropped,
    msgPerS: r1(R.delivered / win.wallS),
    ackLatencyMs: lat(R.ackLat), deliveryLatencyMs: lat(R.delLat),
    ...win,
    serverCpuUsPerRelay: win.serverCpuS == null || !R.delivered ? null : r3((win.serverCpuS * 1e6) / R.delivered),
    clientCpuUsPerRelay: R.delivered ? r3((win.clientCpuS * 1e6) / R.delivered) : null,
    errors: errDelta(e0),
  }
}

// ---- chat -----------------------------------------------------------------------------
const CHAT_RE = /^bench chat (\d+) (\d+)$/

function chatSend(c, k) {
  const text = `bench chat ${c.idx} ${k}`
  const clientId = `${RUN_ID}-${c.idx}-${k}`
  const t = now()
  C.sendT[c.idx * CHAT_MSGS + k] = t
  C.sent++
  c.sock.emit('chat:send', { text, clientId }, (ack) => {
    C.ackLat.push(now() - t)
    const m = ack?.message
    if (!ack || ack.ok !== true || !m) { C.ackErr++; err('chat_refused', ack) }
    else {
      C.acked++
      if (m.text !== text || m.clientId !== clientId || m.room !== c.room || m.from !== c.id || typeof m.id !== 'string' || typeof m.ts !== 'number') err('bad_chat_ack', m)
    }
    if (k + 1 < CHAT_MSGS) chatSend(c, k + 1)
    else C.check()
  })
}

function onChat(c, m) {
  if (mode !== 'chat' || !C) return err('unexpected_chat', m)
  const x = CHAT_RE.exec(m?.text)
  if (!x) return err('chat_bad_payload', m)
  const si = Number(x[1]), k = Number(x[2])
  const sender = C.clients[si]
  const key = si * CHAT_MSGS + k
  if (!sender || k >= CHAT_MSGS) return err('chat_unknown', m)
  if (sender === c) err('chat_echoed_to_sender', m)
  else if (sender.room !== c.room || m.room !== c.room) err('chat_wrong_room', { to: c.room, m })
  if (m.from !== sender.id) err('chat_bad_from', m)
  const n = ++C.count[key]
  if (n > C.expectedPer[si]) err('chat_duplicate', m)
  else C.delivered++
  C.delLat.push(now() - C.sendT[key])
  c.chatIds.push(m.id)
  // Message ids are "increasing per room": count (not fail) deliveries seen out of id order.
  if (/^\d+$/.test(m.id)) {
    const id = BigInt(m.id)
    if (c.lastChatId != null && id <= c.lastChatId) C.outOfOrder++
    c.lastChatId = id
  }
  C.check()
}

async function phaseChat(clients, pid) {
  const joined = clients.filter((c) => c.joined)
  const byRoom = groupByRoom(joined)
  let done
  const doneP = new Promise((r) => (done = r))
  C = {
    clients, sent: 0, acked: 0, ackErr: 0, delivered: 0, outOfOrder: 0,
    sendT: new Float64Array(clients.length * CHAT_MSGS), count: new Uint16Array(clients.length * CHAT_MSGS),
    expectedPer: new Int32Array(clients.length), ackLat: [], delLat: [],
    expected: 0, total: joined.length * CHAT_MSGS,
    check() { if (this.acked + this.ackErr === this.total && this.delivered >= this.expected) done() },
  }
  for (const c of joined) { C.expectedPer[c.idx] = byRoom.get(c.room).length - 1; C.expected += C.expectedPer[c.idx] * CHAT_MSGS }
  const e0 = errSnapshot()
  mode = 'chat'
  const w = windowStart(pid)
  for (const c of joined) if (CHAT_MSGS > 0) chatSend(c, 0)
  if (!CHAT_MSGS) done()
  const ok = await Promise.race([doneP.then(() => true), sleep(60000 + CHAT_MSGS * 1000).then(() => false)])
  const win = windowEnd(w, pid)
  if (!ok) err('chat_timeout', `acked ${C.acked}/${C.total} delivered ${C.delivered}/${C.expected}`)
  await sleep(300)
  mode = 'idle'
  // Do the members of a room see its messages in one order? Compare every receiver's
  // arrival order with the first member's, over the messages both received.
  let roomsDisagreeing = 0, receiversDisagreeing = 0, orderExample = null
  for (const members of byRoom.values()) {
    let disagree = false
    for (let i = 0; i < members.length; i++) {
      for (let j = i + 1; j < members.length; j++) {
        const a = members[i].chatIds, b = members[j].chatIds
        const inA = new Set(a), inB = new Set(b)
        const ca = a.filter((x) => inB.has(x)), cb = b.filter((x) => inA.has(x))
        if (ca.length !== cb.length || ca.some((x, k) => x !== cb[k])) {
          disagree = true
          if (i === 0) receiversDisagreeing++
          if (!orderExample) {
            const k = ca.findIndex((x, n) => x !== cb[n])
            orderExample = { room: members[i].room, memberA: members[i].id, sawA: ca.slice(Math.max(0, k - 1), k + 3), memberB: members[j].id, sawB: cb.slice(Math.max(0, k - 1), k + 3) }
          }
        }
      }
    }
    if (disagree) roomsDisagreeing++
  }
  return {
    messages: C.total, sent: C.sent, acked: C.acked, refused: C.ackErr, expectedDeliveries: C.expected, delivered: C.delivered,
    lost: C.expected - C.delivered,
    // ordering observations (not counted as errors: PROTOCOL.md makes ids increase per
    // room but says nothing explicit about delivery order)
    outOfIdOrder: C.outOfOrder, roomsWhereMembersSawDifferentOrders: roomsDisagreeing, membersDisagreeingWithFirstMember: receiversDisagreeing, orderExample,
    messagesPerS: r1(C.acked / win.wallS), deliveriesPerS: r1(C.delivered / win.wallS),
    ackLatencyMs: lat(C.ackLat), deliveryLatencyMs: lat(C.delLat),
    ...win,
    serverCpuUsPerDelivery: win.serverCpuS == null || !C.delivered ? null : r3((win.serverCpuS * 1e6) / C.delivered),
    serverCpuUsPerMessage: win.serverCpuS == null || !C.acked ? null : r3((win.serverCpuS * 1e6) / C.acked),
    errors: errDelta(e0),
  }
}

// ---- phases -----------------------------------------------------------------------------
/** Waits until every joined client sees exactly the others of its room, then checks. */
async function checkJoinedViews(clients, when) {
  // user:joined notifications and echoes may still be in flight on other sockets
  await until(() => { const v = checkViews(clients); return v.bad === 0 && v.noEcho === 0 }, 5000)
  const views = checkViews(clients)
  if (views.bad) err('join_view_mismatch', `${when}: ${views.bad} clients do not see exactly the other members of their room`)
  if (views.noEcho) err('join_echo_missing', `${when}: ${views.noEcho} clients did not get exactly one room:join echo`)
}

/** Every joined client leaves; returns how many did. Views are reset for the next join. */
async function leaveAll(clients) {
  const left = (await Promise.all(clients.filter((c) => c.joined).map((c) => leaveRoom(c)))).filter(Boolean).length
  await sleep(300) // let the last user:left notifications arrive
  for (const c of clients) { c.peers.clear(); c.echo = 0 }
  return left
}

async function phaseJoin(url, pid) {
  const perRoom = Math.ceil(N_CLIENTS / N_ROOMS)
  const clients = Array.from({ length: N_CLIENTS }, (_, i) => makeClient(i, `b${RUN_ID}-r${Math.floor(i / perRoom)}`))
  const e0 = errSnapshot()
  const rss0 = pid ? procRssKB(pid) : null
  // 1. connect everyone (bounded concurrency), 2. burst all joins at once.
  const wc = windowStart(pid)
  const connLat = []
  await pool(clients, CONC, async (c) => { const ms = await connectClient(url, c); if (ms != null) connLat.push(ms) })
  const connWin = windowEnd(wc, pid)
  const connected = clients.filter((c) => c.sock.connected)
  const rssConnected = pid ? procRssKB(pid) : null
  mode = 'join'
  // (a) burst: every room:join emitted as fast as this process can, yielding to its event
  // loop every BURST_YIELD emits. One Node thread plays 1,000 clients: without the yields
  // it could not read a single ack until it had sent every join, and that wait (not the
  // server) would be what the latencies measure; see (c).
  const wj = windowStart(pid)
  const pending = []
  for (let i = 0; i < connected.length; i++) {
    pending.push(join(connected[i]))
    if ((i + 1) % BURST_YIELD === 0) await new Promise((r) => setImmediate(r))
  }
  const emitLoopMs = now() - wj.t
  const joinLat = (await Promise.all(pending)).filter((x) => x != null)
  const allAcked = (now() - wj.t) / 1000
  const burstWin = windowEnd(wj, pid)
  await checkJoinedViews(clients, 'burst')
  await sleep(1000)
  const rss1 = pid ? procRssKB(pid) : null
  const joinedAfterBurst = clients.filter((c) => c.joined).length

  // (b) paced: everyone leaves, then the same clients re-join at JOIN_RATE joins/s.
  let paced = null
  if (JOIN_RATE > 0) {
    const left = await leaveAll(clients)
    const wp = windowStart(pid)
    const lats = []
    const tick = 10 // ms
    const perTick = Math.max(1, Math.round((JOIN_RATE * tick) / 1000))
    const proms = []
    for (let i = 0; i < connected.length; i += perTick) {
      const target = wp.t + (i / perTick) * tick
      const wait = target - now()
      if (wait > 1) await sleep(wait)
      for (const c of connected.slice(i, i + perTick)) proms.push(join(c).then((ms) => { if (ms != null) lats.push(ms) }))
    }
    await Promise.all(proms)
    const pacedWin = windowEnd(wp, pid)
    await checkJoinedViews(clients, 'paced')
    paced = { ratePerS: JOIN_RATE, left, joinLatencyMs: lat(lats), window: pacedWin }
  }

  // (c) reference: everyone leaves, then re-joins in one synchronous loop. Every ack now
  // waits in this process until the loop ends (emitLoopMs), whatever the server does.
  const leftForLoop = await leaveAll(clients)
  const wl = windowStart(pid)
  const loopPending = connected.map((c) => join(c))
  const loopEmitMs = now() - wl.t
  const loopLat = (await Promise.all(loopPending)).filter((x) => x != null)
  const loopWin = windowEnd(wl, pid)
  await checkJoinedViews(clients, 'one-loop')
  const oneLoop = { left: leftForLoop, joinLatencyMs: lat(loopLat), emitLoopMs: r3(loopEmitMs), window: loopWin }
  mode = 'idle'
  const joined = clients.filter((c) => c.joined).length
  return {
    clients: clients,
    result: {
      clients: N_CLIENTS, rooms: N_ROOMS, perRoom, connected: connected.length, joined,
      connectLatencyMs: lat(connLat), connect: connWin,
      joinLatencyMs: lat(joinLat), burstYieldEvery: BURST_YIELD, emitLoopMs: r3(emitLoopMs), allJoinAcksS: r3(allAcked), join: burstWin,
      paced, oneLoop,
      serverRssKB: { beforeAnyConnection: rss0, afterConnect: rssConnected, afterJoin: rss1 },
      rssKBPerJoinedConn: rss0 != null && rss1 != null && joinedAfterBurst ? r3((rss1 - rss0) / joinedAfterBurst) : null,
      errors: errDelta(e0),
    },
  }
}

async function closeClients(clients) {
  for (const c of clients) { c.closing = true; c.sock?.disconnect() }
  await sleep(500)
}

async function phaseIdle(url, pid) {
  const e0 = errSnapshot()
  await sleep(1000)
  const rss0 = pid ? procRssKB(pid) : null
  const clients = Array.from({ length: IDLE_CLIENTS }, (_, i) => makeClient(i, `i${RUN_ID}-r${Math.floor(i / IDLE_ROOM_SIZE)}`))
  const wc = windowStart(pid)
  const joinLat = []
  let progressAt = now()
  await pool(clients, CONC, async (c) => {
    const ms = await connectClient(url, c)
    if (ms == null) return
    const j = await join(c, 60000)
    if (j != null) joinLat.push(j)
    if (now() - progressAt > 5000) { progressAt = now(); console.log(`[${NAME}]   idle: ${joinLat.length}/${IDLE_CLIENTS} joined, server RSS ${pid ? procRssKB(pid) : '?'} KB`) }
  })
  const connWin = windowEnd(wc, pid)
  const joined = clients.filter((c) => c.joined).length
  await until(() => checkViews(clients).bad === 0, 10000, 100)
  const views = checkViews(clients)
  if (views.bad) err('join_view_mismatch', `idle phase: ${views.bad} clients do not see exactly the other members of their room`)
  await sleep(2000)
  const rss1 = pid ? procRssKB(pid) : null
  const threads = pid ? procThreads(pid) : null
  // hold: nothing is sent; Engine.IO heartbeats (pingInterval 25 s) keep the sockets alive
  const wh = windowStart(pid)
  let rssMax = rss1
  const holdEnd = now() + IDLE_HOLD * 1000
  while (now() < holdEnd) {
    await sleep(Math.min(1000, Math.max(0, holdEnd - now())))
    const r = pid ? procRssKB(pid) : null
    if (r != null && r > rssMax) rssMax = r
  }
  const holdWin = windowEnd(wh, pid)
  const health = await httpGet(`${url}/healthz`)
  const rss2 = pid ? procRssKB(pid) : null
  const stillConnected = clients.filter((c) => c.sock?.connected && !c.disconnected).length
  const held = joined === IDLE_CLIENTS && stillConnected === IDLE_CLIENTS
  if (health.status !== 200) err('healthz_failed', health)
  return {
    clients,
    result: {
      clients: IDLE_CLIENTS, perRoom: IDLE_ROOM_SIZE, rooms: Math.ceil(IDLE_CLIENTS / IDLE_ROOM_SIZE), joined,
      connectAndJoin: connWin, joinLatencyMs: lat(joinLat),
      holdSeconds: IDLE_HOLD, stillConnectedAfterHold: stillConnected, held,
      hold: holdWin, healthzMsWhileHeld: health.ms, serverThreads: threads,
      serverRssKB: { beforeAnyConnection: rss0, afterJoin: rss1, afterHold: rss2, maxDuringHold: rssMax },
      rssKBPerJoinedConn: rss0 != null && rss2 != null && joined ? r3((rss2 - rss0) / joined) : null,
      rssKBPerJoinedConnAfterJoin: rss0 != null && rss1 != null && joined ? r3((rss1 - rss0) / joined) : null,
      errors: errDelta(e0),
    },
  }
}

// ---- main -------------------------------------------------------------------------------
/** Runs a measured phase ROUNDS times; reports the round with the median `key` (and every
 *  round's key figures); losses and counts are summed over all rounds. */
async function rounds(name, run, key, show) {
  const all = []
  for (let i = 0; i < ROUNDS; i++) {
    const r = await run()
    all.push(r)
    console.log(`[${NAME}]   ${name} round ${i + 1}/${ROUNDS}: ${key} ${r[key]}, ${show.map((k) => `${k} ${k.split('.').reduce((o, x) => o?.[x], r)}`).join(', ')}, lost ${r.lost}`)
    await sleep(500)
  }
  const sorted = [...all].sort((a, b) => (a[key] ?? 0) - (b[key] ?? 0))
  const med = sorted[Math.floor((sorted.length - 1) / 2)]
  return {
    ...med,
    medianOfRounds: all.length, medianRound: all.indexOf(med) + 1,
    lostAllRounds: all.reduce((n, r) => n + r.lost, 0),
    deliveredAllRounds: all.reduce((n, r) => n + r.delivered, 0),
    rounds: all.map((r) => Object.fromEntries([key, ...show, 'lost', 'serverCpuS', 'wallS'].map((k) => [k, k.split('.').reduce((o, x) => o?.[x], r)]))),
    [`${key}Range`]: [sorted[0][key], sorted[sorted.length - 1][key]],
  }
}

function printPhase(title, o) {
  console.log(`[${NAME}] ${title}`)
  for (const [k, v] of Object.entries(o)) {
    if (v && typeof v === 'object' && 'n' in v && 'p50' in v) console.log(`[${NAME}]   ${k}: ${fmtLat(v)}`)
    else console.log(`[${NAME}]   ${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
  }
}

async function main() {
  const out = {
    name: NAME, date: new Date().toISOString(), runId: RUN_ID,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memTotalMB: Math.round(os.totalmem() / 1048576), loadavgAtStart: os.loadavg().map(r3), node: process.version, kernel: os.release() },
    options: { clients: N_CLIENTS, rooms: N_ROOMS, relaySeconds: RELAY_SECONDS, balls: BALLS, chatMessages: CHAT_MSGS, idleClients: IDLE_CLIENTS, idleRoomSize: IDLE_ROOM_SIZE, idleHoldSeconds: IDLE_HOLD, client: A.client, transport: A.transport, connectConcurrency: CONC, clkTck: CLK_TCK },
    servers: [], phases: {},
  }
  let fatal = null
  const srvInfo = async (s, m0) => {
    const m1 = s.url ? await metrics(s.url) : null
    return { cmd: s.cmd, pid: s.pid, url: s.url, log: s.logPath, logLines: s.logLines, warnOrErrorLines: s.warnLines, metricsDelta: metricsDelta(m0, m1), metricsEnd: m1 }
  }
  try {
    let url = A.url?.replace(/\/$/, '')
    let pid = A.pid ? Number(A.pid) : null
    let s = null

    if (['join', 'relay', 'chat'].some((p) => PHASES.has(p))) {
      if (!ATTACH) { s = await startServer('main'); url = s.url; pid = s.pid; await sleep(500) }
      const m0 = await metrics(url)
      console.log(`[${NAME}] phase join: ${N_CLIENTS} clients, ${N_ROOMS} rooms, ${A.transport}`)
      const j = await phaseJoin(url, pid)
      out.phases.join = j.result
      printPhase('join', j.result)
      if (PHASES.has('relay')) {
        console.log(`[${NAME}] phase relay: ${RELAY_SECONDS} s ice:candidate ping-pong`)
        out.phases.relay = await rounds('relay', () => phaseRelay(j.clients, pid), 'serverCpuUsPerRelay', ['msgPerS', 'ackLatencyMs.p99', 'deliveryLatencyMs.p99', 'serverCores', 'otherCpuS'])
        printPhase('relay', out.phases.relay)
      }
      if (PHASES.has('chat')) {
        console.log(`[${NAME}] phase chat: ${CHAT_MSGS} chat:send per client`)
        out.phases.chat = await rounds('chat', () => { for (const c of j.clients) { c.chatIds = []; c.lastChatId = null } return phaseChat(j.clients, pid) }, 'serverCpuUsPerDelivery', ['deliveriesPerS', 'ackLatencyMs.p99', 'outOfIdOrder', 'roomsWhereMembersSawDifferentOrders', 'otherCpuS'])
        printPhase('chat', out.phases.chat)
      }
      await closeClients(j.clients)
      if (pid && !procRssKB(pid) && !ATTACH) err('server_gone', 'server process vanished')
      const info = s ? await srvInfo(s, m0) : { url, pid, metricsDelta: metricsDelta(m0, await metrics(url)) }
      if (s) info.exit = await stopServer(s)
      out.servers.push(info)
    }

    if (PHASES.has('idle') && IDLE_CLIENTS > 0) {
      if (!ATTACH) { s = await startServer('idle'); url = s.url; pid = s.pid }
      const m0 = await metrics(url)
      console.log(`[${NAME}] phase idle: ${IDLE_CLIENTS} joined connections in rooms of ${IDLE_ROOM_SIZE}, hold ${IDLE_HOLD} s`)
      const d = await phaseIdle(url, pid)
      out.phases.idle = d.result
      printPhase('idle', d.result)
      await closeClients(d.clients)
      const info = s && !ATTACH ? await srvInfo(s, m0) : { url, pid, metricsDelta: metricsDelta(m0, await metrics(url)) }
      if (s && !ATTACH) info.exit = await stopServer(s)
      out.servers.push(info)
    }
  } catch (e) {
    fatal = e
    err('fatal', e.stack || String(e))
    console.error(`[${NAME}] FATAL: ${e.stack || e}`)
    if (server && !server.exited) await stopServer(server)
  }

  const lost = (out.phases.relay?.lostAllRounds || 0) + (out.phases.chat?.lostAllRounds || 0)
  out.errors = errors
  out.lost = lost
  out.pass = errors.count === 0 && lost === 0 && !fatal && (out.phases.idle ? out.phases.idle.held : true)
  out.clientPeakRssMB = Math.round(process.resourceUsage().maxRSS / 1024)
  if (A.json) { mkdirSync(path.dirname(path.resolve(A.json)), { recursive: true }); writeFileSync(A.json, JSON.stringify(out, null, 2)) }

  console.log(`[${NAME}] ---- summary ----`)
  for (const sv of out.servers) {
    if (sv.exit) console.log(`[${NAME}] server ${sv.pid}: stopped ${JSON.stringify(sv.exit)}; ${sv.logLines} log lines, ${sv.warnOrErrorLines?.length || 0} WARN/ERROR`)
    if (sv.metricsDelta) console.log(`[${NAME}] server ${sv.pid} /metrics delta: ${JSON.stringify(sv.metricsDelta)}`)
  }
  if (errors.count) {
    console.log(`[${NAME}] errors by kind: ${JSON.stringify(errors.byKind)}`)
    for (const s of errors.samples.slice(0, 15)) console.log(`[${NAME}]   ${s}`)
  }
  const held = out.phases.idle ? (out.phases.idle.held ? 'yes' : 'NO') : 'n/a'
  console.log(`[${NAME}] ${out.pass ? 'PASS' : 'FAIL'}: errors=${errors.count} lost=${lost} idle-held=${held}${fatal ? ' (fatal: ' + fatal.message + ')' : ''}`)
  process.exit(fatal && !Object.keys(out.phases).length ? 2 : out.pass ? 0 : 1)
}

main()
