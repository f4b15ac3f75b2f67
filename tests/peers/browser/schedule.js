#!/usr/bin/env node
// Drive the schedule on the review page (/review/#/schedule) in Debian's headless Chromium as a
// front-desk user, and print ONE JSON line saying what it showed.
//
//   node schedule.js --url http://127.0.0.1:PORT/review/ --user NAME --password PW \
//        --provider okafor --from 2026-12-10 --appointment apt-… --move-day 2026-12-10 --move-time 14:00 \
//        --reason "Patient asked for the afternoon" --screenshot /abs/out.png [--timeout 20000]
//
// Steps: sign in; the page opens on the schedule (a front-desk role cannot read calls); choose the
// provider and day; open the appointment; move it to the given local day and time, giving the
// reason in the reason dialog; wait for the moved visit on the schedule; open its history (with
// the same reason) and read it; take a screenshot. Prints
//   {"ok":true,"navCallsHidden":bool,"before":[ids],"after":[ids],"status":"…","history":[{event,actor,reason}],
//    "pageErrors":[],"consoleErrors":[]}
// or {"ok":false,"error":"<step>: <message>"} and exits 1. Every wait is a condition, never a sleep.
'use strict';

const path = require('path');

const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

function parseArgs() {
  const a = { chromium: '/usr/bin/chromium', timeout: 20000 };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    const key = v[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (i + 1 >= v.length) throw new Error(`${v[i]} needs a value`);
    a[key] = key === 'timeout' ? Number(v[i + 1]) : v[i + 1];
  }
  for (const k of ['url', 'user', 'password', 'provider', 'from', 'appointment', 'moveDay', 'moveTime', 'reason', 'screenshot']) {
    if (!a[k]) throw new Error(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is required`);
  }
  a.screenshot = path.resolve(a.screenshot);
  return a;
}

async function failOnPageMessage(page, selector) {
  const text = (await page.textContent(selector)) || '';
  if (text.trim()) throw new Error(`page says: ${text.trim()}`);
}

const shownIds = (page) => page.$$eval('[data-appointment-id]', (bs) => bs.map((b) => b.dataset.appointmentId));
const loads = (page) => page.$eval('#sched-grid', (g) => Number(g.dataset.loads || 0));

async function waitForLoad(page, before) {
  await page.waitForFunction((n) => document.getElementById('error').textContent
    || Number(document.getElementById('sched-grid').dataset.loads || 0) > n, before);
  await failOnPageMessage(page, '#error');
}

async function giveReason(page, reason) {
  await page.waitForSelector('#reason-dialog[open]');
  await page.fill('#reason-input', reason);
  await page.click('#reason-submit');
}

async function drive(a) {
  const { chromium } = require('playwright-core');
  const report = { ok: false, pageErrors: [], consoleErrors: [] };
  let step = 'launch Chromium';
  let signedIn = false;
  let browser;
  try {
    browser = await chromium.launch({ executablePath: a.chromium, headless: true, args: LAUNCH_ARGS });
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    page.setDefaultTimeout(a.timeout);
    page.on('pageerror', (e) => report.pageErrors.push(String(e && e.message)));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const where = (m.location() && m.location().url) || '';
      // The signed-out first load's 401 on /session is the contract's "show the sign-in form".
      if (!signedIn && / 401 /.test(m.text()) && /\/api\/session$/.test(where)) return;
      report.consoleErrors.push(where ? `${m.text()} (${where})` : m.text());
    });

    step = 'sign in';
    await page.goto(a.url);
    await page.waitForSelector('#login-view:not([hidden])');
    await page.fill('#login-username', a.user);
    await page.fill('#login-password', a.password);
    signedIn = true;
    await page.click('#login-submit');
    await page.waitForFunction(() => document.getElementById('login-error').textContent
      || document.getElementById('error').textContent
      || (!document.getElementById('schedule-view').hidden && document.getElementById('sched-grid').dataset.state === 'loaded'));
    await failOnPageMessage(page, '#login-error');
    await failOnPageMessage(page, '#error');
    report.navCallsHidden = await page.$eval('#nav-calls', (n) => n.parentElement.hidden);

    step = 'show the provider\'s day';
    let n = await loads(page);
    await page.selectOption('#sched-provider', a.provider);
    await page.fill('#sched-from', a.from);
    await page.click('#sched-show');
    await waitForLoad(page, n);
    report.before = await shownIds(page);

    step = 'open the appointment';
    await page.click(`[data-appointment-id=${JSON.stringify(a.appointment)}]`);
    await page.waitForSelector('#sched-detail:not([hidden])');

    step = 'move it';
    n = await loads(page);
    await page.fill('#sched-move-day', a.moveDay);
    await page.fill('#sched-move-time', a.moveTime);
    await page.click('#sched-move');
    await giveReason(page, a.reason);
    await page.waitForFunction(() => document.getElementById('error').textContent
      || /^Moved to /.test(document.getElementById('status').textContent));
    await failOnPageMessage(page, '#error');
    report.status = await page.textContent('#status');
    report.after = await shownIds(page);
    if (await loads(page) <= n) throw new Error('the schedule was not reloaded after the move');

    step = 'open the history';
    await page.click('#sched-history');
    await giveReason(page, a.reason);
    await page.waitForFunction(() => document.getElementById('error').textContent
      || !document.getElementById('sched-history-table').hidden);
    await failOnPageMessage(page, '#error');
    report.history = await page.$$eval('#sched-history-table tbody tr', (rows) => rows.map((r) => ({
      event: r.dataset.event, actor: r.cells[2].textContent, reason: r.cells[3].textContent,
    })));

    step = 'screenshot';
    await page.screenshot({ path: a.screenshot, fullPage: true });
    report.ok = report.pageErrors.length === 0 && report.consoleErrors.length === 0;
    if (!report.ok) report.error = 'page or console errors';
  } catch (e) {
    report.error = `${step}: ${e && e.message ? e.message.split('\n')[0] : e}`;
  } finally {
    if (browser) await browser.close();
  }
  return report;
}

(async () => {
  let a;
  try {
    a = parseArgs();
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: `arguments: ${e.message}` })}\n`);
    process.exit(1);
  }
  const report = await drive(a);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(report.ok ? 0 : 1);
})();
