// What the staff-page harnesses (schedule.js, reports.js) share: Chromium's launch flags, argument
// parsing, error collection, signing in, and printing ONE JSON line with the exit code.
'use strict';

const path = require('path');

const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** `--some-flag value` pairs → {someFlag: value}; `required` names must be present. */
function parseArgs(required) {
  const a = { chromium: '/usr/bin/chromium', timeout: 20000 };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    const key = v[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (i + 1 >= v.length) throw new Error(`${v[i]} needs a value`);
    a[key] = key === 'timeout' ? Number(v[i + 1]) : v[i + 1];
  }
  for (const k of required) {
    if (!a[k]) throw new Error(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is required`);
  }
  if (a.screenshot) a.screenshot = path.resolve(a.screenshot);
  return a;
}

async function failOnPageMessage(page, selector) {
  const text = (await page.textContent(selector)) || '';
  if (text.trim()) throw new Error(`page says: ${text.trim()}`);
}

/** Launch Chromium and open a page whose errors land in `report.pageErrors`/`consoleErrors`. */
async function openPage(a, report, contextOptions = {}) {
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({ executablePath: a.chromium, headless: true, args: LAUNCH_ARGS });
  const page = await (await browser.newContext(contextOptions)).newPage();
  page.setDefaultTimeout(a.timeout);
  const watch = { signedIn: false };
  page.on('pageerror', (e) => report.pageErrors.push(String(e && e.message)));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const where = (m.location() && m.location().url) || '';
    // The signed-out first load's 401 on /session is the contract's "show the sign-in form".
    if (!watch.signedIn && / 401 /.test(m.text()) && /\/api\/session$/.test(where)) return;
    report.consoleErrors.push(where ? `${m.text()} (${where})` : m.text());
  });
  return { browser, page, watch };
}

/** Sign in with --user/--password and wait until `readySelector` matches (or the page shows an error). */
async function signIn(page, watch, a, readySelector) {
  await page.goto(a.url);
  await page.waitForSelector('#login-view:not([hidden])');
  await page.fill('#login-username', a.user);
  await page.fill('#login-password', a.password);
  watch.signedIn = true;
  await page.click('#login-submit');
  await page.waitForFunction((sel) => document.getElementById('login-error').textContent
    || document.getElementById('error').textContent || document.querySelector(sel), readySelector);
  await failOnPageMessage(page, '#login-error');
  await failOnPageMessage(page, '#error');
}

/** Parse, drive, print the report as one JSON line, exit 0 only when it is ok. */
function main(required, drive) {
  (async () => {
    let a;
    try {
      a = parseArgs(required);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ ok: false, error: `arguments: ${e.message}` })}\n`);
      process.exit(1);
    }
    const report = await drive(a);
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exit(report.ok ? 0 : 1);
  })();
}

module.exports = { failOnPageMessage, openPage, signIn, main };
