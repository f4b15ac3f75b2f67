#!/usr/bin/env node
// Drive the voicegate compliance-review page (/review/) in Debian's headless Chromium and print ONE
// JSON line saying what it showed.
//
//   node review.js --url http://127.0.0.1:PORT/review/ --user NAME --password PW --call CALL_ID \
//                  --screenshot /abs/out.png [--timeout 20000] [--chromium /usr/bin/chromium]
//   node review.js --fake-server --user x --password y --call call_5f1c0a9e2b7d4c3e8a6f0b12 --screenshot /tmp/review.png
//   node review.js --fake-server --serve-only [--user x --password y]   (just run the fake; prints {"url":…})
//
// Steps: sign in; find the call's transport in the list, set the transport filter to it and apply
// (following "Next page" until the call's row shows up); open the call, giving the reason
// "Complaint review #1"; wait for transcript lines and the audit trail; press "Play recording";
// wait until audio.currentTime > 0.3 (or 'ended'), until a transcript line is marked `current` and
// until the level strips are drawn (or marked unavailable); take a full-page screenshot; print
//   {"ok":true,"listed":N,"transcriptLines":N,"auditRecords":N,"chain":"…","played":s,
//    "currentLine":"…","channels":N,"pageErrors":[],"consoleErrors":[],"expectedConsole":[…]}
// or {"ok":false,"error":"<step>: <message>",…} and exit 1. Uncaught page errors and console
// errors make the run fail too. The one console error that is expected is Chromium's network log
// line for the 401 of GET /review/api/session on the first, signed-out load (the contract's way of
// saying "show the sign-in form"); it is reported in `expectedConsole`, not `consoleErrors`.
//
// Every wait is a condition (waitForSelector / waitForFunction with a function argument: the
// page's CSP forbids evaluating strings), never a fixed sleep. Never runs `playwright install`.
//
// --fake-server runs an in-process fake of the review API (bottom of this file) so the page can be
// developed and tested without the Rust server. Fake-only options:
//   --fake-role reviewer|auditor|admin (default admin)   --fake-idle-secs N (default 900)
//   --fake-page-size N (caps `limit`, default 50)        --fake-broken-chain (chain reports a problem)
//   --serve-only (no browser: print {"url":…} and serve until killed)
// The fake also answers POST /__fake/expire-sessions (ends every session) for testing the 401 path.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');

function parseArgs() {
  const a = {
    url: null, user: null, password: null, call: null, screenshot: null, fakeServer: false, serveOnly: false,
    chromium: '/usr/bin/chromium', timeout: 20000,
    fakeRole: 'admin', fakeIdleSecs: 900, fakePageSize: 50, fakeBrokenChain: false,
  };
  const v = process.argv.slice(2);
  const next = (i) => {
    if (i >= v.length) throw new Error(`${v[i - 1]} needs a value`);
    return v[i];
  };
  for (let i = 0; i < v.length; i++) {
    switch (v[i]) {
      case '--url': a.url = next(++i); break;
      case '--user': a.user = next(++i); break;
      case '--password': a.password = next(++i); break;
      case '--call': a.call = next(++i); break;
      case '--screenshot': a.screenshot = path.resolve(next(++i)); break;
      case '--timeout': a.timeout = Number(next(++i)); break;
      case '--chromium': a.chromium = next(++i); break;
      case '--fake-server': a.fakeServer = true; break;
      case '--serve-only': a.serveOnly = true; break;
      case '--fake-role': a.fakeRole = next(++i); break;
      case '--fake-idle-secs': a.fakeIdleSecs = Number(next(++i)); break;
      case '--fake-page-size': a.fakePageSize = Number(next(++i)); break;
      case '--fake-broken-chain': a.fakeBrokenChain = true; break;
      default: throw new Error(`unknown argument ${v[i]}`);
    }
  }
  if (a.serveOnly) {
    if (!a.fakeServer) throw new Error('--serve-only needs --fake-server');
    return a;
  }
  if (!a.url && !a.fakeServer) throw new Error('--url or --fake-server is required');
  for (const k of ['user', 'password', 'call', 'screenshot']) if (!a[k]) throw new Error(`--${k} is required`);
  return a;
}

// =================================================================================================
// The harness
// =================================================================================================

const REASON = 'Complaint review #1';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'];

/** Run the review flow against `url`; resolves with the report (ok true or false). */
async function drive(a, url) {
  const { chromium } = require('playwright-core');
  const pageErrors = [];
  const consoleErrors = [];
  const expectedConsole = [];
  const report = { ok: false };
  let step = 'launch Chromium';
  let signedIn = false;
  let browser;
  let page;
  try {
    browser = await chromium.launch({ executablePath: a.chromium, headless: true, args: LAUNCH_ARGS });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await ctx.newPage();
    page.setDefaultTimeout(a.timeout);
    page.on('pageerror', (e) => pageErrors.push(String(e && e.message)));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const where = (m.location() && m.location().url) || '';
      if (!signedIn && / 401 /.test(m.text()) && /\/api\/session$/.test(where)) expectedConsole.push(`${m.text()} (${where})`);
      else consoleErrors.push(where ? `${m.text()} (${where})` : m.text());
    });

    step = 'open the page';
    await page.goto(url);
    await page.waitForSelector('#login-view:not([hidden])');

    step = 'sign in';
    await page.fill('#login-username', a.user);
    await page.fill('#login-password', a.password);
    signedIn = true; // from here on a 401 on /session would be a real problem
    await page.click('#login-submit');
    await page.waitForFunction(() => {
      const t = document.getElementById('calls-table');
      return document.getElementById('login-error').textContent
        || document.getElementById('error').textContent
        || (!document.getElementById('calls-view').hidden && t.dataset.state === 'loaded');
    });
    await failOnPageMessage(page, '#login-error');
    await failOnPageMessage(page, '#error');

    step = 'find the call in the list';
    let transport = await rowTransport(page, a.call);
    if (!transport) {
      // Not on the first page: look for it under each transport in turn.
      const options = await page.$$eval('#f-transport option', (os) => os.map((o) => o.value).filter(Boolean));
      for (const t of options) {
        await applyTransport(page, t);
        if (await findRow(page, a.call)) { transport = t; break; }
      }
      if (!transport) throw new Error(`call ${a.call} is not in the list under any transport`);
    }

    step = `filter the list by transport ${transport}`;
    await applyTransport(page, transport);
    const transports = await page.$$eval('#calls-table tbody tr', (rows) => rows.map((r) => r.dataset.transport));
    if (transports.some((t) => t !== transport)) throw new Error(`the filtered list shows other transports: ${[...new Set(transports)].join(', ')}`);
    if (!(await findRow(page, a.call))) throw new Error(`call ${a.call} is not in the list filtered by ${transport}`);
    report.listed = await page.$$eval('#calls-table tbody tr', (rows) => rows.length);

    step = 'open the call';
    await page.click(`#calls-table tbody tr[data-call-id=${cssString(a.call)}] button.open-call`);
    await page.waitForSelector('#reason-dialog[open]');
    const title = await page.textContent('#reason-title');
    if (!/why are you opening this call/i.test(title)) throw new Error(`unexpected reason dialog title "${title}"`);
    await page.fill('#reason-input', REASON);
    await page.click('#reason-submit');
    await page.waitForFunction(() => {
      const v = document.getElementById('detail-view');
      return document.getElementById('error').textContent
        || (!v.hidden && v.dataset.state === 'loaded'
          && document.querySelectorAll('#transcript li').length > 0
          && document.querySelectorAll('#audit-table tbody tr').length > 0);
    });
    await failOnPageMessage(page, '#error');

    step = 'play the recording';
    if (await page.isHidden('#play')) throw new Error(`no recording player: ${await page.textContent('#recording-note')}`);
    await page.click('#play');
    await page.waitForFunction(() => {
      const au = document.getElementById('audio');
      return document.getElementById('error').textContent || au.currentTime > 0.3 || au.ended;
    });
    await failOnPageMessage(page, '#error');

    step = 'wait for the current transcript line';
    await page.waitForSelector('#transcript li.current');

    step = 'wait for the level strips';
    await page.waitForFunction(() => {
      const s = document.getElementById('waveform').dataset.state;
      return s === 'unavailable' || (s === 'drawn' && document.querySelectorAll('#strips canvas[data-drawn]').length > 0);
    });

    step = 'read the detail page';
    Object.assign(report, await page.evaluate(() => {
      const cur = document.querySelector('#transcript li.current .t-text');
      return {
        transcriptLines: document.querySelectorAll('#transcript li').length,
        auditRecords: document.querySelectorAll('#audit-table tbody tr').length,
        notifications: Array.from(document.querySelectorAll('#notifications-table tbody tr'))
          .map((tr) => Array.from(tr.cells).slice(1).map((td) => td.textContent).join(' | ')),
        chain: document.getElementById('chain-status').textContent,
        played: document.getElementById('audio').currentTime,
        currentLine: cur ? cur.textContent : '',
        channels: document.getElementById('waveform').dataset.state === 'drawn'
          ? document.querySelectorAll('#strips canvas[data-drawn]').length : 0,
      };
    }));

    step = 'take the screenshot';
    await page.screenshot({ path: a.screenshot, fullPage: true });

    if (pageErrors.length) throw new Error('the page threw errors');
    if (consoleErrors.length) throw new Error('the page logged console errors');
    report.ok = true;
  } catch (e) {
    report.ok = false;
    report.error = `${step}: ${String((e && e.message) || e).split('\n')[0]}`;
    if (page && a.screenshot) {
      const shot = a.screenshot.replace(/(\.png)?$/i, '.failure.png');
      try {
        await page.screenshot({ path: shot, fullPage: true });
        report.failureScreenshot = shot;
      } catch (_) { /* the browser may be gone */ }
    }
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
  return Object.assign(report, { pageErrors, consoleErrors, expectedConsole });
}

/** Throw with the text of a page message element, if it shows one. */
async function failOnPageMessage(page, selector) {
  const text = (await page.textContent(selector)) || '';
  if (text.trim()) throw new Error(`page says: ${text.trim()}`);
}

/** A CSS string literal (JSON's escapes are valid CSS escapes for the characters ids use). */
const cssString = (s) => JSON.stringify(String(s));

/** The transport of the call's row on the current page, or null. */
function rowTransport(page, callId) {
  return page.$$eval('#calls-table tbody tr', (rows, id) => {
    const row = rows.find((r) => r.dataset.callId === id);
    return row ? row.dataset.transport : null;
  }, callId);
}

/** Set the transport filter, apply it, and wait for the list to reload. */
async function applyTransport(page, transport) {
  const loads = await page.$eval('#calls-table', (t) => Number(t.dataset.loads || 0));
  await page.selectOption('#f-transport', transport);
  await page.click('#apply-filters');
  await waitForReload(page, loads);
}

async function waitForReload(page, loads) {
  await page.waitForFunction((n) => {
    const t = document.getElementById('calls-table');
    return document.getElementById('error').textContent || document.getElementById('filter-error').textContent
      || (t.dataset.state === 'loaded' && Number(t.dataset.loads || 0) > n);
  }, loads);
  await failOnPageMessage(page, '#filter-error');
  await failOnPageMessage(page, '#error');
}

/** Page through the list ("Next page") until the call's row is shown; false if it never is. */
async function findRow(page, callId) {
  for (let pages = 0; pages < 500; pages++) {
    if (await rowTransport(page, callId)) return true;
    if (await page.isDisabled('#next-page')) return false;
    const loads = await page.$eval('#calls-table', (t) => Number(t.dataset.loads || 0));
    await page.click('#next-page');
    await waitForReload(page, loads);
  }
  return false;
}

async function main() {
  let a;
  try {
    a = parseArgs();
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: `arguments: ${e.message}`, pageErrors: [], consoleErrors: [] })}\n`);
    process.exit(1);
  }
  let fake = null;
  if (a.fakeServer) {
    fake = await startFakeServer({
      user: a.user || 'reviewer', password: a.password || 'secret', role: a.fakeRole,
      idleSecs: a.fakeIdleSecs, pageSize: a.fakePageSize, brokenChain: a.fakeBrokenChain,
    });
    if (a.serveOnly) {
      process.stdout.write(`${JSON.stringify({ url: fake.url, calls: fake.callIds })}\n`);
      const stop = () => { fake.close(); process.exit(0); };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      return;
    }
  }
  const report = await drive(a, fake ? fake.url : a.url);
  if (fake) fake.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(report.ok ? 0 : 1);
}

// =================================================================================================
// The fake review server (--fake-server). Follows src/http/review/openapi.yaml; all data is
// fictional. Serves the three page files with the production CSP.
// =================================================================================================

const PAGE_DIR = path.resolve(__dirname, '../../../src/http/review/page');
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
  + "media-src 'self' blob: https:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const PAGE_FILES = {
  '/review/': ['index.html', 'text/html; charset=utf-8'],
  '/review/review.js': ['review.js', 'text/javascript; charset=utf-8'],
  '/review/review.css': ['review.css', 'text/css; charset=utf-8'],
  '/review/schedule.js': ['schedule.js', 'text/javascript; charset=utf-8'],
};

/** Stereo 16-bit PCM WAV: left = caller, right = agent; a tone on each channel while that side
 * "speaks" (matching the fake transcript), a faint noise floor otherwise. */
function makeWav(seconds, rate, callerSpans, agentSpans) {
  const n = Math.round(seconds * rate);
  const data = Buffer.alloc(n * 4);
  let seed = 1;
  const noise = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return (seed / 0x7fffffff - 0.5) * 60; };
  const sample = (spans, freq, i) => {
    const t = i / rate;
    for (const [s, e] of spans) {
      if (t >= s && t < e) {
        const env = Math.min(1, (t - s) / 0.02, (e - t) / 0.02); // 20 ms ramps: no clicks
        const wobble = 0.6 + 0.4 * Math.abs(Math.sin(2 * Math.PI * 3 * t)); // speech-like level changes
        return 0.5 * 32767 * env * wobble * Math.sin(2 * Math.PI * freq * t);
      }
    }
    return noise();
  };
  for (let i = 0; i < n; i++) {
    data.writeInt16LE(Math.round(sample(callerSpans, 330, i)), 4 * i);
    data.writeInt16LE(Math.round(sample(agentSpans, 520, i)), 4 * i + 2);
  }
  const h = Buffer.alloc(44);
  h.write('RIFF', 0); h.writeUInt32LE(36 + data.length, 4); h.write('WAVE', 8);
  h.write('fmt ', 12); h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(2, 22);
  h.writeUInt32LE(rate, 24); h.writeUInt32LE(rate * 4, 28); h.writeUInt16LE(4, 32); h.writeUInt16LE(16, 34);
  h.write('data', 36); h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

function fakeData(now) {
  const hour = 3600 * 1000;
  const patient = 'phi:k1:8c1f3b0a9d2e4f5a6b7c8d9e0f1a2b3c';
  const calls = [
    {
      row: {
        call_id: 'call_5f1c0a9e2b7d4c3e8a6f0b12', transport: 'twilio', started_at_ms: now - 2 * hour,
        ended_at_ms: now - 2 * hour + 3000, duration_ms: 3000, outcome: 'completed', verified: true,
        emergency: false, disclosure_played: true, has_recording: true, legal_hold: false,
      },
      patient_ref: patient,
      transcript: [
        { speaker: 'agent', text: 'Thank you for calling Maple Street Clinic. This call is recorded. How can I help?', start_ms: 0 },
        { speaker: 'caller', text: 'I would like to move my appointment on Thursday.', start_ms: 700 },
        { speaker: 'system', text: 'Caller verified.', start_ms: null },
        { speaker: 'agent', text: 'I can help with that. Is Friday at ten in the morning all right?', start_ms: 1500 },
        { speaker: 'caller', text: 'Yes, Friday works.', start_ms: 2300 },
        { speaker: 'agent', text: 'Done: Friday at ten. Goodbye.', start_ms: 2700 },
      ],
      tool_calls: [
        { name: 'verify_patient', outcome: 'verified', at_ms: 1350 },
        { name: 'reschedule_appointment', outcome: 'success', at_ms: 2550 },
      ],
      truncations: [{ audio_end_ms: 2240 }],
      wav: makeWav(3, 8000, [[0.7, 1.45], [2.3, 2.65]], [[0, 0.65], [1.5, 2.25], [2.7, 3]]),
      // The store's form of the actor enum: internally tagged ({"kind":"agent",…}).
      actor: (id) => ({ kind: 'agent', call_id: id }),
    },
    {
      row: {
        call_id: 'call_a03e7b5d91c24f68e0d4b7a9', transport: 'browser', started_at_ms: now - 26 * hour,
        ended_at_ms: now - 26 * hour + 3000, duration_ms: 3000, outcome: 'callback_requested', verified: false,
        emergency: false, disclosure_played: true, has_recording: true, legal_hold: true,
      },
      patient_ref: null,
      transcript: [
        { speaker: 'agent', text: 'Thank you for calling. This call is recorded. How can I help?', start_ms: 0 },
        { speaker: 'caller', text: 'Could someone from billing call me back?', start_ms: 1000 },
        { speaker: 'agent', text: 'Of course. Someone will call you back today.', start_ms: 2000 },
      ],
      tool_calls: [{ name: 'request_callback', outcome: 'success', at_ms: 1900 }],
      truncations: [],
      wav: makeWav(3, 8000, [[1, 1.9]], [[0, 0.9], [2, 3]]),
      // The externally tagged form from the brief ({"agent":{…}}), so the page is tried on both.
      actor: (id) => ({ agent: { call_id: id } }),
    },
  ];
  return { calls, patient };
}

function startFakeServer(o) {
  const now = Date.now();
  const { calls, patient } = fakeData(now);
  const byId = new Map(calls.map((c) => [c.row.call_id, c]));
  const staff = { staff_id: 'staff_0001', username: o.user, role: o.role };
  const sessions = new Map(); // id → {id, csrf, lastSeen}
  const grants = new Map(); // grant → {callId, sessionId, expires}
  let loginFailures = 0;
  const audit = []; // the whole chain: {index, record}
  const queue = {
    callbacks: [{ reference: 'CB-1042', call_id: calls[1].row.call_id, topic: 'billing question', created_at_ms: now - 26 * 3600 * 1000 + 2500 }],
    lockouts: [{ patient_ref: 'phi:k1:0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a', locked_at_ms: now - 5 * 3600 * 1000 }],
  };

  function appendAudit(e) {
    const index = audit.length + 1;
    const record = Object.assign({ v: 1, index, late: false, patient: null, reason: null, details: {}, call_id: null }, e);
    audit.push({ index, record });
  }
  for (const c of calls) {
    const id = c.row.call_id;
    const t = c.row.started_at_ms;
    appendAudit({ at_ms: t, actor: c.actor(id), action: 'call.started', call_id: id, outcome: 'success', details: { transport: c.row.transport } });
    if (c.patient_ref) appendAudit({ at_ms: t + 1350, actor: c.actor(id), action: 'patient.verify', call_id: id, patient: c.patient_ref, outcome: 'success' });
    for (const tc of c.tool_calls) appendAudit({ at_ms: t + tc.at_ms, actor: c.actor(id), action: `tool.${tc.name}`, call_id: id, patient: c.patient_ref, outcome: 'success' });
    appendAudit({ at_ms: t + 3000, actor: c.actor(id), action: 'call.ended', call_id: id, outcome: 'success', details: { outcome: c.row.outcome } });
    appendAudit({ at_ms: t + 3100, actor: { kind: 'system', job: 'recording' }, action: 'recording.stored', call_id: id, outcome: 'success', details: { bytes: c.wav.length } });
  }

  const send = (res, status, body, headers = {}) => {
    const h = Object.assign({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }, headers);
    if (body === undefined) { res.writeHead(status, h); return res.end(); }
    res.writeHead(status, Object.assign({ 'content-type': 'application/json' }, h));
    res.end(JSON.stringify(body));
  };
  const fail = (res, status, error) => send(res, status, { error });

  const readBody = (req) => new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => { size += c.length; if (size > 65536) { reject(new Error('too large')); req.destroy(); } else chunks.push(c); });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

  function sessionOf(req) {
    const m = /(?:^|;\s*)vg_review=([A-Za-z0-9_-]+)/.exec(req.headers.cookie || '');
    const s = m && sessions.get(m[1]);
    if (!s) return null;
    if (Date.now() - s.lastSeen > o.idleSecs * 1000) { sessions.delete(s.id); return null; }
    s.lastSeen = Date.now();
    return s;
  }
  // The permissions src/review/roles.rs gives each compliance role.
  const PERMISSIONS = {
    reviewer: ['read_calls', 'work_queue'],
    auditor: ['read_calls', 'work_queue', 'export_audit'],
    admin: ['read_calls', 'work_queue', 'export_audit', 'manage_staff', 'view_schedule', 'change_schedule',
      'configure_schedule', 'view_reports', 'export_reports'],
  };
  const sessionBody = (s) => ({ user: staff, permissions: PERMISSIONS[staff.role] || [], csrf: s.csrf, idle_timeout_secs: o.idleSecs });
  const staffActor = (s) => ({ kind: 'staff', user_id: staff.staff_id, session_id: s.id.slice(0, 8) });
  const reasonOk = (r) => typeof r === 'string' && r.trim().length >= 3 && r.length <= 500;
  const chainStatus = () => (o.brokenChain
    ? { ok: false, length: audit.length, problem: `edited at ${Math.min(3, audit.length)}` }
    : { ok: true, length: audit.length, problem: null });

  function detailOf(c) {
    return {
      call: c.row,
      patient_ref: c.patient_ref,
      transcript: c.transcript,
      tool_calls: c.tool_calls,
      truncations: c.truncations,
      recording: { available: c.row.has_recording, deleted: false, duration_ms: c.row.duration_ms, sample_rate: 8000, channels: ['caller', 'agent'] },
      audit: audit.filter((a) => a.record.call_id === c.row.call_id),
      chain: chainStatus(),
    };
  }

  function listCalls(q) {
    let rows = calls.map((c) => c.row).sort((x, y) => y.started_at_ms - x.started_at_ms);
    const bool = (k) => (q.get(k) === 'true' ? true : q.get(k) === 'false' ? false : null);
    if (q.get('transport')) rows = rows.filter((r) => r.transport === q.get('transport'));
    if (q.get('outcome')) rows = rows.filter((r) => r.outcome === q.get('outcome'));
    if (bool('verified') !== null) rows = rows.filter((r) => r.verified === bool('verified'));
    if (bool('emergency') !== null) rows = rows.filter((r) => r.emergency === bool('emergency'));
    if (q.get('from_ms')) rows = rows.filter((r) => r.started_at_ms >= Number(q.get('from_ms')));
    if (q.get('to_ms')) rows = rows.filter((r) => r.started_at_ms < Number(q.get('to_ms')));
    if (q.get('patient_ref')) rows = rows.filter((r) => byId.get(r.call_id).patient_ref === q.get('patient_ref'));
    const limit = Math.max(1, Math.min(Number(q.get('limit')) || 50, 200, o.pageSize));
    const before = q.get('before');
    let start = 0;
    if (before) {
      // Opaque cursor: the start time and id of the last row of the previous page.
      const [t, id] = Buffer.from(before, 'base64url').toString().split('|');
      start = rows.findIndex((r) => r.started_at_ms < Number(t) || (r.started_at_ms === Number(t) && r.call_id < id));
      if (start < 0) start = rows.length;
    }
    const page = rows.slice(start, start + limit);
    const last = page[page.length - 1];
    const more = start + limit < rows.length;
    return { calls: page, next_cursor: more && last ? Buffer.from(`${last.started_at_ms}|${last.call_id}`).toString('base64url') : null };
  }

  function serveRecording(req, res, grant) {
    const g = grants.get(grant);
    const s = sessionOf(req);
    if (!s) return fail(res, 401, 'not signed in');
    if (!g || g.expires < Date.now() || g.sessionId !== s.id) return fail(res, 403, 'grant expired or not yours');
    const wav = byId.get(g.callId).wav;
    const headers = { 'content-type': 'audio/wav', 'accept-ranges': 'bytes', 'cache-control': 'no-store' };
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range || '');
    if (m && (m[1] || m[2])) {
      let start = m[1] ? Number(m[1]) : wav.length - Number(m[2]);
      let end = m[1] && m[2] ? Number(m[2]) : wav.length - 1;
      start = Math.max(0, start);
      end = Math.min(end, wav.length - 1);
      if (start > end) {
        res.writeHead(416, { 'content-range': `bytes */${wav.length}` });
        return res.end();
      }
      res.writeHead(206, Object.assign(headers, { 'content-range': `bytes ${start}-${end}/${wav.length}`, 'content-length': end - start + 1 }));
      return res.end(req.method === 'HEAD' ? undefined : wav.subarray(start, end + 1));
    }
    res.writeHead(200, Object.assign(headers, { 'content-length': wav.length }));
    return res.end(req.method === 'HEAD' ? undefined : wav);
  }

  async function handleApi(req, res, p, q) {
    const isPost = req.method === 'POST';
    let body = {};
    if (isPost) {
      if (!/^application\/json\b/.test(req.headers['content-type'] || '')) return fail(res, 400, 'expected a JSON body');
      const origin = req.headers.origin;
      if (origin && origin !== `http://${req.headers.host}`) return fail(res, 403, 'cross-origin request');
      try {
        const text = await readBody(req);
        body = text ? JSON.parse(text) : {};
      } catch (_) {
        return fail(res, 400, 'bad JSON');
      }
      if (!body || typeof body !== 'object') return fail(res, 400, 'bad JSON');
    }

    if (p === '/login' && isPost) {
      if (loginFailures >= 5) return fail(res, 429, 'too many attempts');
      if (body.username !== o.user || body.password !== o.password) {
        loginFailures++;
        return fail(res, 401, 'invalid credentials');
      }
      loginFailures = 0;
      const s = { id: crypto.randomBytes(18).toString('base64url'), csrf: crypto.randomBytes(18).toString('base64url'), lastSeen: Date.now() };
      sessions.set(s.id, s);
      appendAudit({ at_ms: Date.now(), actor: staffActor(s), action: 'staff.login', outcome: 'success' });
      return send(res, 200, sessionBody(s), { 'set-cookie': `vg_review=${s.id}; Path=/review; HttpOnly; SameSite=Strict` });
    }

    if (p.startsWith('/recordings/') && (req.method === 'GET' || req.method === 'HEAD')) return serveRecording(req, res, p.slice('/recordings/'.length));

    const s = sessionOf(req);
    if (!s) return fail(res, 401, 'not signed in');
    if (isPost && req.headers['x-csrf-token'] !== s.csrf) return fail(res, 403, 'bad CSRF token');
    const admin = staff.role === 'admin';
    const auditor = admin || staff.role === 'auditor';
    let m;

    if (p === '/session' && req.method === 'GET') return send(res, 200, sessionBody(s));
    if (p === '/logout' && isPost) {
      sessions.delete(s.id);
      appendAudit({ at_ms: Date.now(), actor: staffActor(s), action: 'staff.logout', outcome: 'success' });
      return send(res, 204, undefined, { 'set-cookie': 'vg_review=; Path=/review; HttpOnly; SameSite=Strict; Max-Age=0' });
    }
    if (p === '/calls' && req.method === 'GET') return send(res, 200, listCalls(q));
    if ((m = /^\/calls\/([^/]+)\/(view|playback|legal-hold)$/.exec(p)) && isPost) {
      const c = byId.get(decodeURIComponent(m[1]));
      if (!c) return fail(res, 404, 'no such call');
      if (!reasonOk(body.reason)) return fail(res, 400, 'a reason of at least 3 characters is required');
      const id = c.row.call_id;
      if (m[2] === 'view') {
        appendAudit({ at_ms: Date.now(), actor: staffActor(s), action: 'call.viewed', call_id: id, patient: c.patient_ref, reason: body.reason, outcome: 'success' });
        return send(res, 200, detailOf(c));
      }
      if (m[2] === 'playback') {
        if (!c.row.has_recording) return fail(res, 404, 'no recording');
        appendAudit({ at_ms: Date.now(), actor: staffActor(s), action: 'recording.played', call_id: id, patient: c.patient_ref, reason: body.reason, outcome: 'success' });
        const grant = crypto.randomBytes(24).toString('base64url');
        const expires = Date.now() + 5 * 60 * 1000;
        grants.set(grant, { callId: id, sessionId: s.id, expires });
        return send(res, 200, { url: `/review/api/recordings/${grant}`, expires_at_ms: expires });
      }
      if (!admin) return fail(res, 403, 'admins only');
      if (typeof body.hold !== 'boolean') return fail(res, 400, 'hold must be true or false');
      c.row.legal_hold = body.hold;
      appendAudit({ at_ms: Date.now(), actor: staffActor(s), action: body.hold ? 'legal_hold.placed' : 'legal_hold.released', call_id: id, reason: body.reason, outcome: 'success' });
      return send(res, 204);
    }
    if (p === '/queue' && req.method === 'GET') return send(res, 200, queue);
    if ((m = /^\/callbacks\/([^/]+)\/complete$/.exec(p)) && isPost) {
      if (!reasonOk(body.reason)) return fail(res, 400, 'a reason of at least 3 characters is required');
      const i = queue.callbacks.findIndex((cb) => cb.reference === decodeURIComponent(m[1]));
      if (i < 0) return fail(res, 404, 'no open callback');
      const [cb] = queue.callbacks.splice(i, 1);
      appendAudit({ at_ms: Date.now(), actor: staffActor(s), action: 'callback.completed', call_id: cb.call_id, reason: body.reason, outcome: 'success' });
      return send(res, 204);
    }
    if (p === '/lockouts/lift' && isPost) {
      if (!reasonOk(body.reason)) return fail(res, 400, 'a reason of at least 3 characters is required');
      const i = queue.lockouts.findIndex((l) => l.patient_ref === body.patient_ref);
      if (i < 0) return fail(res, 404, 'no active lockout');
      queue.lockouts.splice(i, 1);
      appendAudit({ at_ms: Date.now(), actor: staffActor(s), action: 'lockout.lifted', patient: body.patient_ref, reason: body.reason, outcome: 'success' });
      return send(res, 204);
    }
    if (p === '/audit/verify' && isPost) {
      if (!auditor) return fail(res, 403, 'auditors only');
      appendAudit({ at_ms: Date.now(), actor: staffActor(s), action: 'audit.verified', outcome: 'success' });
      return send(res, 200, chainStatus());
    }
    if (p === '/audit/export' && isPost) {
      if (!auditor) return fail(res, 403, 'auditors only');
      if (!reasonOk(body.reason)) return fail(res, 400, 'a reason of at least 3 characters is required');
      const records = audit.filter((a) => !body.call_id || a.record.call_id === body.call_id);
      appendAudit({ at_ms: Date.now(), actor: staffActor(s), action: 'audit.exported', call_id: body.call_id || null, reason: body.reason, outcome: 'success' });
      return send(res, 200, { records });
    }
    if (p === '/staff' && req.method === 'GET') {
      if (!admin) return fail(res, 403, 'admins only');
      return send(res, 200, { staff: [staff] });
    }
    return fail(res, 404, 'not found');
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const p = url.pathname;
    if (p === '/__fake/expire-sessions' && req.method === 'POST') {
      sessions.clear();
      return send(res, 204);
    }
    if (p === '/review' && req.method === 'GET') return send(res, 301, undefined, { location: '/review/' });
    if (p.startsWith('/review/api/')) {
      return handleApi(req, res, p.slice('/review/api'.length), url.searchParams).catch(() => fail(res, 500, 'fake server error'));
    }
    const file = PAGE_FILES[p];
    if (!file || req.method !== 'GET') return send(res, 404, undefined, { 'content-security-policy': CSP });
    const body = fs.readFileSync(path.join(PAGE_DIR, file[0]));
    res.writeHead(200, {
      'content-type': file[1], 'content-security-policy': CSP, 'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer', 'cache-control': 'no-store',
    });
    return res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({
      url: `http://127.0.0.1:${server.address().port}/review/`,
      callIds: calls.map((c) => c.row.call_id),
      patient,
      close: () => { server.closeAllConnections(); server.close(); },
    });
  }));
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ ok: false, error: String((e && e.message) || e), pageErrors: [], consoleErrors: [] })}\n`);
  process.exit(1);
});
