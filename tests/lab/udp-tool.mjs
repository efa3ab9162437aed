// Tiny UDP tools the lab's own tests run inside namespaces (node udp-tool.mjs COMMAND …):
//
//   reflect IP PORT…          answer "probe" with the sender's address as seen here (what a
//                             STUN server tells); on "knock:IP:PORT" send 3 datagrams to
//                             IP:PORT from the first port (an unsolicited packet); count
//                             everything else per port; print "ready" once bound and the
//                             counts as JSON on SIGTERM
//   probe LOCALPORT IP PORT…  from one socket, ask each reflector for our mapped address;
//                             print them as JSON (null where no answer came)
//   send IP PORT COUNT [LOCALPORT]  send COUNT small datagrams, 5 ms apart
//   say IP PORT TEXT          send one datagram carrying TEXT
//   blast IP PORT KBIT SECONDS SIZE send SIZE-byte datagrams at KBIT kbit/s for SECONDS;
//                             print what was sent as JSON
import dgram from 'node:dgram';

const [cmd, ...args] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function bind(port, address) {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, address, () => resolve(s));
  });
}

async function reflect(ip, ports) {
  const counts = {};
  const sockets = [];
  for (const port of ports) {
    counts[port] = { packets: 0, bytes: 0 };
    const s = await bind(Number(port), ip);
    sockets.push(s);
    s.on('message', (msg, rinfo) => {
      const text = msg.length < 64 ? msg.toString() : '';
      if (text === 'probe') s.send(`${rinfo.address}:${rinfo.port}`, rinfo.port, rinfo.address);
      else if (text.startsWith('knock:')) {
        const [, toIp, toPort] = text.split(':');
        for (let i = 0; i < 3; i++) sockets[0].send(`knock${i}`, Number(toPort), toIp);
      } else {
        counts[port].packets++;
        counts[port].bytes += msg.length;
      }
    });
  }
  process.on('SIGTERM', () => {
    process.stdout.write(`${JSON.stringify(counts)}\n`, () => process.exit(0));
  });
  console.log('ready');
}

async function probe(localPort, ip, ports) {
  const s = await bind(Number(localPort));
  const out = [];
  for (const port of ports) {
    let mapped = null;
    for (let i = 0; i < 5 && !mapped; i++) {
      mapped = await new Promise((resolve) => {
        const t = setTimeout(() => {
          s.off('message', on);
          resolve(null);
        }, 300);
        const on = (msg) => {
          clearTimeout(t);
          resolve(msg.toString());
        };
        s.once('message', on);
        s.send('probe', Number(port), ip);
      });
    }
    out.push(mapped);
  }
  console.log(JSON.stringify({ local: s.address().port, mapped: out }));
  s.close();
}

async function send(ip, port, count, localPort = '0') {
  const s = await bind(Number(localPort));
  for (let i = 0; i < Number(count); i++) {
    s.send(`x${i}`, Number(port), ip);
    await sleep(5);
  }
  await sleep(50);
  s.close();
}

async function say(ip, port, text) {
  const s = await bind(0);
  await new Promise((r) => s.send(text, Number(port), ip, r));
  await sleep(100);
  s.close();
}

async function blast(ip, port, kbit, seconds, size) {
  const s = await bind(0);
  const payload = Buffer.alloc(Number(size), 7);
  const bytesPerMs = (Number(kbit) * 1000) / 8 / 1000;
  const start = Date.now();
  let sent = 0;
  let packets = 0;
  while (Date.now() - start < Number(seconds) * 1000) {
    const due = (Date.now() - start) * bytesPerMs;
    while (sent < due) {
      s.send(payload, Number(port), ip);
      sent += payload.length;
      packets++;
    }
    await sleep(5);
  }
  await sleep(50);
  console.log(JSON.stringify({ packets, bytes: sent }));
  s.close();
}

const commands = {
  reflect: () => reflect(args[0], args.slice(1)),
  probe: () => probe(args[0], args[1], args.slice(2)),
  send: () => send(...args),
  say: () => say(...args),
  blast: () => blast(...args),
};
if (!commands[cmd]) {
  console.error(`usage: udp-tool.mjs reflect|probe|send|say|blast …`);
  process.exit(2);
}
commands[cmd]().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
