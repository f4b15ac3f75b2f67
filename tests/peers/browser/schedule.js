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

const { failOnPageMessage, openPage, signIn, main } = require('./staff-page');

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
  const report = { ok: false, pageErrors: [], consoleErrors: [] };
  let step = 'launch Chromium';
  let browser;
  try {
    const opened = await openPage(a, report, { viewport: { width: 1400, height: 1000 } });
    browser = opened.browser;
    const { page } = opened;

    step = 'sign in';
    await signIn(page, opened.watch, a, '#schedule-view:not([hidden]) #sched-grid[data-state="loaded"]');
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

main(['url', 'user', 'password', 'provider', 'from', 'appointment', 'moveDay', 'moveTime', 'reason', 'screenshot'], drive);
