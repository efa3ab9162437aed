// A minimal W3C WebDriver client (the few commands the app tests need), over fetch.
// tauri-driver proxies it to WebKitWebDriver, which drives the real app window.

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export class WebDriverError extends Error {}

async function call(base, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WebDriverError(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 500)}`);
  }
  if (!res.ok || (json.value && json.value.error)) {
    const v = json.value || {};
    throw new WebDriverError(`${method} ${path}: ${v.error || res.status}: ${v.message || text.slice(0, 500)}`);
  }
  return json.value;
}

/** A session on the app: `application` is the binary, `args` its command line. */
export async function newSession(driverUrl, { application, args = [] }) {
  const value = await call(driverUrl, 'POST', '/session', {
    capabilities: { alwaysMatch: { 'tauri:options': { application, args } } },
  });
  return new Session(driverUrl, value.sessionId);
}

export class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  cmd(method, path, body) {
    return call(this.base, method, `/session/${this.id}${path}`, body);
  }

  /** Runs `script` (a function body; `arguments` holds args) in the page. */
  execute(script, args = []) {
    return this.cmd('POST', '/execute/sync', { script, args });
  }

  /** Like execute, for a script that returns a promise. */
  executeAsync(script, args = []) {
    const wrapped = `const done = arguments[arguments.length - 1];
      Promise.resolve((async function () { ${script} }).apply(null, Array.from(arguments).slice(0, -1)))
        .then((v) => done({ ok: v }), (e) => done({ err: String(e && e.stack || e) }));`;
    return this.cmd('POST', '/execute/async', { script: wrapped, args }).then((r) => {
      if (r && r.err) throw new WebDriverError(r.err);
      return r && r.ok;
    });
  }

  async find(css) {
    const v = await this.cmd('POST', '/element', { using: 'css selector', value: css });
    return v[ELEMENT];
  }

  /** Clicks `css`; if the page replaced the element between find and click, finds it again. */
  async click(css) {
    for (let attempt = 0; ; attempt++) {
      const el = await this.find(css);
      try {
        await this.cmd('POST', `/element/${el}/click`, {});
        return;
      } catch (e) {
        if (attempt >= 2 || !/stale element reference/.test(String(e.message))) throw e;
      }
    }
  }

  async type(css, text) {
    const el = await this.find(css);
    await this.cmd('POST', `/element/${el}/clear`, {});
    await this.cmd('POST', `/element/${el}/value`, { text });
  }

  /** Waits until `css` matches an element (or throws after `ms`). */
  async waitFor(css, ms = 15000) {
    const until = Date.now() + ms;
    for (;;) {
      const found = await this.execute('return !!document.querySelector(arguments[0]);', [css]);
      if (found) return;
      if (Date.now() > until) throw new WebDriverError(`no element ${css} after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** PNG bytes of the window. */
  async screenshot() {
    return Buffer.from(await this.cmd('GET', '/screenshot'), 'base64');
  }

  async close() {
    try {
      await this.cmd('DELETE', '');
    } catch {
      // Already gone.
    }
  }
}
