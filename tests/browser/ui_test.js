#!/usr/bin/env node
/*
 * End-to-end test of the cairnd web UI in headless Chromium.
 *
 *   node ui_test.js --cairnd PATH --web DIR --out DIR
 *
 * Starts the built cairnd on 127.0.0.1 (a free port) with a fresh lmdb
 * store in a temporary directory, appends events through the HTTP API,
 * then drives the UI in Chromium (playwright-core, /usr/bin/chromium):
 * stream list with prefix search and paging, one stream's events, $all
 * with filters, the live tail (an event appended through the API shows up
 * within seconds), the append form (success, a 409 conflict, base64), and
 * that untrusted event content is never turned into HTML, and that numbers
 * keep the digits stored (no rounding through doubles).  Then a second
 * cairnd with --token-file: the token field, the tail authenticated with
 * ?access_token=, the tail resuming after a restart of cairnd (an event
 * committed while it was cut off arrives, once), a tail from a position,
 * a refused one, and the tail's filters.  Saves screenshots (and each
 * cairnd's output) into --out; screenshot-failure.png on a failure.  Stops
 * the servers and the browser on every exit path, and gives up after a
 * bounded time.
 *
 * Exit status 0 when every check passed; 1 with the failing check named.
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');
const { spawn } = require('child_process');

const TOTAL_TIMEOUT_MS = 150000; /* the whole test */
const START_TIMEOUT_MS = 15000;  /* cairnd answering /health */
const STEP_TIMEOUT_MS = 10000;   /* one UI expectation */
const TAIL_TIMEOUT_MS = 5000;    /* an appended event reaching the tail */

function parseArgs(argv) {
	const o = {
		cairnd: process.env.CAIRND || '',
		web: process.env.CAIRN_WEB || path.resolve(__dirname, '../../web'),
		out: process.env.CAIRN_BROWSER_OUT || process.cwd(),
		chromium: process.env.CAIRN_CHROMIUM || '/usr/bin/chromium',
	};
	for (let i = 0; i < argv.length; i++) {
		const k = argv[i].replace(/^--/, '');
		if (!(k in o) || i + 1 >= argv.length)
			fail('usage: ui_test.js --cairnd PATH [--web DIR] [--out DIR] [--chromium PATH]');
		o[k] = argv[++i];
	}
	return o;
}

function log(...a) {
	console.log('[browser]', ...a);
}

let cleanupHooks = [];
let exiting = false;
let failed = false;

async function cleanup() {
	const hooks = cleanupHooks.reverse();
	cleanupHooks = [];
	for (const h of hooks) {
		try {
			await h();
		} catch (e) {
			console.error('[browser] cleanup:', e.message);
		}
	}
}

function fail(msg) {
	console.error('[browser] FAIL: ' + msg);
	failed = true;
	if (exiting)
		return;
	exiting = true;
	cleanup().finally(() => process.exit(1));
	/* never return into the caller's flow */
	throw new Error('__failed__');
}

/* ---- prerequisites, with a clear message when one is missing ---- */

function requirePlaywright() {
	try {
		return require('playwright-core');
	} catch (e) {
		fail('playwright-core is not installed in ' + __dirname +
			' (run scripts/install-deps.sh, or `npm ci` in tests/browser): ' + e.message);
	}
}

function checkPrereqs(o) {
	const major = parseInt(process.versions.node, 10);
	if (major < 18)
		fail('node ' + process.versions.node + ' is too old: 18 or newer is needed (global fetch)');
	if (!o.cairnd)
		fail('no cairnd binary given (--cairnd PATH)');
	try {
		fs.accessSync(o.cairnd, fs.constants.X_OK);
	} catch (e) {
		fail('cairnd is not an executable file: ' + o.cairnd);
	}
	try {
		fs.accessSync(o.chromium, fs.constants.X_OK);
	} catch (e) {
		fail('Chromium is missing at ' + o.chromium +
			' (Debian package `chromium`; run scripts/install-deps.sh)');
	}
	if (!fs.existsSync(path.join(o.web, 'index.html')))
		fail('no index.html in the web directory ' + o.web);
	fs.mkdirSync(o.out, { recursive: true });
}

/* ---- the server ---- */

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.unref();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Start cairnd as log name (its output in OUT/name.log) on store
 * lmdb:TMP/store, on port (0: a free one). */
async function startServer(o, tmp, { name, store, port, extra }) {
	port = port || await freePort();
	const base = 'http://127.0.0.1:' + port;
	const logPath = path.join(o.out, name + '.log');
	const logFd = fs.openSync(logPath, 'w');
	const argv = ['--store', 'lmdb:' + path.join(tmp, store || name),
		'--listen', '127.0.0.1:' + port, '--web', o.web, ...(extra || [])];
	log('starting', o.cairnd, argv.join(' '));
	const child = spawn(o.cairnd, argv, { stdio: ['ignore', logFd, logFd] });
	fs.closeSync(logFd);
	let exited = null;
	child.on('exit', (code, sig) => {
		exited = { code, sig };
	});
	child.on('error', (e) => {
		exited = { code: -1, sig: null, err: e.message };
	});
	const serverLog = () => {
		try {
			return fs.readFileSync(logPath, 'utf8').slice(-4000);
		} catch (e) {
			return '';
		}
	};
	const stop = async () => {
		if (exited)
			return;
		child.kill('SIGTERM');
		for (let i = 0; i < 50 && !exited; i++)
			await sleep(100);
		if (!exited) {
			log('cairnd did not stop within 5 s of SIGTERM: killing it');
			child.kill('SIGKILL');
			for (let i = 0; i < 20 && !exited; i++)
				await sleep(100);
		}
	};
	cleanupHooks.push(stop);
	/* a last resort when node itself is going down */
	process.on('exit', () => {
		if (!exited)
			child.kill('SIGKILL');
	});

	const deadline = Date.now() + START_TIMEOUT_MS;
	for (;;) {
		if (exited)
			fail('cairnd exited at start (' + JSON.stringify(exited) + '); its output:\n' + serverLog());
		try {
			const r = await fetch(base + '/health');
			if (r.ok)
				break;
		} catch (e) { /* not listening yet */ }
		if (Date.now() > deadline)
			fail('cairnd did not answer GET /health within ' + START_TIMEOUT_MS / 1000 + ' s; its output:\n' + serverLog());
		await sleep(100);
	}
	log('cairnd is up at', base);
	return { base, port, serverLog, stop, isRunning: () => !exited, exitStatus: () => exited };
}

/* POST a body given as text (so that numbers keep every digit). */
async function appendRaw(base, stream, body) {
	const r = await fetch(base + '/streams/' + encodeURIComponent(stream), {
		method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
	if (r.status !== 201)
		fail('POST /streams/' + stream + ' answered ' + r.status + ': ' + await r.text());
	return r.json();
}

async function appendApi(base, stream, expected, events, token) {
	const headers = { 'Content-Type': 'application/json' };
	if (token)
		headers.Authorization = 'Bearer ' + token;
	const r = await fetch(base + '/streams/' + encodeURIComponent(stream), {
		method: 'POST',
		headers,
		body: JSON.stringify({ expected_version: expected, events }),
	});
	const text = await r.text();
	if (r.status !== 201)
		fail('POST /streams/' + stream + ' answered ' + r.status + ': ' + text);
	return JSON.parse(text);
}

/* ---- checks ---- */

function check(cond, what) {
	if (!cond)
		fail(what);
	log('ok -', what);
}

async function expectStep(what, fn) {
	try {
		await fn();
	} catch (e) {
		if (e.message === '__failed__')
			throw e;
		fail(what + ': ' + e.message.split('\n').slice(0, 6).join('\n'));
	}
	log('ok -', what);
}

/* The texts of the elements matching selector, in order. */
const texts = (page, selector) => page.$$eval(selector, (els) => els.map((e) => e.textContent));

async function main() {
	const o = parseArgs(process.argv.slice(2));
	checkPrereqs(o);
	const { chromium } = requirePlaywright();

	const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-browser-'));
	cleanupHooks.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
	const srv = await startServer(o, tmp, { name: 'cairnd' });
	const base = srv.base;

	/* ---- data, through the API ---- */
	const XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
	const r1 = await appendApi(base, 'order-1', 'no_stream', [
		{ type: 'OrderPlaced', data: { sku: 'A-1', qty: 2, note: XSS },
			metadata: { user: 'alice', trace: 'abc' }, tags: ['customer:7', 'region:eu'] },
		{ type: 'OrderShipped', data: { carrier: 'DHL', parcels: [1, 2] } },
	]);
	check(r1.first_version === 1 && r1.last_version === 2, 'POST /streams/order-1 returned versions 1..2');
	await appendApi(base, 'order-2', 'any', [{ type: 'OrderPlaced', data: { sku: 'B-9', qty: 1 } }]);
	await appendApi(base, 'customer-7', 'no_stream', [
		{ type: 'CustomerRegistered', data: { name: XSS }, metadata: { html: XSS }, tags: [XSS] },
		/* not JSON: the API stores the bytes and reads them back as base64 */
		{ type: 'PhotoUploaded', data: 'AAEC/4BhYmM=', data_encoding: 'base64' }]);
	/* enough streams for the list to need a second page (50 per page) */
	for (let i = 0; i < 55; i++)
		await appendApi(base, 'bulk-' + String(i).padStart(3, '0'), 'any', [{ type: 'Bulk', data: { i } }]);

	/* ---- the browser ---- */
	log('launching', o.chromium);
	const browser = await chromium.launch({
		executablePath: o.chromium,
		headless: true,
		args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
		timeout: 30000,
	});
	cleanupHooks.push(() => browser.close());
	const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
	const page = await context.newPage();
	let shown = page; /* the page to photograph on a failure */
	cleanupHooks.push(async () => {
		if (failed) {
			const f = path.join(o.out, 'screenshot-failure.png');
			await shown.screenshot({ path: f, fullPage: true, timeout: 5000 });
			console.error('[browser] the page at the failure: ' + f);
		}
	});
	page.setDefaultTimeout(STEP_TIMEOUT_MS);

	/* Nothing may come from anywhere but cairnd; every page error counts. */
	const problems = [];
	await context.route('**/*', (route) => {
		const u = route.request().url();
		if (u.startsWith(base + '/') || u.startsWith('data:'))
			return route.continue();
		problems.push('request to an outside resource: ' + u);
		return route.abort();
	});
	page.on('pageerror', (e) => problems.push('page error: ' + e.message));
	page.on('console', (m) => {
		/* the browser logs the answers the checks provoke on purpose:
		 * the 409 of the conflict, the 404s of a stream without events */
		const expected = /status of (404|409)/.test(m.text()) &&
			/\/streams\/(order-3|no-such-stream(\/info)?)(\?|$)/.test(m.location().url);
		if (m.type() === 'error' && !expected)
			problems.push('console error: ' + m.text() + ' (' + m.location().url + ')');
	});
	page.on('dialog', (d) => {
		problems.push('unexpected dialog: ' + d.message());
		d.dismiss().catch(() => {});
	});

	await page.goto(base + '/', { waitUntil: 'load' });
	await page.waitForSelector('html[data-ready="1"]');
	check(await page.title() !== '', 'the UI page loads from cairnd at /');

	await expectStep('health shows the server is up', () =>
		page.waitForFunction(() => document.getElementById('health').textContent === 'server ok'));

	/* ---- stream list: prefix search and paging ---- */
	await expectStep('stream list shows a first page of 50 streams (of 58), in id order, and a next page', () =>
		page.waitForFunction(() => {
			const names = [...document.querySelectorAll('#streams-list .sname')].map((e) => e.textContent);
			return names.length === 50 && names[0] === 'bulk-000' && names[49] === 'bulk-049' &&
				!document.getElementById('streams-next').disabled;
		}));
	await page.click('#streams-next');
	await expectStep('the next page (via the next cursor) lists the other 8 streams', () =>
		page.waitForFunction(() => {
			const names = [...document.querySelectorAll('#streams-list .sname')].map((e) => e.textContent);
			return names.join(' ') === 'bulk-050 bulk-051 bulk-052 bulk-053 bulk-054 customer-7 order-1 order-2' &&
				document.getElementById('streams-next').disabled &&
				!document.getElementById('streams-prev').disabled;
		}));
	await page.fill('#streams-prefix', 'order-');
	await page.click('#streams-form button[type=submit]');
	await expectStep('prefix search "order-" lists exactly order-1 and order-2', () =>
		page.waitForFunction(() => {
			const names = [...document.querySelectorAll('#streams-list .sname')].map((e) => e.textContent);
			return names.length === 2 && names[0] === 'order-1' && names[1] === 'order-2';
		}));
	await page.fill('#streams-prefix', 'bulk-');
	await page.click('#streams-form button[type=submit]');
	await expectStep('prefix "bulk-": 50 streams and a next page', () =>
		page.waitForFunction(() => document.querySelectorAll('#streams-list .sname').length === 50 &&
			document.querySelector('#streams-list .sname').textContent === 'bulk-000' &&
			!document.getElementById('streams-next').disabled));
	await page.click('#streams-next');
	await expectStep('prefix "bulk-", next page: the other 5', () =>
		page.waitForFunction(() => {
			const names = [...document.querySelectorAll('#streams-list .sname')].map((e) => e.textContent);
			return names.length === 5 && names[0] === 'bulk-050' && names[4] === 'bulk-054' &&
				document.getElementById('streams-next').disabled;
		}));
	await page.click('#streams-prev');
	await expectStep('Previous goes back to the first page', () =>
		page.waitForFunction(() => document.querySelector('#streams-list .sname')?.textContent === 'bulk-000' &&
			document.getElementById('streams-prev').disabled));
	await page.fill('#streams-prefix', '');
	await page.click('#streams-form button[type=submit]');
	await page.fill('#streams-prefix', 'order-');
	await page.click('#streams-form button[type=submit]');
	await page.waitForFunction(() => document.querySelectorAll('#streams-list .sname').length === 2);

	/* ---- one stream ---- */
	await page.click('#streams-list a:has(.sname:text-is("order-1"))');
	await expectStep('clicking order-1 opens its events', () =>
		page.waitForFunction(() => location.hash === '#/stream/order-1' &&
			document.querySelectorAll('#stream-events .event').length === 2));
	const types = await texts(page, '#stream-events .ev-type');
	check(types[0] === 'OrderPlaced' && types[1] === 'OrderShipped', 'events in version order: ' + types.join(', '));
	const ev1 = page.locator('#stream-events .event').first();
	const data1 = await ev1.locator('.payload-data pre').textContent();
	check(data1.includes('\n  "sku": "A-1"') && JSON.parse(data1).qty === 2, 'data is pretty-printed JSON');
	check(JSON.parse(data1).note === XSS, 'event data containing HTML is shown as text, verbatim');
	const meta1 = await ev1.locator('.payload-metadata pre').textContent();
	check(JSON.parse(meta1).user === 'alice', 'metadata is shown as JSON');
	const metaText = await ev1.locator('.ev-meta').textContent();
	check(/version\s*1/.test(metaText) && /position\s*1/.test(metaText), 'version and position are shown: ' + metaText.replace(/\s+/g, ' '));
	const timeText = await ev1.locator('.ev-meta time').textContent();
	check(timeText.trim() !== '', 'the time is shown: ' + timeText);
	check((await texts(page, '#stream-events .event:first-child .tag')).join(' ') === 'customer:7 region:eu', 'tags are shown');
	await expectStep('stream info shows version 2', () =>
		page.waitForFunction(() => /version\s*2/.test(document.getElementById('stream-info').textContent)));
	check(await page.$eval('#streams-list a[aria-current="page"] .sname', (e) => e.textContent) === 'order-1',
		'the open stream is marked current in the list');

	await page.selectOption('#stream-dir', 'backward');
	await page.click('#stream-form button[type=submit]');
	await expectStep('backward reads newest first', () =>
		page.waitForFunction(() => document.querySelector('#stream-events .ev-type')?.textContent === 'OrderShipped'));
	await page.selectOption('#stream-dir', 'forward');
	await page.click('#stream-form button[type=submit]');
	await page.waitForFunction(() => document.querySelector('#stream-events .ev-type')?.textContent === 'OrderPlaced');
	await page.screenshot({ path: path.join(o.out, 'screenshot-stream.png'), fullPage: true });

	/* ---- untrusted content stays text ---- */
	await page.goto(base + '/#/stream/customer-7');
	await expectStep('customer-7 (HTML in data, metadata and tags) renders', () =>
		page.waitForFunction(() => document.querySelectorAll('#stream-events .event').length === 2));
	const injected = await page.evaluate(() => ({
		pwned: window.__pwned,
		imgs: document.querySelectorAll('main img, main script').length,
		tag: document.querySelector('#stream-events .tag')?.textContent,
	}));
	check(injected.pwned === undefined && injected.imgs === 0 && injected.tag === XSS,
		'no event content is turned into HTML (no img/script element, no handler ran)');
	const bin = page.locator('#stream-events .event').nth(1);
	check(await bin.locator('.payload-data pre').textContent() === 'AAEC/4BhYmM=' &&
		/base64/.test(await bin.locator('.payload-data .badge').textContent()),
		'a payload that is not JSON is shown as base64, flagged');
	check(await bin.locator('.payload-metadata').count() === 0, 'an event without metadata shows no metadata block');

	/* ---- $all ---- */
	await page.click('.tabs a[data-view="all"]');
	await expectStep('$all lists every event in position order', () =>
		page.waitForFunction(() => {
			const pos = [...document.querySelectorAll('#all-events .event')].map((e) => Number(e.dataset.position));
			return pos.length === 50 && pos[0] === 1 && pos.every((p, i) => i === 0 || p > pos[i - 1]) &&
				!document.getElementById('all-more').hidden;
		}));
	await page.click('#all-more');
	await expectStep('$all "Load more" continues after the last position (60 events in all)', () =>
		page.waitForFunction(() => document.querySelectorAll('#all-events .event').length === 60 &&
			document.getElementById('all-more').hidden));
	await page.fill('#all-types', 'OrderPlaced');
	await page.click('#all-form button[type=submit]');
	await expectStep('$all with types=OrderPlaced shows the two OrderPlaced events', () =>
		page.waitForFunction(() => {
			const ev = [...document.querySelectorAll('#all-events .event')];
			return ev.length === 2 && ev.every((e) => e.querySelector('.ev-type').textContent === 'OrderPlaced');
		}));
	await page.screenshot({ path: path.join(o.out, 'screenshot-all.png') });
	await page.fill('#all-types', '');
	await page.fill('#all-prefix', 'order-2');
	await page.click('#all-form button[type=submit]');
	await expectStep('$all with prefix=order-2 shows only that stream', () =>
		page.waitForFunction(() => {
			const ev = [...document.querySelectorAll('#all-events .event')];
			return ev.length === 1 && ev[0].dataset.stream === 'order-2';
		}));
	await page.fill('#all-prefix', '');
	await page.selectOption('#all-dir', 'backward');
	await page.fill('#all-limit', '3');
	await page.click('#all-form button[type=submit]');
	await expectStep('$all backward shows the newest first', () =>
		page.waitForFunction(() => [...document.querySelectorAll('#all-events .event')]
			.map((e) => e.dataset.position).join(' ') === '60 59 58'));
	await page.click('#all-more');
	await expectStep('$all backward "Load more" goes on with older events', () =>
		page.waitForFunction(() => [...document.querySelectorAll('#all-events .event')]
			.map((e) => e.dataset.position).join(' ') === '60 59 58 57 56 55'));
	await page.selectOption('#all-dir', 'forward');
	await page.fill('#all-limit', '50');

	await page.goto(base + '/#/stream/no-such-stream');
	await expectStep('a stream without events says so, without an error', () =>
		page.waitForFunction(() => document.getElementById('stream-msg').textContent === 'this stream has no events' &&
			/no such stream/.test(document.getElementById('stream-info').textContent)));
	await page.click('.tabs a[data-view="all"]');

	/* ---- live tail ---- */
	await page.click('.tabs a[data-view="tail"]');
	await page.selectOption('#tail-start', 'end');
	await page.click('#tail-start-btn');
	await expectStep('the live tail connects', () =>
		page.waitForFunction(() => document.getElementById('tail-state').textContent === 'live'));
	check(await page.locator('#tail-events .event').count() === 0, 'a tail from the end shows no old event');
	const t0 = Date.now();
	const rt = await appendApi(base, 'order-1', 2, [
		{ type: 'OrderPaid', data: { amount: 4200, currency: 'EUR' }, tags: ['customer:7'] }]);
	await expectStep('an event appended through the API appears in the live tail within ' + TAIL_TIMEOUT_MS / 1000 + ' s',
		() => page.waitForFunction((pos) => {
			const e = document.querySelector('#tail-events .event');
			return e && e.dataset.position === String(pos) &&
				e.querySelector('.ev-type').textContent === 'OrderPaid';
		}, rt.first_position, { timeout: TAIL_TIMEOUT_MS }));
	log('  (the tail showed it after', Date.now() - t0, 'ms)');
	await appendApi(base, 'order-2', 'any', [{ type: 'OrderPaid', data: { amount: 999 } },
		{ type: 'OrderShipped', data: { carrier: 'UPS' } }]);
	await expectStep('a two-event append shows both, newest first', () =>
		page.waitForFunction(() => {
			const t = [...document.querySelectorAll('#tail-events .ev-type')].map((e) => e.textContent);
			return t.length === 3 && t[0] === 'OrderShipped' && t[1] === 'OrderPaid' && t[2] === 'OrderPaid';
		}, null, { timeout: TAIL_TIMEOUT_MS }));

	/* ---- append form ---- */
	await page.click('.tabs a[data-view="append"]');
	await page.fill('#ap-stream', 'order-3');
	await page.fill('#ap-type', 'OrderPlaced');
	await page.selectOption('#ap-expected', 'no_stream');
	await page.fill('#ap-data', '{"sku": "C-3", "qty": 5}');
	await page.fill('#ap-meta', '{"user": "bob"}');
	await page.fill('#ap-tags', 'customer:9');
	await page.click('#ap-submit');
	await expectStep('the append form reports success with the new version and position', () =>
		page.waitForFunction(() => {
			const r = document.getElementById('ap-result');
			return r.classList.contains('result-ok') && /version\s*1/.test(r.textContent) &&
				/position\s*64/.test(r.textContent);
		}));
	await page.screenshot({ path: path.join(o.out, 'screenshot-append.png'), fullPage: true });
	await page.click('#ap-submit');
	await expectStep('appending again with no_stream shows the 409 conflict', () =>
		page.waitForFunction(() => {
			const r = document.getElementById('ap-result');
			return r.classList.contains('result-error') && /409/.test(r.textContent);
		}));
	const conflict = await page.textContent('#ap-result');
	log('  (conflict shown as: ' + conflict.replace(/\s+/g, ' ').trim() + ')');
	await page.fill('#ap-data', '{not json');
	await page.click('#ap-submit');
	await expectStep('invalid JSON data is refused in the form', () =>
		page.waitForFunction(() => /not valid JSON/.test(document.getElementById('ap-result').textContent)));
	await page.fill('#ap-stream', 'blob-1');
	await page.fill('#ap-type', 'Blob');
	await page.selectOption('#ap-expected', 'any');
	await page.selectOption('#ap-data-enc', 'base64');
	await page.fill('#ap-data', '3q2+7w==');
	await page.fill('#ap-meta', '');
	await page.fill('#ap-tags', '');
	await page.click('#ap-submit');
	await expectStep('the form appends a binary (base64) payload', () =>
		page.waitForFunction(() => {
			const r = document.getElementById('ap-result');
			return r.classList.contains('result-ok') && /position\s*65/.test(r.textContent);
		}));
	await page.selectOption('#ap-data-enc', 'json');

	await page.click('.tabs a[data-view="tail"]');
	await expectStep('the live tail (still running) received both events from the form', () =>
		page.waitForFunction(() => {
			const ev = [...document.querySelectorAll('#tail-events .event')];
			return ev.length === 5 && ev[0].dataset.stream === 'blob-1' && ev[0].dataset.position === '65' &&
				ev[1].dataset.stream === 'order-3' && ev[1].dataset.position === '64';
		}, null, { timeout: TAIL_TIMEOUT_MS }));
	await expectStep('the new-event highlight fades', () =>
		page.waitForFunction(() => document.querySelectorAll('#tail-events .fresh').length === 0));
	await page.mouse.move(1, 1);
	await page.screenshot({ path: path.join(o.out, 'screenshot-tail.png'), fullPage: true });

	await page.goto(base + '/#/stream/order-3');
	await expectStep('the stream view shows the event appended with the form', () =>
		page.waitForFunction(() => {
			const e = document.querySelector('#stream-events .event');
			return e && e.querySelector('.ev-type').textContent === 'OrderPlaced' &&
				JSON.parse(e.querySelector('.payload-data pre').textContent).sku === 'C-3' &&
				JSON.parse(e.querySelector('.payload-metadata pre').textContent).user === 'bob';
		}));

	/* numbers are shown with the digits stored, not as doubles */
	await appendRaw(base, 'numbers-1', '{"expected_version":"any","events":[{"type":"Measured",' +
		'"data":{"big":9007199254740993,"f":1.50,"e":1e3,"small":7}}]}');
	await page.goto(base + '/#/stream/numbers-1');
	await expectStep('big and formatted numbers keep their digits (2^53 + 1, 1.50, 1e3)', () =>
		page.waitForFunction(() => {
			const t = document.querySelector('#stream-events .payload-data pre')?.textContent || '';
			return t.includes('"big": 9007199254740993') && t.includes('"f": 1.50') &&
				t.includes('"e": 1e3') && t.includes('"small": 7');
		}));
	await page.goto(base + '/#/append/numbers-2');
	await page.fill('#ap-type', 'Measured');
	await page.selectOption('#ap-expected', 'any');
	await page.fill('#ap-data', '{"big": 1234567890123456789, "f": 2.50}');
	await page.fill('#ap-meta', '');
	await page.fill('#ap-tags', '');
	await page.click('#ap-submit');
	/* The result box may still show the previous append's success: wait
	 * for this one's (its link names the stream). */
	await page.waitForFunction(() => {
		const r = document.getElementById('ap-result');
		return r.classList.contains('result-ok') && r.textContent.includes('numbers-2');
	});
	const stored = await (await fetch(base + '/streams/numbers-2', { headers: { Accept: 'application/x-ndjson' } })).text();
	check(stored.includes('"data":{"big":1234567890123456789,"f":2.50}'),
		'the append form sends numbers with the digits typed: ' + stored.trim().slice(0, 200));

	/* the screenshot to look at: order-1 with its four events */
	await page.goto(base + '/#/stream/order-1');
	await page.waitForFunction(() => document.querySelectorAll('#stream-events .event').length === 3);
	await page.mouse.move(1, 1);
	await page.screenshot({ path: path.join(o.out, 'screenshot.png'), fullPage: false });
	log('screenshots in', o.out);

	/* keyboard: the first Tab reaches the skip link, which moves focus to
	 * the content without leaving the view */
	await page.reload();
	await page.waitForFunction(() => document.querySelectorAll('#stream-events .event').length === 3);
	await page.keyboard.press('Tab');
	check(await page.evaluate(() => document.activeElement.className) === 'skip', 'the first Tab stop is the skip link');
	await page.keyboard.press('Enter');
	await expectStep('the skip link focuses the content and keeps the stream view', () =>
		page.waitForFunction(() => document.activeElement.id === 'main' &&
			!document.getElementById('view-stream').hidden));

	/* ---- a server with a bearer token ---- */
	const TOKEN = 'ui-test-token-' + process.pid;
	const tokenFile = path.join(tmp, 'token');
	fs.writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
	const tokenArgs = ['--token-file', tokenFile];
	let srv2 = await startServer(o, tmp, { name: 'cairnd-token', extra: tokenArgs });
	const base2 = srv2.base;
	await appendApi(base2, 'secure-1', 'no_stream', [{ type: 'Secret', data: { n: 1 } }], TOKEN);
	let blockSubscribe = false; /* a network cut, for the tail only */
	await context.route('**/*', (route) => {
		const u = route.request().url();
		if (!u.startsWith(base2 + '/'))
			return route.fallback();
		if (blockSubscribe && u.startsWith(base2 + '/subscribe'))
			return route.abort('connectionrefused');
		return route.continue();
	});
	const page2 = await context.newPage();
	shown = page2;
	page2.setDefaultTimeout(STEP_TIMEOUT_MS);
	page2.on('pageerror', (e) => problems.push('page error (token server): ' + e.message));
	await page2.goto(base2 + '/#/tail');
	await page2.waitForSelector('html[data-ready="1"]');
	await expectStep('without a token the UI says a token is needed (401)', () =>
		page2.waitForFunction(() => /401/.test(document.getElementById('streams-msg').textContent) &&
			/token/i.test(document.getElementById('streams-msg').textContent)));
	await page2.fill('#token', TOKEN);
	await page2.click('#token-form button[type=submit]');
	await expectStep('with the token pasted the stream list loads', () =>
		page2.waitForFunction(() => [...document.querySelectorAll('#streams-list .sname')]
			.map((e) => e.textContent).join(' ') === 'secure-1'));
	check(await page2.evaluate(() => sessionStorage.getItem('cairn.token')) === TOKEN,
		'the token is kept in sessionStorage');
	await page2.click('#tail-start-btn');
	await expectStep('the live tail connects with the token (EventSource: ?access_token=)', () =>
		page2.waitForFunction(() => document.getElementById('tail-state').textContent === 'live'));
	await appendApi(base2, 'secure-1', 1, [{ type: 'Secret', data: { n: 2 } }], TOKEN);
	await expectStep('an event appended to the token server appears in the live tail', () =>
		page2.waitForFunction(() => {
			const e = document.querySelector('#tail-events .event');
			return e && e.dataset.stream === 'secure-1' && e.dataset.position === '2';
		}, null, { timeout: TAIL_TIMEOUT_MS }));

	/* cairnd restarts, and an event is committed while the tail is cut
	 * off: when it reconnects (EventSource by itself, with Last-Event-ID,
	 * or the UI after a refusal, from the next position) it resumes after
	 * the last event shown, so that event arrives; a fresh subscription
	 * "from the end" would miss it. */
	blockSubscribe = true;
	await srv2.stop();
	check(srv2.exitStatus().code === 0, 'cairnd stops cleanly on SIGTERM with a subscriber open');
	await expectStep('the tail notices the server went away', () =>
		page2.waitForFunction(() => document.getElementById('tail-state').textContent !== 'live'));
	srv2 = await startServer(o, tmp, { name: 'cairnd-token-restarted', store: 'cairnd-token',
		port: srv2.port, extra: tokenArgs });
	await appendApi(base2, 'secure-1', 2, [{ type: 'Secret', data: { n: 3 } }], TOKEN);
	await sleep(1500); /* let a reconnect attempt or two fail */
	check(await page2.textContent('#tail-state') !== 'live', 'the tail stays disconnected while cut off');
	blockSubscribe = false;
	await expectStep('the tail reconnects to the restarted server', () =>
		page2.waitForFunction(() => document.getElementById('tail-state').textContent === 'live', null,
			{ timeout: 15000 }));
	await expectStep('it resumed after the last event shown: the event committed meanwhile arrives, once', () =>
		page2.waitForFunction(() => [...document.querySelectorAll('#tail-events .event')]
			.map((e) => e.dataset.position).join(' ') === '3 2', null, { timeout: TAIL_TIMEOUT_MS }));
	await appendApi(base2, 'secure-1', 3, [{ type: 'Secret', data: { n: 4 } }], TOKEN);
	await expectStep('and live events follow', () =>
		page2.waitForFunction(() => [...document.querySelectorAll('#tail-events .event')]
			.map((e) => e.dataset.position).join(' ') === '4 3 2', null, { timeout: TAIL_TIMEOUT_MS }));

	/* a tail from a given position replays from there */
	await page2.click('#tail-stop');
	await page2.click('#tail-clear');
	await page2.selectOption('#tail-start', 'position');
	await page2.fill('#tail-from', '2');
	await page2.click('#tail-start-btn');
	await expectStep('a tail from position 2 shows positions 2 to 4', () =>
		page2.waitForFunction(() => document.getElementById('tail-state').textContent === 'live' &&
			[...document.querySelectorAll('#tail-events .event')]
				.map((e) => e.dataset.position).join(' ') === '4 3 2'));
	await page2.click('#tail-stop');
	await page2.fill('#tail-from', '999');
	await page2.click('#tail-start-btn');
	await expectStep('a tail the server refuses (beyond the head) stops and shows the error', () =>
		page2.waitForFunction(() => document.getElementById('tail-state').textContent === 'refused' &&
			/HTTP 4\d\d/.test(document.getElementById('tail-msg').textContent)));
	log('  (refusal shown as: ' + (await page2.textContent('#tail-msg')) + ')');
	await page2.click('#tail-clear');
	await page2.selectOption('#tail-start', 'end');
	await page2.fill('#tail-prefix', 'other-');
	await page2.fill('#tail-types', 'Wanted, AlsoWanted');
	await page2.click('#tail-start-btn');
	await page2.waitForFunction(() => document.getElementById('tail-state').textContent === 'live');
	await appendApi(base2, 'secure-1', 4, [{ type: 'Wanted', data: {} }], TOKEN);
	await appendApi(base2, 'other-1', 'any', [{ type: 'Unwanted', data: {} },
		{ type: 'AlsoWanted', data: {} }, { type: 'Wanted', data: {} }], TOKEN);
	await expectStep('the tail applies its prefix and type filters', () =>
		page2.waitForFunction(() => [...document.querySelectorAll('#tail-events .event')]
			.map((e) => e.dataset.stream + ':' + e.querySelector('.ev-type').textContent)
			.join(' ') === 'other-1:Wanted other-1:AlsoWanted', null, { timeout: TAIL_TIMEOUT_MS }));
	await page2.close();
	shown = page;

	check(problems.length === 0, 'no page error, console error or outside request' +
		(problems.length ? ':\n  ' + problems.join('\n  ') : ''));
	check(srv.isRunning() && srv2.isRunning(), 'both cairnd are still running');
}

const timer = setTimeout(() => {
	try {
		fail('the test did not finish within ' + TOTAL_TIMEOUT_MS / 1000 + ' s');
	} catch (e) { /* fail() exits */ }
}, TOTAL_TIMEOUT_MS);
for (const sig of ['SIGINT', 'SIGTERM']) {
	process.on(sig, () => {
		try {
			fail('interrupted by ' + sig);
		} catch (e) { /* fail() exits */ }
	});
}

main().then(async () => {
	clearTimeout(timer);
	if (exiting)
		return;
	exiting = true;
	await cleanup();
	log('PASS');
	process.exit(0);
}, (e) => {
	if (e && e.message === '__failed__')
		return; /* fail() is cleaning up and will exit */
	try {
		fail((e && e.stack) || String(e));
	} catch (e2) { /* fail() exits */ }
});
