// The whole web flow of `ferry serve` in a real browser (Debian's Chromium driven by
// playwright-core), written against the UI contract: sign up, connect the sandbox
// services, transfer Facebook to Dropbox, request an archive, fetch it through the e-mailed
// link, and check that another account cannot see any of it.
//
// Run by crates/cli/tests/web.rs, which starts ferry, an SMTP sink and sets:
//   FERRY_URL          ferry's base URL, e.g. http://127.0.0.1:41234
//   MAILDIR            the Maildir the SMTP sink (aiosmtpd's Mailbox handler) writes to
//   SCREENSHOTS        where to write one PNG per step (01-sign-up.png, …) and failure.png
//   FERRY_E2E_PASSWORD optional: the first account's password (the harness then checks that
//                      ferry never logs it); random otherwise
//   CHROMIUM           optional: the browser binary, /usr/bin/chromium by default
//
// Prints each step as it passes. On the first failure: failure.png, the page's URL and the
// start of its text, exit status 1.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const OVERALL_TIMEOUT_MS = 6 * 60 * 1000;
const JOB_TIMEOUT_MS = 120 * 1000;
const ARCHIVE_TIMEOUT_MS = 120 * 1000;
const MAIL_TIMEOUT_MS = 60 * 1000;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`flow.mjs: set ${name}`);
    process.exit(2);
  }
  return value;
}

const BASE = required('FERRY_URL').replace(/\/+$/, '');
const MAILDIR = required('MAILDIR');
const SCREENSHOTS = required('SCREENSHOTS');
const PASSWORD = process.env.FERRY_E2E_PASSWORD || `pw-${crypto.randomBytes(12).toString('hex')}`;
// Contains PASSWORD, so a harness looking for PASSWORD in the logs finds this one too.
const OTHER_PASSWORD = `${PASSWORD}-other`;
const EMAIL = `e2e-${crypto.randomBytes(6).toString('hex')}@example.test`;
const OTHER_EMAIL = `e2e-other-${crypto.randomBytes(6).toString('hex')}@example.test`;

/** The page of the step running now: what failure.png shows. */
let currentPage = null;
let stepNumber = 0;
let stepName = 'start-up';
let browser = null;
let failing = false;

const url = (p) => `${BASE}${p}`;
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs one named step on `page`, then screenshots it as NN-name.png. */
async function step(name, page, body) {
  stepNumber += 1;
  stepName = name;
  currentPage = page;
  await body();
  const file = `${String(stepNumber).padStart(2, '0')}-${name}.png`;
  await page.screenshot({ path: path.join(SCREENSHOTS, file), fullPage: true });
  console.log(`ok ${stepNumber} ${name}`);
}

/** Opens a page of ferry and insists it answered 2xx (after redirects). */
async function open(page, p) {
  const response = await page.goto(url(p));
  assert.ok(response, `GET ${p}: no response`);
  assert.ok(response.ok(), `GET ${p} answered ${response.status()} (at ${page.url()})`);
  return response;
}

/** Trimmed text of the one element `selector` matches. */
async function text(page, selector) {
  return ((await page.locator(selector).textContent()) ?? '').trim();
}

/** Clicks and waits for the navigation to a URL matching `pattern`. */
async function clickTo(page, selector, pattern) {
  await Promise.all([page.waitForURL(pattern), page.click(selector)]);
}

async function signUp(page, email, password) {
  await open(page, '/sign-up');
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await clickTo(page, 'button[type=submit]', url('/'));
}

/** Connects a sandbox service from /connections: consent page, approve, back with a row. */
async function connect(page, service) {
  await step(`${service}-consent`, page, async () => {
    await open(page, '/connections');
    const link = page.locator(`#connect-${service}`);
    await link.click();
    await page.locator('#approve').waitFor();
  });
  await step(`${service}-connected`, page, async () => {
    await clickTo(page, '#approve', (u) => u.href.startsWith(url('/connections')));
    await page.locator(`tr[data-connection="${service}"]`).waitFor();
  });
}

// ---- the e-mail ----------------------------------------------------------------------------

/** Headers (lower-case names, folded lines joined) and body of one MIME entity. */
function parseEntity(raw) {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

function decodeQuotedPrintable(s) {
  const bytes = [];
  const soft = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < soft.length; i += 1) {
    const hex = soft.slice(i + 1, i + 3);
    if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeBody(entity) {
  const encoding = (entity.headers['content-transfer-encoding'] || '').toLowerCase();
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(entity.body);
  if (encoding === 'base64') return Buffer.from(entity.body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return entity.body;
}

/** RFC 2047 encoded words in a header (Q or B encoding, UTF-8 assumed). */
function decodeHeader(value) {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?[^?]+\?([QqBb])\?([^?]*)\?=/g, (_, kind, data) =>
      kind.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : decodeQuotedPrintable(data.replace(/_/g, ' ')),
    );
}

/** The decoded text/plain parts of a message, walking nested multiparts. */
function plainTexts(entity) {
  const type = (entity.headers['content-type'] || 'text/plain').toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = /boundary="?([^";]+)"?/i.exec(entity.headers['content-type'])?.[1];
    if (!boundary) return [];
    return entity.body
      .split(`--${boundary}`)
      .slice(1)
      .filter((part) => !part.startsWith('--'))
      .flatMap((part) => plainTexts(parseEntity(part.replace(/^\r?\n/, ''))));
  }
  return type.startsWith('text/plain') ? [decodeBody(entity)] : [];
}

/** Waits for the "archive is ready" mail to `to` in MAILDIR; returns its subject and text. */
async function waitForMail(to) {
  const deadline = Date.now() + MAIL_TIMEOUT_MS;
  const seen = [];
  for (;;) {
    for (const sub of ['new', 'cur']) {
      let names = [];
      try {
        names = await fs.readdir(path.join(MAILDIR, sub));
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
      }
      for (const name of names) {
        const message = parseEntity(await fs.readFile(path.join(MAILDIR, sub, name), 'utf8'));
        const subject = decodeHeader(message.headers.subject || '');
        const recipient = message.headers.to || '';
        if (!seen.includes(subject)) seen.push(subject);
        if (recipient.includes(to) && /archive is ready/i.test(subject)) {
          return { subject, text: plainTexts(message).join('\n') };
        }
      }
    }
    if (Date.now() > deadline) {
      throw new Error(
        `no "archive is ready" e-mail to ${to} in ${MAILDIR} after ${MAIL_TIMEOUT_MS / 1000} s` +
          ` (subjects seen: ${seen.length ? seen.join(' | ') : 'none'})`,
      );
    }
    await sleep(500);
  }
}

// ---- failure -------------------------------------------------------------------------------

async function fail(err) {
  if (failing) return;
  failing = true;
  console.error(`FAILED at step ${stepNumber} ${stepName}: ${err?.stack || err}`);
  if (currentPage && !currentPage.isClosed()) {
    try {
      await currentPage.screenshot({ path: path.join(SCREENSHOTS, 'failure.png'), fullPage: true });
      console.error(`  screenshot: ${path.join(SCREENSHOTS, 'failure.png')}`);
      console.error(`  page URL:   ${currentPage.url()}`);
      const body = (await currentPage.locator('body').innerText({ timeout: 2000 })).trim();
      console.error(`  page text:  ${body.slice(0, 800).replace(/\n+/g, ' | ')}`);
    } catch (inner) {
      console.error(`  (could not capture the page: ${inner.message})`);
    }
  }
  await browser?.close().catch(() => {});
  process.exit(1);
}

// ---- the flow ------------------------------------------------------------------------------

async function main() {
  await fs.mkdir(SCREENSHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  // A missing element fails its step in seconds instead of at the overall timeout.
  page.setDefaultTimeout(15_000);
  page.setDefaultNavigationTimeout(30_000);

  await step('sign-up', page, async () => {
    await signUp(page, EMAIL, PASSWORD);
  });

  await step('home', page, async () => {
    await page.getByText(EMAIL).first().waitFor();
    const links = {
      '#start-transfer': '/transfer',
      '#start-download': '/download',
      '#nav-jobs': '/jobs',
      '#nav-connections': '/connections',
      '#nav-archives': '/archives',
    };
    for (const [id, target] of Object.entries(links)) {
      const href = await page.getAttribute(id, 'href');
      assert.equal(new URL(href, BASE).pathname, target, `${id} links to ${href}`);
    }
    await page.locator('#sign-out').waitFor();
  });

  await step('connections', page, async () => {
    await clickTo(page, '#nav-connections', url('/connections'));
    for (const service of ['facebook', 'dropbox']) await page.locator(`#connect-${service}`).waitFor();
    // No real credentials in ferry.toml: the services offered are the sandbox's.
    await page.locator('.sandbox', { hasText: 'Sandbox' }).first().waitFor();
    assert.equal(await page.locator('tr[data-connection]').count(), 0, 'a new account has no connections');
  });

  await connect(page, 'facebook');
  await connect(page, 'dropbox');

  await step('transfer', page, async () => {
    await open(page, '/');
    await clickTo(page, '#start-transfer', url('/transfer'));
    await page.selectOption('select[name=source]', 'facebook');
    await page.check('input[name=types][value=photos]');
    await page.check('input[name=types][value=videos]');
    await page.check('input[name=albums][value=all]');
    await page.selectOption('select[name=destination]', 'dropbox');
  });

  await step('review', page, async () => {
    await clickTo(page, '#review', (u) => u.pathname === '/transfer/review');
    const items = await text(page, '#review-items');
    const count = Number(/\d+/.exec(items.replace(/[,\u202f\u00a0]/g, ''))?.[0]);
    assert.ok(count > 0, `#review-items should count the items, says "${items}"`);
    assert.match(await text(page, '#review-where'), /Photo Transfer\//);
    await page.locator('#review-bytes').waitFor();
  });

  await step('review-wrong-password', page, async () => {
    await page.fill('input[name=password]', `${PASSWORD}-wrong`);
    await page.click('#start');
    await page.locator('.error[role=alert]').waitFor();
    assert.equal(new URL(page.url()).pathname.startsWith('/jobs/'), false, 'a wrong password started the job');
  });

  let jobId;
  await step('start', page, async () => {
    await page.fill('input[name=password]', PASSWORD);
    await clickTo(page, '#start', (u) => /^\/jobs\/[^/]+$/.test(u.pathname));
    jobId = decodeURIComponent(new URL(page.url()).pathname.split('/')[2]);
    await page.locator('#job-state').waitFor();
  });

  await step('job-done', page, async () => {
    // No reloads: the page must follow the job live (server-sent events).
    const deadline = Date.now() + JOB_TIMEOUT_MS;
    let state = '';
    while (state !== 'done') {
      state = await text(page, '#job-state');
      assert.notEqual(state, 'cancelled', 'the job was cancelled');
      if (Date.now() > deadline) {
        throw new Error(`job ${jobId} not done after ${JOB_TIMEOUT_MS / 1000} s: state "${state}", items "${await text(page, '#job-items')}"`);
      }
      if (state !== 'done') await sleep(500);
    }
    const items = await text(page, '#job-items');
    const [, done, total] = /(\d+) of (\d+)/.exec(items.replace(/[,\u202f\u00a0]/g, '')) ?? [];
    assert.ok(Number(total) > 0 && done === total, `#job-items should say "N of N items", says "${items}"`);
    const failures = await text(page, '#job-failures');
    const failed = /\d+/.exec(failures)?.[0];
    assert.ok(failed === undefined || Number(failed) === 0, `#job-failures should be 0 or empty, says "${failures}"`);
  });

  await step('jobs-list', page, async () => {
    await open(page, '/');
    await clickTo(page, '#nav-jobs', url('/jobs'));
    assert.equal(await text(page, `tr[data-job="${jobId}"] .job-state`), 'done');
  });

  await step('home-notice', page, async () => {
    // The notice may be written a moment after the state turns done: reload for a few seconds.
    const finished = page.locator('#notices li.notice', { hasText: /finished/i });
    const deadline = Date.now() + 10_000;
    for (;;) {
      await open(page, '/');
      if ((await finished.count()) > 0) break;
      assert.ok(Date.now() < deadline, 'no notice on the home page says the transfer finished');
      await sleep(1000);
    }
  });

  await step('download', page, async () => {
    await clickTo(page, '#start-download', url('/download'));
    for (const type of ['photos', 'videos', 'posts', 'comments', 'stories', 'messages', 'profile']) {
      assert.ok(await page.isChecked(`input[name=types][value=${type}]`), `type ${type} should be checked by default`);
    }
    await page.selectOption('select[name=source]', 'facebook');
  });

  let archiveId;
  await step('archive-ready', page, async () => {
    await clickTo(page, '#request-archive', url('/archives'));
    const row = page.locator('tr[data-archive]');
    assert.equal(await row.count(), 1, 'one archive row after one request');
    archiveId = await row.getAttribute('data-archive');
    const deadline = Date.now() + ARCHIVE_TIMEOUT_MS;
    for (;;) {
      const state = await text(page, `tr[data-archive="${archiveId}"] .archive-state`);
      if (state === 'ready') break;
      assert.equal(state, 'building', `archive ${archiveId} is "${state}"`);
      assert.ok(Date.now() < deadline, `archive ${archiveId} not ready after ${ARCHIVE_TIMEOUT_MS / 1000} s`);
      await sleep(1000);
      await open(page, '/archives');
    }
    const href = await page.getAttribute(`tr[data-archive="${archiveId}"] a.open-archive`, 'href');
    assert.ok(href && new URL(href, BASE).pathname === `/archives/${archiveId}`, `a.open-archive goes to ${href}`);
  });

  let link;
  await step('archive-mail', page, async () => {
    const mail = await waitForMail(EMAIL);
    const found = new RegExp(`${escapeRegExp(BASE)}/archives/([A-Za-z0-9_-]+)`).exec(mail.text);
    assert.ok(found, `the e-mail "${mail.subject}" has no ${BASE}/archives/<id> link:\n${mail.text}`);
    assert.equal(found[1], archiveId, 'the e-mailed link is for the archive just built');
    link = found[0];
    const response = await page.goto(link);
    assert.ok(response?.ok(), `GET ${link} answered ${response?.status()}`);
    await page.locator('input[name=password]').waitFor();
  });

  await step('archive-wrong-password', page, async () => {
    await page.fill('input[name=password]', `${PASSWORD}-wrong`);
    await page.click('#download');
    await page.locator('.error').waitFor();
  });

  await step('archive-download', page, async () => {
    await page.fill('input[name=password]', PASSWORD);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    assert.match(download.suggestedFilename(), /^ferry-export-.*\.zip$/);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-'));
    try {
      const file = path.join(dir, download.suggestedFilename());
      await download.saveAs(file);
      const bytes = await fs.readFile(file);
      // A zip with at least one entry starts with a local file header; an empty zip does not.
      assert.ok(bytes.length > 22, `the archive is ${bytes.length} bytes`);
      assert.deepEqual([...bytes.subarray(0, 4)], [0x50, 0x4b, 0x03, 0x04], 'the download is not a zip with entries');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  // Someone else, signed in, must not learn that the first account's job or archive exists.
  const otherContext = await browser.newContext({ acceptDownloads: true });
  const other = await otherContext.newPage();
  other.setDefaultTimeout(15_000);
  await step('other-account-404', other, async () => {
    await signUp(other, OTHER_EMAIL, OTHER_PASSWORD);
    for (const p of [`/jobs/${encodeURIComponent(jobId)}`, `/archives/${encodeURIComponent(archiveId)}`]) {
      const response = await other.goto(url(p));
      assert.equal(response?.status(), 404, `another account's GET ${p}`);
    }
  });
  await otherContext.close();

  await step('sign-out', page, async () => {
    await open(page, '/');
    await clickTo(page, '#sign-out', url('/sign-in'));
    await open(page, '/');
    assert.equal(new URL(page.url()).pathname, '/sign-in', 'signed out, / should lead to /sign-in');
  });

  await browser.close();
  console.log(`all ${stepNumber} steps passed; screenshots in ${SCREENSHOTS}`);
}

const overall = setTimeout(() => fail(new Error(`the flow took more than ${OVERALL_TIMEOUT_MS / 1000} s`)), OVERALL_TIMEOUT_MS);
main()
  .then(() => clearTimeout(overall))
  .catch(fail);
