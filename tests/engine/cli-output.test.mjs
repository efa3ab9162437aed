// `huddle join … | head -1`: the reader of its output goes away after the first line. The
// call must go on to its end and the report must still be written (output errors never abort
// the run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startHarness, HUDDLE_BIN, TEST_TIMEOUT_MS } from './helpers.mjs';

test('a closed stdout neither ends the call nor loses the report', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const h = await startHarness(t);
  const report = path.join(h.dir, 'report-pipe.json');
  const args = ['join', '--server', h.server.url, '--email', 'pipe@example.com', '--room', h.room, '--camera', 'test', '--mic', 'none', '--speaker', 'none', '--udp-addr', '127.0.0.1:0', '--duration', '3', '--report', report];
  const quoted = [HUDDLE_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // `head -1` exits after the first line; every later line meets a closed pipe.
  const sh = spawn('bash', ['-c', `set -o pipefail; ${quoted} | head -1`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  sh.stdout.on('data', (c) => (out += c));
  sh.stderr.on('data', (c) => (err += c));
  const code = await new Promise((resolve) => sh.on('exit', resolve));
  assert.equal(out.trim().split('\n').length, 1, `head printed one line: ${out}`);
  assert.doesNotMatch(err, /panicked|failed printing/, `huddle's stderr: ${err.slice(-2000)}`);
  assert.equal(code, 0, `huddle exited with ${code}: ${err.slice(-2000)}`);
  assert.ok(existsSync(report), 'the report was written');
  const r = JSON.parse(readFileSync(report, 'utf8'));
  assert.equal(typeof r.id, 'string');
});
