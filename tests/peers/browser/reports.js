#!/usr/bin/env node
// Drive the report on the review page (/review/#/reports) in Debian's headless Chromium as a
// clinic admin, download its CSV through the page's link, and print ONE JSON line saying what the
// page drew.
//
//   node reports.js --url http://127.0.0.1:PORT/review/ --user NAME --password PW \
//        --from 2026-11-01 --to 2026-11-30 --screenshot /abs/out.png [--timeout 20000]
//
// Steps: sign in; open Reports from the navigation; set the range and show it; read every chart's
// bars (their data-key, data-value, the drawn width or height, the SVG title) and the tables under
// them; download the CSV with the "Download CSV" link; take a screenshot. Prints
//   {"ok":true,"charts":{id:{title,bars:[{key,value,size}]}},"summary":"…","csvHref":"…",
//    "csvName":"…","csv":"…","tables":n,"pageErrors":[],"consoleErrors":[]}
// or {"ok":false,"error":"<step>: <message>"} and exits 1. Every wait is a condition, never a sleep.
'use strict';

const fs = require('fs');
const { failOnPageMessage, openPage, signIn, main } = require('./staff-page');

async function drive(a) {
  const report = { ok: false, pageErrors: [], consoleErrors: [] };
  let step = 'launch Chromium';
  let browser;
  try {
    const opened = await openPage(a, report, { viewport: { width: 1300, height: 1000 }, acceptDownloads: true });
    browser = opened.browser;
    const { page } = opened;

    step = 'sign in';
    await signIn(page, opened.watch, a, 'li:not([hidden]) > #nav-reports');

    step = 'open the report';
    await page.click('#nav-reports');
    await page.waitForFunction(() => document.getElementById('error').textContent
      || (!document.getElementById('reports-view').hidden && document.getElementById('rep-body').dataset.state === 'loaded'));
    await failOnPageMessage(page, '#error');

    step = 'show the range';
    await page.fill('#rep-from', a.from);
    await page.fill('#rep-to', a.to);
    const before = await page.textContent('#rep-summary');
    await page.click('#rep-show');
    await page.waitForFunction((prev) => document.getElementById('error').textContent
      || (document.getElementById('rep-body').dataset.state === 'loaded' && document.getElementById('rep-summary').textContent !== prev), before);
    await failOnPageMessage(page, '#error');
    report.summary = (await page.textContent('#rep-summary')).trim();

    step = 'read the charts';
    report.charts = await page.$$eval('svg.chart', (charts) => Object.fromEntries(charts.map((svg) => [svg.id, {
      title: svg.querySelector('title') ? svg.querySelector('title').textContent : null,
      role: svg.getAttribute('role'),
      bars: [...svg.querySelectorAll('g.bar')].map((g) => {
        const rect = g.querySelector('rect');
        const vertical = svg.classList.contains('chart-columns');
        return {
          key: g.dataset.key,
          value: g.dataset.value === '' ? null : Number(g.dataset.value),
          size: Number(rect.getAttribute(vertical ? 'height' : 'width')),
          shown: g.querySelector('text.chart-value') ? g.querySelector('text.chart-value').textContent : null,
        };
      }),
    }])));
    report.tables = await page.$$eval('#rep-body table.chart-table', (t) => t.length);

    step = 'download the CSV';
    report.csvHref = await page.getAttribute('#rep-csv', 'href');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#rep-csv')]);
    report.csvName = download.suggestedFilename();
    report.csv = fs.readFileSync(await download.path(), 'utf8');

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

main(['url', 'user', 'password', 'from', 'to', 'screenshot'], drive);
