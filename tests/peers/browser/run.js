#!/usr/bin/env node
// Drive the voicegate browser page in Debian's headless Chromium with a WAV as the microphone, and
// print a JSON report of what the page did (and, with --fake-server, what a fake server saw).
//
//   node run.js --url http://127.0.0.1:8080/ --wav /abs/in.wav [--seconds 6]
//   node run.js --fake-server [--wav /abs/in.wav] [--processing off] [--seconds 4]
//   node run.js --url http://127.0.0.1:8080/ --wav /abs/in.wav --control
//
// --control is for a test that drives the other side of the call itself (the Rust suite against
// the real server): once the page is in the call (or failed to get there) it prints one JSON line
// {"event":"ready", ...report}, then reads commands on stdin, one per line, and answers each with
// one JSON line:
//   wait <path>>=<n> ...   wait (up to 20 s) until every named counter of window.voicegateDebug
//                          (dotted path, e.g. marksEchoed or cleared.length) is at least n, then
//                          {"event":"ok", ...report} or {"event":"timeout", ...report}
//                          (conditions, not JS: the page's CSP rightly forbids evaluating strings)
//   report                 {"event":"report", ...report}
//   stop                   press "End call", close the browser, {"event":"stopped", ...report}, exit
// Nothing in --control mode waits for a fixed time: every step waits for a condition.
//
// --fake-server serves ../../../src/http/browser_page itself with a fake /browser/token and /browser/ws:
// it answers hello with ready, counts the microphone frames, plays a 440 Hz tone back in 100 ms
// chunks each followed by a mark, sends a transcript line and agent state, then a clear, and
// records the marks and `cleared` the page echoes. --processing off injects a config with
// echoCancellation/noiseSuppression/autoGainControl false (needed for bit-faithful file input).
// The report's `getUserMedia` field is the constraints the page actually requested.
// Never runs `playwright install`: it uses /usr/bin/chromium.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const { chromium } = require('playwright-core');

function args() {
  const a = { url: null, wav: null, seconds: 4, fakeServer: false, processing: 'default', chromium: '/usr/bin/chromium', control: false };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i++) {
    switch (v[i]) {
      case '--url': a.url = v[++i]; break;
      case '--wav': a.wav = path.resolve(v[++i]); break;
      case '--seconds': a.seconds = Number(v[++i]); break;
      case '--fake-server': a.fakeServer = true; break;
      case '--processing': a.processing = v[++i]; break;
      case '--chromium': a.chromium = v[++i]; break;
      case '--control': a.control = true; break;
      default: throw new Error(`unknown argument ${v[i]}`);
    }
  }
  if (!a.url && !a.fakeServer) throw new Error('--url or --fake-server is required');
  return a;
}

// A 16-bit mono 48 kHz WAV: 1 s silence, 1 s of 300 Hz, 1 s silence (when no --wav is given).
function writeToneWav(file) {
  const rate = 48000;
  const n = rate * 3;
  const buf = Buffer.alloc(44 + 2 * n);
  buf.write('RIFF', 0); buf.writeUInt32LE(36 + 2 * n, 4); buf.write('WAVE', 8);
  buf.write('fmt ', 12); buf.writeUInt32LE(16, 16); buf.writeUInt16LE(1, 20); buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24); buf.writeUInt32LE(rate * 2, 28); buf.writeUInt16LE(2, 32); buf.writeUInt16LE(16, 34);
  buf.write('data', 36); buf.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; i++) {
    const s = i >= rate && i < 2 * rate ? Math.round(0.5 * 32767 * Math.sin((2 * Math.PI * 300 * i) / rate)) : 0;
    buf.writeInt16LE(s, 44 + 2 * i);
  }
  fs.writeFileSync(file, buf);
}

function fakeServer(processing) {
  const { WebSocketServer } = require('ws');
  const assets = path.resolve(__dirname, '../../../src/http/browser_page');
  const seen = {
    hello: null, frames: 0, frameBytes: {}, seqErrors: 0, nonSilentFrames: 0,
    marks: [], cleared: [], sentMarks: 0, closeCode: null,
  };
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'POST' && url.pathname === '/browser/token') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ token: 'fake-token' }));
    }
    const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
    if (!/^[a-z-]+\.(html|js)$/.test(name)) { res.writeHead(404); return res.end(); }
    let body = fs.readFileSync(path.join(assets, name), 'utf8');
    if (name === 'index.html' && processing === 'off') {
      const cfg = { audio_constraints: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } };
      body = body.replace('<script type="application/json" id="config">{}</script>',
        `<script type="application/json" id="config">${JSON.stringify(cfg).replace(/</g, '\\u003c')}</script>`);
    }
    res.writeHead(200, { 'content-type': types[path.extname(name)] });
    res.end(body);
  });
  const wss = new WebSocketServer({ server, path: '/browser/ws', maxPayload: 4096 });
  wss.on('connection', (ws) => {
    let expect = 0;
    let frameSamples = 0;
    const timers = [];
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        seen.frames++;
        seen.frameBytes[data.length] = (seen.frameBytes[data.length] || 0) + 1;
        const seq = data.readUInt32LE(0);
        if (seq < expect) seen.seqErrors++;
        expect = seq + 1;
        let peak = 0;
        for (let i = 4; i + 1 < data.length; i += 2) peak = Math.max(peak, Math.abs(data.readInt16LE(i)));
        if (peak > 100) seen.nonSilentFrames++;
        if (frameSamples && data.length !== 4 + 2 * frameSamples) seen.seqErrors++;
        return;
      }
      const m = JSON.parse(data.toString());
      if (m.type === 'hello') {
        seen.hello = { sample_rate: m.sample_rate, audio: m.audio, token: m.token ? 'present' : 'absent' };
        frameSamples = Math.round(m.sample_rate / 50);
        ws.send(JSON.stringify({ type: 'ready', playback_rate: 24000 }));
        timers.push(setTimeout(() => playTone(ws), 500));
        timers.push(setTimeout(() => ws.send(JSON.stringify({ type: 'clear' })), 1600));
      } else if (m.type === 'mark') {
        seen.marks.push(m.name);
      } else if (m.type === 'cleared') {
        seen.cleared.push(m.played_samples);
      }
    });
    ws.on('close', (code) => { seen.closeCode = code; timers.forEach(clearTimeout); });
  });
  // 3 s of tone sent at once (faster than real time, as the upstream does), so the clear at
  // 1.6 s interrupts it with marks still pending.
  function playTone(ws) {
    ws.send(JSON.stringify({ type: 'agent_state', state: 'speaking' }));
    ws.send(JSON.stringify({ type: 'transcript', speaker: 'agent', text: 'Hello, how can I help?', final: true }));
    for (let c = 0; c < 30; c++) {
      const pcm = Buffer.alloc(2 * 2400);
      for (let i = 0; i < 2400; i++) {
        const n = c * 2400 + i;
        pcm.writeInt16LE(Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * 440 * n) / 24000)), 2 * i);
      }
      ws.send(pcm);
      ws.send(JSON.stringify({ type: 'mark', name: `m${c}` }));
      seen.sentMarks++;
    }
  }
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ url: `http://127.0.0.1:${server.address().port}/`, seen, close: () => { wss.close(); server.close(); } });
  }));
}

// What the page shows and counts (transcript text included: tests use fictional speech only).
function pageReport(page) {
  return page.evaluate(() => ({
    getUserMedia: window.__gumConstraints || null,
    debug: window.voicegateDebug,
    status: document.getElementById('status').textContent,
    error: document.getElementById('error').textContent,
    agentState: document.getElementById('agent-state').textContent,
    transcriptItems: document.querySelectorAll('#transcript li').length,
    transcript: Array.from(document.querySelectorAll('#transcript li')).map((li) => li.textContent),
  }));
}

async function control(page, browser, errors) {
  const say = (event, report) => process.stdout.write(`${JSON.stringify(Object.assign({ event, pageErrors: errors }, report))}\n`);
  say('ready', await pageReport(page));
  const readline = require('readline');
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const [cmd, ...rest] = line.trim().split(' ');
    if (cmd === 'wait') {
      const conditions = rest.filter(Boolean).map((c) => {
        const [path, min] = c.split('>=');
        return [path.split('.'), Number(min)];
      });
      let event = 'ok';
      let waitError;
      try {
        await page.waitForFunction(
          (conds) => conds.every(([path, min]) => path.reduce((v, k) => (v == null ? v : v[k]), window.voicegateDebug) >= min),
          conditions, { timeout: 20000, polling: 20 });
      } catch (e) {
        event = 'timeout';
        waitError = String(e && e.message).split('\n')[0];
      }
      say(event, Object.assign({ waitError }, await pageReport(page)));
    } else if (cmd === 'report') {
      say('report', await pageReport(page));
    } else if (cmd === 'stop') {
      await page.click('#stop').catch(() => {});
      await page.waitForFunction(() => ['ended', 'failed'].includes(window.voicegateDebug.state), null, { timeout: 5000 }).catch(() => {});
      const report = await pageReport(page);
      await browser.close();
      say('stopped', report);
      process.exit(0);
    } else if (cmd) {
      say('error', { message: `unknown command ${cmd}` });
    }
  }
  await browser.close();
}

async function main() {
  const a = args();
  let wav = a.wav;
  if (!wav) {
    wav = path.join(fs.mkdtempSync('/tmp/vg-peer-'), 'tone.wav');
    writeToneWav(wav);
  }
  const fake = a.fakeServer ? await fakeServer(a.processing) : null;
  const url = fake ? fake.url : a.url;
  const browser = await chromium.launch({
    executablePath: a.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`, '--autoplay-policy=no-user-gesture-required'],
  });
  const report = { url, chromium: browser.version() };
  try {
    const ctx = await browser.newContext();
    await ctx.grantPermissions(['microphone'], { origin: new URL(url).origin });
    // Record the constraints the page asks for, before any page script runs.
    await ctx.addInitScript(() => {
      const md = navigator.mediaDevices;
      if (!md) return;
      const orig = md.getUserMedia.bind(md);
      md.getUserMedia = (c) => { window.__gumConstraints = JSON.parse(JSON.stringify(c)); return orig(c); };
    });
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e && e.message)));
    await page.goto(url);
    await page.click('#start');
    await page.waitForFunction(() => ['in-call', 'failed', 'ended'].includes(window.voicegateDebug.state), null, { timeout: 15000 });
    if (a.control) return await control(page, browser, errors);
    await page.waitForTimeout(a.seconds * 1000);
    Object.assign(report, await pageReport(page));
    await page.click('#stop').catch(() => {});
    await page.waitForTimeout(300);
    report.pageErrors = errors;
  } finally {
    await browser.close();
    if (fake) { report.server = fake.seen; fake.close(); }
  }
  console.log(JSON.stringify(report, null, 2));
}

main().catch((e) => { console.error(e); process.exit(1); });
