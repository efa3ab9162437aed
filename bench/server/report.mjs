#!/usr/bin/env node
// Side-by-side table (Markdown) from load.mjs --json results.
// Usage: node report.mjs results/.../huddle.json results/.../node.json
// The first file is the subject (checked against the targets), the second the baseline.
import { readFileSync, existsSync } from 'node:fs'

const files = process.argv.slice(2)
if (!files.length) { console.error('usage: node report.mjs huddle.json [node.json]'); process.exit(2) }
const runs = files.map((f) => (existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : null))
const [H, N] = runs

const get = (o, p) => p.split('.').reduce((x, k) => (x == null ? undefined : x[k]), o)
const num = (x, d = 1) => (x == null || Number.isNaN(x) ? '–' : Number(x).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }))
const ratio = (a, b) => (a == null || b == null || !b ? '–' : `${(a / b).toFixed(2)}×`)

// [label, getter (run -> number|string), digits, lower-is-better?]
const rows = [
  ['join-ack p50 / p99 (ms), burst of all joins', (r) => pair(get(r, 'phases.join.joinLatencyMs.p50'), get(r, 'phases.join.joinLatencyMs.p99'), 1), (r) => get(r, 'phases.join.joinLatencyMs.p99')],
  ['burst: all joins emitted in / all acked in (ms)', (r) => (get(r, 'phases.join') ? `${num(get(r, 'phases.join.emitLoopMs'), 0)} / ${num(get(r, 'phases.join.allJoinAcksS') * 1000, 0)}` : '–'), (r) => get(r, 'phases.join.allJoinAcksS')],
  ['join-ack p50 / p99 (ms), paced re-join of the same clients', (r) => (get(r, 'phases.join.paced') ? pair(get(r, 'phases.join.paced.joinLatencyMs.p50'), get(r, 'phases.join.paced.joinLatencyMs.p99'), 1) + ` @ ${get(r, 'phases.join.paced.ratePerS')}/s` : '–'), (r) => get(r, 'phases.join.paced.joinLatencyMs.p99')],
  ['join-ack p50 / p99 (ms), re-join emitted in one synchronous loop (reference)', (r) => (get(r, 'phases.join.oneLoop') ? pair(get(r, 'phases.join.oneLoop.joinLatencyMs.p50'), get(r, 'phases.join.oneLoop.joinLatencyMs.p99'), 1) + ` (loop ${num(get(r, 'phases.join.oneLoop.emitLoopMs'), 0)} ms)` : '–'), (r) => get(r, 'phases.join.oneLoop.joinLatencyMs.p99')],
  ['server / load-generator CPU during the join burst (ms)', (r) => (get(r, 'phases.join') ? `${num(get(r, 'phases.join.join.serverCpuS') * 1000, 0)} / ${num(get(r, 'phases.join.join.clientCpuS') * 1000, 0)}` : '–'), (r) => get(r, 'phases.join.join.serverCpuS')],
  ['relay throughput (relayed msg/s)', (r) => num(get(r, 'phases.relay.msgPerS'), 0), (r) => get(r, 'phases.relay.msgPerS')],
  ['relay ack p50 / p99 (ms)', (r) => pair(get(r, 'phases.relay.ackLatencyMs.p50'), get(r, 'phases.relay.ackLatencyMs.p99'), 2), (r) => get(r, 'phases.relay.ackLatencyMs.p99')],
  ['relay one-way delivery p50 / p99 (ms)', (r) => pair(get(r, 'phases.relay.deliveryLatencyMs.p50'), get(r, 'phases.relay.deliveryLatencyMs.p99'), 2), (r) => get(r, 'phases.relay.deliveryLatencyMs.p99')],
  ['**server CPU µs per relay** (event + ack + delivery); median [range] of rounds', (r) => withRange(get(r, 'phases.relay.serverCpuUsPerRelay'), get(r, 'phases.relay.serverCpuUsPerRelayRange')), (r) => get(r, 'phases.relay.serverCpuUsPerRelay')],
  ['server cores busy during relay', (r) => num(get(r, 'phases.relay.serverCores'), 2), (r) => get(r, 'phases.relay.serverCores')],
  ['load-generator CPU µs per relay (client)', (r) => num(get(r, 'phases.relay.clientCpuUsPerRelay'), 1), (r) => get(r, 'phases.relay.clientCpuUsPerRelay')],
  ['chat deliveries/s (fan-out to 9)', (r) => num(get(r, 'phases.chat.deliveriesPerS'), 0), (r) => get(r, 'phases.chat.deliveriesPerS')],
  ['chat ack p50 / p99 (ms)', (r) => pair(get(r, 'phases.chat.ackLatencyMs.p50'), get(r, 'phases.chat.ackLatencyMs.p99'), 1), (r) => get(r, 'phases.chat.ackLatencyMs.p99')],
  ['**server CPU µs per chat delivery**; median [range] of rounds', (r) => withRange(get(r, 'phases.chat.serverCpuUsPerDelivery'), get(r, 'phases.chat.serverCpuUsPerDeliveryRange')), (r) => get(r, 'phases.chat.serverCpuUsPerDelivery')],
  ['server CPU µs per chat:send (store + 9 deliveries + ack)', (r) => num(get(r, 'phases.chat.serverCpuUsPerMessage'), 1), (r) => get(r, 'phases.chat.serverCpuUsPerMessage')],
  ['chat deliveries out of id order (observation)', (r) => (get(r, 'phases.chat') ? `${get(r, 'phases.chat.outOfIdOrder')} of ${get(r, 'phases.chat.delivered')}` : '–'), null],
  ['rooms whose members saw different chat orders (observation)', (r) => (get(r, 'phases.chat') ? `${get(r, 'phases.chat.roomsWhereMembersSawDifferentOrders')} of ${get(r, 'phases.join.rooms')}` : '–'), null],
  ['server RSS before any connection (MB)', (r) => num(kb2mb(get(r, 'phases.idle.serverRssKB.beforeAnyConnection')), 1), (r) => get(r, 'phases.idle.serverRssKB.beforeAnyConnection')],
  ['server RSS with idle conns joined & held (MB)', (r) => num(kb2mb(get(r, 'phases.idle.serverRssKB.afterHold')), 1), (r) => get(r, 'phases.idle.serverRssKB.afterHold')],
  ['**server RSS KB per joined idle conn** (idle phase)', (r) => num(get(r, 'phases.idle.rssKBPerJoinedConn'), 1), (r) => get(r, 'phases.idle.rssKBPerJoinedConn')],
  ['server RSS KB per joined conn (1k, join phase)', (r) => num(get(r, 'phases.join.rssKBPerJoinedConn'), 1), (r) => get(r, 'phases.join.rssKBPerJoinedConn')],
  ['of which: after connect only / added by room:join (KB per conn, 1k)', (r) => { const x = get(r, 'phases.join.serverRssKB'); const n = get(r, 'phases.join.joined'); return x && n ? `${num((x.afterConnect - x.beforeAnyConnection) / n, 1)} / ${num((x.afterJoin - x.afterConnect) / n, 1)}` : '–' }, null],
  ['idle conns joined / still connected after hold', (r) => (get(r, 'phases.idle') ? `${get(r, 'phases.idle.joined')} / ${get(r, 'phases.idle.stillConnectedAfterHold')} (${get(r, 'phases.idle.holdSeconds')} s)` : '–'), null],
  ['**10k joined connections held**', (r) => (get(r, 'phases.idle') ? (get(r, 'phases.idle.held') && get(r, 'phases.idle.clients') >= 10000 ? 'yes' : get(r, 'phases.idle.held') ? `yes (${get(r, 'phases.idle.clients')})` : 'NO') : '–'), null],
  ['server CPU while holding idle conns (cores)', (r) => num(get(r, 'phases.idle.hold.serverCores'), 3), (r) => get(r, 'phases.idle.hold.serverCores')],
  ['**errors**', (r) => (r ? String(r.errors.count) : '–'), null],
  ['relay / chat rounds (the median round is shown above)', (r) => (r ? `${get(r, 'phases.relay.medianOfRounds') ?? 1} / ${get(r, 'phases.chat.medianOfRounds') ?? 1}` : '–'), null],
  ['**lost messages** (relay + chat, all rounds)', (r) => (r ? String(r.lost) : '–'), null],
  ['result', (r) => (r ? (r.pass ? 'PASS' : 'FAIL') : 'not run'), null],
]
function withRange(v, range) { return v == null ? '–' : `${num(v, 1)}${range ? ` [${num(range[0], 1)}–${num(range[1], 1)}]` : ''}` }
function pair(a, b, d) { return a == null ? '–' : `${num(a, d)} / ${num(b, d)}` }
function kb2mb(x) { return x == null ? null : x / 1024 }

const names = runs.map((r, i) => (r ? r.name : files[i].split('/').pop().replace(/\.json$/, '')))
const lines = []
lines.push(`| metric | ${names.join(' | ')} |${N !== undefined ? ' ratio ' + names[0] + ' / ' + names[1] + ' |' : ''}`)
lines.push(`| --- | ${names.map(() => '---:').join(' | ')} |${N !== undefined ? ' ---: |' : ''}`)
for (const [label, show, val] of rows) {
  const cells = runs.map((r) => (r ? show(r) : 'not run'))
  const rat = N !== undefined ? ` ${val && H && N ? ratio(val(H), val(N)) : ''} |` : ''
  lines.push(`| ${label} | ${cells.join(' | ')} |${rat}`)
}
console.log(lines.join('\n'))

// Targets (checked for the first run).
if (H) {
  const t = [
    ['server CPU per relayed message ≤ 10 µs', get(H, 'phases.relay.serverCpuUsPerRelay'), (v) => v != null && v <= 10, (v) => `${num(v, 2)} µs`],
    ['server RSS per joined idle connection ≤ 12 KB', get(H, 'phases.idle.rssKBPerJoinedConn'), (v) => v != null && v <= 12, (v) => `${num(v, 1)} KB`],
    ['10,000 joined connections held at once', get(H, 'phases.idle'), (v) => !!v && v.held && v.clients >= 10000, (v) => (v ? `${v.joined} joined, ${v.stillConnectedAfterHold} still connected after ${v.holdSeconds} s` : 'not run')],
    ['join-ack p99 ≤ 50 ms with 1,000 clients joining', get(H, 'phases.join.joinLatencyMs.p99'), (v) => v != null && v <= 50 && get(H, 'phases.join.clients') >= 1000,
      (v) => `burst: ${num(v, 1)} ms (${get(H, 'phases.join.clients')} clients, all emitted within ${num(get(H, 'phases.join.emitLoopMs'), 0)} ms)` + (get(H, 'phases.join.paced') ? `; paced at ${get(H, 'phases.join.paced.ratePerS')} joins/s: ${num(get(H, 'phases.join.paced.joinLatencyMs.p99'), 1)} ms` : '') + (get(H, 'phases.join.oneLoop') ? `; one synchronous emit loop: ${num(get(H, 'phases.join.oneLoop.joinLatencyMs.p99'), 1)} ms` : '')],
    ['zero errors', H.errors.count, (v) => v === 0, (v) => `${v}${v ? ' ' + JSON.stringify(H.errors.byKind) : ''}`],
    ['zero lost messages', H.lost, (v) => v === 0, (v) => String(v)],
  ]
  console.log(`\nTargets (${H.name}):\n`)
  console.log('| target | measured | met? |\n| --- | --- | --- |')
  for (const [label, v, ok, show] of t) {
    let met = ok(v) ? 'yes' : '**NO**'
    console.log(`| ${label} | ${show(v)} | ${met} |`)
  }
}

for (const r of runs) {
  if (!r) continue
  const other = (ph) => get(r, `phases.${ph}.otherCpuS`)
  console.log(`\n${r.name}: ${r.date}, loadavg at start ${r.machine.loadavgAtStart.join(' ')}; CPU used by other processes during relay ${num(other('relay'), 2)} s / ${num(get(r, 'phases.relay.wallS'), 1)} s, during chat ${num(other('chat'), 2)} s / ${num(get(r, 'phases.chat.wallS'), 1)} s; load generator peak RSS ${r.clientPeakRssMB} MB.`)
  if (r.errors.count) console.log(`${r.name} errors: ${JSON.stringify(r.errors.byKind)}\n  ${r.errors.samples.slice(0, 8).join('\n  ')}`)
  for (const s of r.servers || []) if (s.warnOrErrorLines?.length) console.log(`${r.name} server log WARN/ERROR lines (${s.log}):\n  ${s.warnOrErrorLines.slice(0, 8).join('\n  ')}`)
}
