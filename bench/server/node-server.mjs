#!/usr/bin/env node
// Minimal Node.js socket.io 4 signaling server: the comparison baseline for load.mjs.
//
// Implements only the subset of /work/shared/PROTOCOL.md that the load benchmark
// exercises, with the same event names, payloads and ack shapes as huddle-server:
//   room:join (ack with participants, user:joined to others, room:join echo),
//   room:leave / disconnect (user:left), ice:candidate and the other 1:1 relays
//   (same-room check, ack { ok: true }), chat:send (in-memory history, fan-out of
//   chat:message to the other members, ack { ok, message }).
// It accepts huddle-server's flags (--listen --db --room-size --rate-limit --log-format)
// and logs the same "listening on http://HOST:PORT" line. --db is ignored (memory only);
// --rate-limit is ignored (the benchmark always runs with 0 = off).
// GET /healthz and a small GET /metrics (Prometheus text) are served on the same port.

import http from 'node:http'
import { parseArgs } from 'node:util'
import { Server } from 'socket.io'

const { values: opt } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1:3000' },
    db: { type: 'string', default: ':memory:' },
    'room-size': { type: 'string', default: '50' },
    'rate-limit': { type: 'string', default: '0' },
    'log-format': { type: 'string', default: 'text' },
  },
  strict: false,
})

const ROOM_SIZE = Number(opt['room-size']) || 50
const HISTORY = 100
const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/
const EMAIL_RE = /^[^\s@]+@[^\s@]+$/

function log(level, msg, fields = {}) {
  if (opt['log-format'] === 'json') {
    process.stdout.write(JSON.stringify({ timestamp: new Date().toISOString(), level, fields: { message: msg, ...fields }, target: 'node_server' }) + '\n')
  } else {
    process.stdout.write(`${new Date().toISOString()} ${level.padStart(5)} node_server: ${msg}\n`)
  }
}

// ---- state ------------------------------------------------------------------
/** room name -> { members: Map<id, socket>, sharerId, history: ChatMessage[], nextId } */
const rooms = new Map()
const metrics = { joins: 0, leaves: 0, relays: 0, chat: 0, errors: new Map() }

function fail(socket, ack, event, code, message) {
  metrics.errors.set(code, (metrics.errors.get(code) || 0) + 1)
  const error = { code, message }
  if (ack) ack({ ok: false, error })
  else socket.emit('error', { code, message, event })
}

function participant(s) {
  const d = s.data
  return { id: s.id, email: d.email, name: d.name ?? null, audio: d.audio, video: d.video }
}

function leave(socket) {
  const name = socket.data.room
  if (!name) return false
  const room = rooms.get(name)
  socket.data.room = null
  socket.leave(name)
  if (room) {
    room.members.delete(socket.id)
    if (room.sharerId === socket.id) {
      room.sharerId = null
      socket.to(name).emit('sharerStopped', socket.id)
    }
    socket.to(name).emit('user:left', { id: socket.id, email: socket.data.email, count: room.members.size })
    if (room.members.size === 0) rooms.delete(name)
  }
  metrics.leaves++
  return true
}

function joinAck(socket, room, name) {
  const participants = []
  for (const s of room.members.values()) if (s !== socket) participants.push(participant(s))
  return { ok: true, id: socket.id, room: name, participants, sharerId: room.sharerId, history: room.history }
}

const RELAYS = [
  // [incoming event, outgoing event, payload field]
  ['user:call', 'incoming:call', 'offer'],
  ['call:accepted', 'call:accepted', 'ans'],
  ['peer:nego:needed', 'peer:nego:needed', 'offer'],
  ['peer:nego:done', 'peer:nego:final', 'ans'],
  ['ice:candidate', 'ice:candidate', 'candidate'],
  ['call:end', 'call:ended', null],
  ['share:offer', 'share:offer', 'offer'],
  ['share:answer', 'share:answer', 'ans'],
  ['share:ice', 'share:ice', 'candidate'],
]

// ---- server -----------------------------------------------------------------
const httpServer = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
  } else if (req.url === '/metrics') {
    let body = ''
    body += `# TYPE huddle_connections gauge\nhuddle_connections ${io.engine.clientsCount}\n`
    body += `# TYPE huddle_rooms gauge\nhuddle_rooms ${rooms.size}\n`
    body += `# TYPE huddle_joins_total counter\nhuddle_joins_total ${metrics.joins}\n`
    body += `# TYPE huddle_relays_total counter\nhuddle_relays_total ${metrics.relays}\n`
    body += `# TYPE huddle_chat_messages_total counter\nhuddle_chat_messages_total ${metrics.chat}\n`
    body += `# TYPE huddle_errors_total counter\n`
    for (const [code, n] of metrics.errors) body += `huddle_errors_total{code="${code}"} ${n}\n`
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body)
  } else {
    res.writeHead(404).end()
  }
})

const io = new Server(httpServer, { cors: { origin: '*' }, serveClient: false })

io.on('connection', (socket) => {
  socket.data = { room: null, email: null, name: null, audio: false, video: false }

  socket.on('room:join', (data, ack) => {
    if (typeof ack !== 'function') ack = null
    if (!data || typeof data !== 'object') return fail(socket, ack, 'room:join', 'bad_request', 'payload must be an object')
    const { email, room: name } = data
    if (typeof email !== 'string' || email.length > 254 || !EMAIL_RE.test(email)) return fail(socket, ack, 'room:join', 'invalid_email', 'invalid email')
    if (typeof name !== 'string' || !ROOM_RE.test(name)) return fail(socket, ack, 'room:join', 'invalid_room', 'invalid room')
    if (data.name != null && (typeof data.name !== 'string' || data.name.length > 64)) return fail(socket, ack, 'room:join', 'bad_request', 'invalid name')

    if (socket.data.room === name) {
      if (ack) ack(joinAck(socket, rooms.get(name), name))
      return
    }
    if (socket.data.room) leave(socket)

    let room = rooms.get(name)
    if (!room) rooms.set(name, (room = { members: new Map(), sharerId: null, history: [], nextId: 1 }))
    if (room.members.size >= ROOM_SIZE) return fail(socket, ack, 'room:join', 'room_full', 'room is full')

    socket.data.email = email
    socket.data.name = data.name ?? null
    socket.to(name).emit('user:joined', { email, id: socket.id, name: socket.data.name, count: room.members.size + 1 })
    socket.join(name)
    room.members.set(socket.id, socket)
    socket.data.room = name
    metrics.joins++
    const echo = { email, room: name }
    if (data.name != null) echo.name = data.name
    socket.emit('room:join', echo)
    if (room.sharerId) {
      socket.emit('sharerAvailable', room.sharerId)
      room.members.get(room.sharerId)?.emit('viewerJoined', socket.id)
    }
    if (ack) ack(joinAck(socket, room, name))
  })

  socket.on('room:leave', (_data, ack) => {
    if (typeof _data === 'function') ack = _data
    if (typeof ack !== 'function') ack = null
    if (!leave(socket)) return fail(socket, ack, 'room:leave', 'not_joined', 'not in a room')
    if (ack) ack({ ok: true })
  })

  for (const [inEv, outEv, field] of RELAYS) {
    socket.on(inEv, (data, ack) => {
      if (typeof ack !== 'function') ack = null
      if (!data || typeof data !== 'object' || typeof data.to !== 'string') return fail(socket, ack, inEv, 'bad_request', 'missing "to"')
      if (field && (data[field] == null || typeof data[field] !== 'object')) return fail(socket, ack, inEv, 'bad_request', `missing "${field}"`)
      const name = socket.data.room
      const target = name && rooms.get(name)?.members.get(data.to)
      if (!target || target === socket) return fail(socket, ack, inEv, 'not_in_room', 'target is not in your room')
      target.emit(outEv, field ? { from: socket.id, [field]: data[field] } : { from: socket.id })
      metrics.relays++
      if (ack) ack({ ok: true })
    })
  }

  socket.on('chat:send', (data, ack) => {
    if (typeof ack !== 'function') ack = null
    const name = socket.data.room
    if (!name) return fail(socket, ack, 'chat:send', 'not_joined', 'not in a room')
    if (!data || typeof data.text !== 'string' || data.text.length < 1 || data.text.length > 4000) return fail(socket, ack, 'chat:send', 'bad_request', 'invalid text')
    const room = rooms.get(name)
    const message = { id: String(room.nextId++), room: name, from: socket.id, email: socket.data.email, name: socket.data.name, text: data.text, ts: Date.now() }
    if (typeof data.clientId === 'string') message.clientId = data.clientId
    room.history.push(message)
    if (room.history.length > HISTORY) room.history.shift()
    socket.to(name).emit('chat:message', message)
    metrics.chat++
    if (ack) ack({ ok: true, message })
  })

  socket.on('disconnect', () => leave(socket))
})

const [host, port] = (() => {
  const i = opt.listen.lastIndexOf(':')
  return [opt.listen.slice(0, i), Number(opt.listen.slice(i + 1))]
})()

httpServer.listen(port, host, () => {
  const a = httpServer.address()
  log('INFO', `listening on http://${a.address}:${a.port}`)
})

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log('INFO', `${sig}: shutting down`)
    io.close()
    process.exit(0)
  })
}
