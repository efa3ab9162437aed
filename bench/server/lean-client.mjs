// A lean Socket.IO v4 client for the load generator: WebSocket transport only, the
// default namespace, JSON payloads (no binary), acks for what the client emits.
//
// Why: one Node thread plays 1,000 clients, and the official socket.io-client spends
// ~50 µs of CPU per relay doing it, more than the servers under test. The generator,
// not the server, then sets the pace and queues the latencies. This client speaks the
// same wire protocol (Engine.IO 4 packets, one per WebSocket message; Socket.IO 5
// packets inside) at a fraction of the cost. load.mjs --client official switches back.
//
// It offers the subset of socket.io-client's Socket that load.mjs uses:
//   leanIo(url, { timeout }) -> socket; socket.on/once(event, fn), socket.emit(event,
//   data[, ack]), socket.disconnect(), socket.connected, socket.id; events 'connect',
//   'connect_error' (Error), 'disconnect' (reason), and the server's events.
import WebSocket from 'ws'

export function leanIo(url, { timeout = 20000 } = {}) {
  return new LeanSocket(url, timeout)
}

class LeanSocket {
  constructor(url, timeout) {
    this.connected = false
    this.id = undefined
    this.handlers = new Map()
    this.acks = new Map()
    this.nextAck = 0
    const wsUrl = `${url.replace(/^http/, 'ws').replace(/\/$/, '')}/socket.io/?EIO=4&transport=websocket`
    this.ws = new WebSocket(wsUrl, { perMessageDeflate: false })
    this.timer = setTimeout(() => this.fail(new Error('timeout')), timeout)
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) this.onPacket(data.toString())
    })
    this.ws.on('error', (e) => {
      if (!this.connected) this.fail(e)
    })
    this.ws.on('close', () => this.closed('transport close'))
  }

  on(event, fn) {
    const list = this.handlers.get(event)
    if (list) list.push(fn)
    else this.handlers.set(event, [fn])
    return this
  }

  once(event, fn) {
    const wrapped = (...args) => {
      this.off(event, wrapped)
      fn(...args)
    }
    return this.on(event, wrapped)
  }

  off(event, fn) {
    const list = this.handlers.get(event)
    if (list) this.handlers.set(event, list.filter((f) => f !== fn))
    return this
  }

  emit(event, data, ack) {
    if (!this.connected) return this
    const body = JSON.stringify(data === undefined ? [event] : [event, data])
    if (typeof ack === 'function') {
      const id = this.nextAck++
      this.acks.set(id, ack)
      this.ws.send(`42${id}${body}`)
    } else {
      this.ws.send(`42${body}`)
    }
    return this
  }

  disconnect() {
    if (this.connected) this.ws.send('41')
    this.closed('io client disconnect')
    this.ws.close()
    return this
  }

  // -- wire ------------------------------------------------------------------------------

  onPacket(text) {
    switch (text[0]) {
      case '0': // Engine.IO open: ask for the default namespace
        this.ws.send('40')
        return
      case '2': // Engine.IO ping
        this.ws.send('3')
        return
      case '1': // Engine.IO close
        this.closed('transport close')
        return
      case '4':
        return this.onSocketIo(text.slice(1))
      default:
    }
  }

  onSocketIo(p) {
    const type = p[0]
    if (type === '0') { // CONNECT {"sid": ...}
      clearTimeout(this.timer)
      this.id = JSON.parse(p.slice(1)).sid
      this.connected = true
      this.fire('connect')
    } else if (type === '4') { // CONNECT_ERROR
      this.fail(new Error(p.slice(1)))
    } else if (type === '1') { // DISCONNECT
      this.closed('io server disconnect')
    } else if (type === '2') { // EVENT [name, arg]
      const args = JSON.parse(p.slice(p.indexOf('[')))
      this.fire(args[0], args[1])
    } else if (type === '3') { // ACK <id>[arg]
      const open = p.indexOf('[')
      const id = Number(p.slice(1, open))
      const ack = this.acks.get(id)
      if (ack) {
        this.acks.delete(id)
        ack(JSON.parse(p.slice(open))[0])
      }
    }
  }

  fire(event, arg) {
    const list = this.handlers.get(event)
    if (list) for (const fn of list) fn(arg)
  }

  fail(error) {
    clearTimeout(this.timer)
    if (this.connected) return
    this.fire('connect_error', error)
    this.ws.terminate()
  }

  closed(reason) {
    clearTimeout(this.timer)
    if (!this.connected) return
    this.connected = false
    this.fire('disconnect', reason)
  }
}
