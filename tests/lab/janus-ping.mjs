// Asks a Janus WebSocket API for its `info` (run inside a lab namespace):
//   node janus-ping.mjs ws://IP:PORT
// Prints the server_info JSON and exits 0, or prints why not and exits 1.
import WebSocket from 'ws';

const url = process.argv[2];
const ws = new WebSocket(url, 'janus-protocol');
const fail = (why) => {
  console.log(`no answer from ${url}: ${why}`);
  process.exit(1);
};
const timer = setTimeout(() => fail('timeout'), 2000);
ws.on('error', (e) => fail(e.message));
ws.on('open', () => ws.send(JSON.stringify({ janus: 'info', transaction: 'ping' })));
ws.on('message', (data) => {
  const m = JSON.parse(data.toString());
  if (m.janus === 'server_info' && m.transaction === 'ping') {
    clearTimeout(timer);
    console.log(JSON.stringify(m));
    ws.close();
    process.exit(0);
  }
});
