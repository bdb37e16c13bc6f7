/*
 * cairn web UI: browse streams, read a stream and $all, watch a live tail,
 * append an event.  Plain browser JavaScript, no build step, no dependency:
 * cairnd serves this file as it is.
 *
 * Safety: event content (ids, streams, types, data, metadata, tags) comes
 * from whoever appended it and is untrusted.  It is only ever put into the
 * page as text (textContent, element attributes set through the DOM), never
 * as HTML.  Nothing in this file assigns innerHTML.
 */
'use strict';

(function () {
	const PAGE_STREAMS = 50;
	const TAIL_KEEP = 500; /* events kept in the live tail view */
	const TOKEN_KEY = 'cairn.token';
	const HEALTH_EVERY_MS = 10000;
	const RETRY_MAX_MS = 30000;

	const $ = (id) => document.getElementById(id);

	/* ---- small DOM helpers (text only) ---- */

	function el(tag, attrs, ...children) {
		const e = document.createElement(tag);
		if (attrs) {
			for (const [k, v] of Object.entries(attrs)) {
				if (v === undefined || v === null || v === false)
					continue;
				if (k === 'class')
					e.className = v;
				else if (k === 'text')
					e.textContent = v;
				else
					e.setAttribute(k, v === true ? '' : String(v));
			}
		}
		for (const c of children) {
			if (c === null || c === undefined)
				continue;
			e.append(typeof c === 'string' ? document.createTextNode(c) : c);
		}
		return e;
	}

	function clear(node) {
		while (node.firstChild)
			node.removeChild(node.firstChild);
	}

	function setMsg(node, text, kind) {
		node.textContent = text || '';
		node.className = 'msg' + (kind ? ' msg-' + kind : '');
	}

	/* ---- the API ---- */

	function token() {
		try {
			return sessionStorage.getItem(TOKEN_KEY) || '';
		} catch (e) {
			return '';
		}
	}

	class ApiError extends Error {
		constructor(status, code, message) {
			super(message);
			this.status = status;
			this.code = code;
		}
		describe() {
			const head = this.status ? 'HTTP ' + this.status : 'network';
			const code = this.code ? ' ' + this.code : '';
			return head + code + ': ' + this.message;
		}
	}

	/* Build a URL relative to the page, so that the UI also works when a
	 * proxy serves cairnd under a path prefix. */
	function apiUrl(path, params) {
		const u = new URL(path, document.baseURI);
		if (params) {
			for (const [k, v] of Object.entries(params)) {
				if (v !== undefined && v !== null && v !== '')
					u.searchParams.set(k, String(v));
			}
		}
		return u;
	}

	async function api(method, path, params, body) {
		const headers = { Accept: 'application/json' };
		const t = token();
		if (t)
			headers.Authorization = 'Bearer ' + t;
		const init = { method, headers, cache: 'no-store' };
		if (body !== undefined) {
			headers['Content-Type'] = 'application/json';
			init.body = JSON.stringify(body);
		}
		let res;
		try {
			res = await fetch(apiUrl(path, params), init);
		} catch (e) {
			throw new ApiError(0, 'network', 'the server cannot be reached (' + e.message + ')');
		}
		const text = await res.text();
		let json = null;
		if (text) {
			try {
				json = parseJson(text);
			} catch (e) {
				json = null;
			}
		}
		if (!res.ok) {
			const code = json && typeof json.error === 'string' ? json.error : '';
			let msg = json && typeof json.message === 'string' ? json.message : (text || res.statusText);
			if (res.status === 401 && !t)
				msg += ' (paste a token in the Token field)';
			const err = new ApiError(res.status, code, msg);
			err.body = json;
			throw err;
		}
		if (json === null && text)
			throw new ApiError(res.status, 'bad_response', 'the server sent something that is not JSON');
		return json;
	}

	const enc = encodeURIComponent;

	/* Event data is shown as stored, so numbers must keep their digits:
	 * JSON.parse would turn 12345678901234567890 into 12345678901234567000
	 * and 1.50 into 1.5.  Where the browser has JSON.rawJSON (and the
	 * reviver's source text), such a number is kept as its own text,
	 * which JSON.stringify then writes back unchanged. */
	const keepDigits = typeof JSON.rawJSON === 'function'
		? (key, value, context) => (typeof value === 'number' && context &&
			typeof context.source === 'string' && context.source !== String(value))
			? JSON.rawJSON(context.source) : value
		: undefined;

	function parseJson(text) {
		return JSON.parse(text, keepDigits);
	}

	/* ---- rendering one event ---- */

	/* The HTTP API sends data and metadata inline when they are one JSON
	 * value, and otherwise as a base64 string with "data_encoding":
	 * "base64" (or "metadata_encoding") next to it (docs/http-api.md). */
	function isBase64(ev, field) {
		return ev[field + '_encoding'] === 'base64';
	}

	function base64Length(s) {
		const clean = String(s).replace(/[^A-Za-z0-9+/_-]/g, '');
		return Math.floor(clean.length * 3 / 4);
	}

	function formatTime(t) {
		if (t === undefined || t === null || t === '')
			return { text: '', iso: null };
		let d;
		if (typeof t === 'number') {
			/* nanoseconds, microseconds, milliseconds or seconds since
			 * the epoch: pick by magnitude */
			const ms = t > 1e17 ? t / 1e6 : t > 1e14 ? t / 1e3 : t > 1e11 ? t : t * 1e3;
			d = new Date(ms);
		} else {
			d = new Date(String(t));
		}
		if (isNaN(d.getTime()))
			return { text: String(t), iso: null };
		return { text: typeof t === 'string' ? t : d.toISOString(), iso: d.toISOString() };
	}

	function payloadBlock(ev, field, label) {
		if (!(field in ev))
			return null;
		const v = ev[field];
		const b64 = isBase64(ev, field);
		/* no metadata: absent, null, or an empty payload ("" as base64) */
		if (field === 'metadata' && (v === null || v === undefined || (b64 && v === '')))
			return null;
		let text;
		let badge;
		if (b64) {
			text = v === '' ? '(empty)' : String(v);
			badge = 'base64 · ' + base64Length(v) + (base64Length(v) === 1 ? ' byte' : ' bytes');
		} else if (v === null || v === undefined) {
			text = 'null';
			badge = 'JSON';
		} else {
			text = JSON.stringify(v, null, 2);
			badge = 'JSON';
		}
		return el('div', { class: 'payload payload-' + field + (b64 ? ' is-base64' : '') },
			el('div', { class: 'payload-label' },
				el('span', { text: label }),
				el('span', { class: 'badge' + (b64 ? ' badge-b64' : ''), text: badge })),
			el('pre', { class: 'json', tabindex: '0', 'aria-label': label + ' of event ' + (ev.position ?? ''), text }));
	}

	function metaItem(name, value, cls) {
		return [el('dt', { text: name }), el('dd', { class: cls }, value)];
	}

	function renderEvent(ev, opts) {
		opts = opts || {};
		const li = el('li', { class: 'event' + (opts.fresh ? ' fresh' : '') });
		if (opts.fresh) {
			/* once: a hidden view shown again would replay the animation */
			const done = () => li.classList.remove('fresh');
			li.addEventListener('animationend', done, { once: true });
			setTimeout(done, 2500);
		}
		if (ev.position !== undefined)
			li.dataset.position = String(ev.position);
		if (ev.stream !== undefined)
			li.dataset.stream = String(ev.stream);

		const head = el('div', { class: 'ev-head' },
			el('span', { class: 'ev-type', title: 'event type', text: String(ev.type ?? '') }),
			ev.stream !== undefined
				? el('a', { class: 'ev-stream', href: '#/stream/' + enc(String(ev.stream)), title: 'open stream', text: String(ev.stream) })
				: null);
		li.append(head);

		const t = formatTime(ev.time);
		const time = el('time', { text: t.text });
		if (t.iso)
			time.setAttribute('datetime', t.iso);
		const dl = el('dl', { class: 'ev-meta' });
		dl.append(...metaItem('version', String(ev.version ?? ''), 'num'));
		dl.append(...metaItem('position', String(ev.position ?? ''), 'num'));
		dl.append(...metaItem('time', time));
		if (ev.id)
			dl.append(...metaItem('id', el('code', { text: String(ev.id) })));
		li.append(dl);

		if (Array.isArray(ev.tags) && ev.tags.length) {
			const ul = el('ul', { class: 'tags', 'aria-label': 'tags' });
			for (const tag of ev.tags)
				ul.append(el('li', { class: 'tag', text: String(tag) }));
			li.append(ul);
		}
		const data = payloadBlock(ev, 'data', 'data');
		if (data)
			li.append(data);
		const meta = payloadBlock(ev, 'metadata', 'metadata');
		if (meta)
			li.append(meta);
		return li;
	}

	function asEventArray(json) {
		if (Array.isArray(json))
			return json;
		if (json && Array.isArray(json.events))
			return json.events;
		throw new ApiError(0, 'bad_response', 'expected a JSON array of events');
	}

	function intOrEmpty(input) {
		const v = input.value.trim();
		if (v === '')
			return '';
		if (!/^\d+$/.test(v))
			throw new ApiError(0, 'invalid', input.closest('label')?.textContent.trim().split('\n')[0] + ': a whole number, please');
		return v;
	}

	function pageSize(input) {
		const n = parseInt(input.value, 10);
		return n > 0 && n <= 1000 ? n : 50;
	}

	/* ---- health and token ---- */

	async function checkHealth() {
		const h = $('health');
		try {
			const res = await fetch(apiUrl('health'), { cache: 'no-store' });
			h.textContent = res.ok ? 'server ok' : 'server: HTTP ' + res.status;
			h.className = 'health ' + (res.ok ? 'ok' : 'bad');
		} catch (e) {
			h.textContent = 'server unreachable';
			h.className = 'health bad';
		}
	}

	function initToken() {
		const input = $('token');
		input.value = token();
		$('token-form').addEventListener('submit', (e) => {
			e.preventDefault();
			try {
				if (input.value.trim())
					sessionStorage.setItem(TOKEN_KEY, input.value.trim());
				else
					sessionStorage.removeItem(TOKEN_KEY);
			} catch (err) { /* storage disabled: nothing to keep */ }
			reloadCurrent();
		});
		$('token-clear').addEventListener('click', () => {
			input.value = '';
			try {
				sessionStorage.removeItem(TOKEN_KEY);
			} catch (err) { /* as above */ }
			reloadCurrent();
		});
	}

	/* ---- stream list ---- */

	const streams = { prefix: '', cursors: [''], page: 0, next: null, current: null };

	function streamItems(json) {
		const arr = Array.isArray(json) ? json
			: Array.isArray(json?.streams) ? json.streams
			: Array.isArray(json?.items) ? json.items : [];
		return arr.map((s) => typeof s === 'string' ? { stream: s }
			: { ...s, stream: s.stream ?? s.id ?? s.name });
	}

	async function loadStreams() {
		const list = $('streams-list');
		const msg = $('streams-msg');
		setMsg(msg, 'loading…');
		const after = streams.cursors[streams.page];
		let json;
		try {
			json = await api('GET', 'streams', { prefix: streams.prefix, after, limit: PAGE_STREAMS });
		} catch (e) {
			setMsg(msg, e.describe ? e.describe() : String(e), 'error');
			return;
		}
		const items = streamItems(json);
		clear(list);
		for (const s of items) {
			const a = el('a', { href: '#/stream/' + enc(String(s.stream)) },
				el('span', { class: 'sname', text: String(s.stream) }));
			if (s.version !== undefined)
				a.append(el('span', { class: 'scount', title: 'version (events in the stream)', text: String(s.version) }));
			if (streams.current === String(s.stream))
				a.setAttribute('aria-current', 'page');
			list.append(el('li', null, a));
		}
		streams.next = (json && !Array.isArray(json) && json.next !== undefined && json.next !== null && json.next !== '') ? String(json.next) : null;
		setMsg(msg, items.length ? '' : (streams.prefix ? 'no stream starts with “' + streams.prefix + '”' : 'no streams yet'));
		$('streams-next').disabled = streams.next === null;
		$('streams-prev').disabled = streams.page === 0;
		$('streams-page').textContent = 'page ' + (streams.page + 1);
	}

	function markCurrentStream() {
		for (const a of $('streams-list').querySelectorAll('a')) {
			const name = a.querySelector('.sname')?.textContent;
			if (name === streams.current)
				a.setAttribute('aria-current', 'page');
			else
				a.removeAttribute('aria-current');
		}
	}

	function initStreams() {
		$('streams-form').addEventListener('submit', (e) => {
			e.preventDefault();
			streams.prefix = $('streams-prefix').value;
			streams.cursors = [''];
			streams.page = 0;
			loadStreams();
		});
		$('streams-next').addEventListener('click', () => {
			if (streams.next === null)
				return;
			streams.cursors[streams.page + 1] = streams.next;
			streams.cursors.length = streams.page + 2;
			streams.page++;
			loadStreams();
		});
		$('streams-prev').addEventListener('click', () => {
			if (streams.page === 0)
				return;
			streams.page--;
			loadStreams();
		});
	}

	/* ---- one stream ---- */

	const sv = { name: null, next: null, dir: 'forward', limit: 50, seq: 0 };

	async function loadStreamInfo(name, seq) {
		const dl = $('stream-info');
		clear(dl);
		try {
			const info = await api('GET', 'streams/' + enc(name) + '/info');
			if (seq !== sv.seq)
				return;
			const add = (k, v) => dl.append(el('div', null, el('dt', { text: k }), el('dd', { text: v })));
			if (info && typeof info === 'object') {
				if (info.version !== undefined)
					add('version', String(info.version));
				const lp = info.last_position ?? info.position;
				if (lp !== undefined)
					add('last position', String(lp));
				const created = info.created ?? info.created_time ?? info.created_at;
				if (created !== undefined)
					add('created', formatTime(created).text);
				const updated = info.updated ?? info.updated_time ?? info.updated_at;
				if (updated !== undefined)
					add('updated', formatTime(updated).text);
			}
		} catch (e) {
			if (seq !== sv.seq)
				return;
			if (e.status === 404)
				dl.append(el('div', null, el('dt', { text: 'status' }), el('dd', { text: 'no such stream (yet)' })));
			else
				dl.append(el('div', null, el('dt', { text: 'info' }), el('dd', { class: 'error', text: e.describe ? e.describe() : String(e) })));
		}
	}

	async function loadStreamPage(append) {
		const seq = sv.seq;
		const msg = $('stream-msg');
		const list = $('stream-events');
		const more = $('stream-more');
		setMsg(msg, 'loading…');
		more.hidden = true;
		let events;
		try {
			const from = append ? sv.next : intOrEmpty($('stream-from'));
			events = asEventArray(await api('GET', 'streams/' + enc(sv.name),
				{ from, limit: sv.limit, direction: sv.dir }));
		} catch (e) {
			if (seq !== sv.seq)
				return;
			/* cairnd answers 404 for a stream without events */
			if (e.status === 404 && e.code === 'stream_not_found' && !append) {
				clear(list);
				setMsg(msg, 'this stream has no events');
			} else {
				setMsg(msg, e.describe ? e.describe() : String(e), 'error');
			}
			return;
		}
		if (seq !== sv.seq)
			return;
		if (!append)
			clear(list);
		for (const ev of events)
			list.append(renderEvent(ev));
		const shown = list.children.length;
		setMsg(msg, shown ? shown + (shown === 1 ? ' event' : ' events') + ' shown' : 'this stream has no events');
		const last = events[events.length - 1];
		sv.next = null;
		if (events.length === sv.limit && last && typeof last.version === 'number') {
			if (sv.dir === 'forward')
				sv.next = last.version + 1;
			else if (last.version > 1)
				sv.next = last.version - 1;
		}
		more.hidden = sv.next === null;
	}

	function showStream(name) {
		sv.seq++;
		sv.name = name;
		streams.current = name;
		markCurrentStream();
		$('stream-name').textContent = name;
		$('stream-append').setAttribute('href', '#/append/' + enc(name));
		clear($('stream-events'));
		document.title = name + ' · cairn';
		sv.dir = $('stream-dir').value;
		sv.limit = pageSize($('stream-limit'));
		loadStreamInfo(name, sv.seq);
		loadStreamPage(false);
	}

	function initStreamView() {
		$('stream-form').addEventListener('submit', (e) => {
			e.preventDefault();
			sv.seq++;
			sv.dir = $('stream-dir').value;
			sv.limit = pageSize($('stream-limit'));
			loadStreamInfo(sv.name, sv.seq);
			loadStreamPage(false);
		});
		$('stream-more').addEventListener('click', () => loadStreamPage(true));
	}

	/* ---- $all ---- */

	const all = { next: null, limit: 50, dir: 'forward', types: '', prefix: '', seq: 0, loaded: false };

	const typeList = (input) => input.value.split(',').map((x) => x.trim()).filter(Boolean).join(',');

	/* "Load more" goes on with the filters of the last Read, not with
	 * whatever the fields hold now. */
	function allParams(from) {
		return {
			from,
			limit: all.limit,
			direction: all.dir === 'backward' ? 'backward' : undefined,
			types: all.types,
			prefix: all.prefix,
		};
	}

	async function loadAll(append) {
		const seq = append ? all.seq : ++all.seq;
		const msg = $('all-msg');
		const list = $('all-events');
		const more = $('all-more');
		setMsg(msg, 'loading…');
		more.hidden = true;
		let events;
		try {
			if (!append) {
				all.limit = pageSize($('all-limit'));
				all.dir = $('all-dir').value;
				all.types = typeList($('all-types'));
				all.prefix = $('all-prefix').value;
			}
			const from = append ? all.next : intOrEmpty($('all-from'));
			events = asEventArray(await api('GET', 'all', allParams(from)));
		} catch (e) {
			if (seq === all.seq)
				setMsg(msg, e.describe ? e.describe() : String(e), 'error');
			return;
		}
		if (seq !== all.seq)
			return;
		all.loaded = true;
		if (!append)
			clear(list);
		for (const ev of events)
			list.append(renderEvent(ev));
		const shown = list.children.length;
		setMsg(msg, shown ? shown + (shown === 1 ? ' event' : ' events') + ' shown' : 'no events match');
		const last = events[events.length - 1];
		all.next = null;
		if (events.length === all.limit && last && typeof last.position === 'number') {
			if (all.dir === 'forward')
				all.next = last.position + 1;
			else if (last.position > 1)
				all.next = last.position - 1;
		}
		more.hidden = all.next === null;
	}

	function initAll() {
		$('all-form').addEventListener('submit', (e) => {
			e.preventDefault();
			loadAll(false);
		});
		$('all-more').addEventListener('click', () => loadAll(true));
	}

	/* ---- live tail (Server-Sent Events) ---- */

	const tail = { es: null, last: null, count: 0, retryMs: 1000, timer: null, running: false,
		types: '', prefix: '' };

	function tailState(state, text) {
		const s = $('tail-state');
		s.className = 'state state-' + state;
		s.textContent = text;
	}

	/* The /subscribe URL.  `from` is the first position to deliver
	 * ("start", "end", or a number).  EventSource cannot send an
	 * Authorization header, so a configured token travels as the
	 * `access_token` query parameter, which cairnd accepts instead
	 * (src/server/auth.c). */
	function subscribeUrl(resumeAfter) {
		/* the filters as they were at Start, also when resuming */
		const params = { types: tail.types, prefix: tail.prefix };
		if (resumeAfter !== null && resumeAfter !== undefined) {
			params.from = resumeAfter + 1;
		} else {
			const start = $('tail-start').value;
			if (start === 'end')
				params.from = 'end';
			else if (start === 'beginning')
				params.from = 'start';
			else
				params.from = intOrEmpty($('tail-from')) || 'start';
		}
		const t = token();
		if (t)
			params.access_token = t;
		return apiUrl('subscribe', params);
	}

	function onTailMessage(m) {
		let ev;
		try {
			ev = parseJson(m.data);
		} catch (e) {
			setMsg($('tail-msg'), 'an event that is not JSON was skipped', 'error');
			return;
		}
		if (typeof ev.position === 'number') {
			if (tail.last !== null && ev.position <= tail.last)
				return; /* already shown (a resume overlapped) */
			tail.last = ev.position;
		}
		tail.retryMs = 1000;
		const list = $('tail-events');
		list.prepend(renderEvent(ev, { fresh: true }));
		while (list.children.length > TAIL_KEEP)
			list.removeChild(list.lastChild);
		tail.count++;
		$('tail-count').textContent = tail.count + (tail.count === 1 ? ' event' : ' events');
		$('tail-last').textContent = tail.last !== null ? 'last position ' + tail.last : '';
	}

	function openTail(resumeAfter) {
		let url;
		try {
			url = subscribeUrl(resumeAfter);
		} catch (e) {
			setMsg($('tail-msg'), e.describe ? e.describe() : String(e), 'error');
			stopTail();
			return;
		}
		const es = new EventSource(url);
		tail.es = es;
		tailState('connecting', 'connecting…');
		es.addEventListener('open', () => {
			if (tail.es !== es)
				return;
			tailState('live', 'live');
			setMsg($('tail-msg'), '');
		});
		es.addEventListener('message', (m) => {
			if (tail.es === es)
				onTailMessage(m);
		});
		es.addEventListener('error', () => {
			if (tail.es !== es)
				return;
			if (es.readyState === EventSource.CONNECTING) {
				/* EventSource reconnects by itself and resumes with
				 * Last-Event-ID (the last position it saw). */
				tailState('connecting', 'reconnecting…');
				return;
			}
			/* Closed for good: the server answered with an error, or
			 * not with an event stream.  Ask it why (EventSource does
			 * not say), then try again with backoff, resuming after
			 * the last event shown, unless retrying cannot help. */
			es.close();
			tail.es = null;
			if (tail.running)
				tailRefused(url);
		});
	}

	/* The answer /subscribe gives to a plain request: null when it is an
	 * event stream (then aborted at once), else an ApiError. */
	async function probeSubscribe(url) {
		const ctl = new AbortController();
		const timer = setTimeout(() => ctl.abort(), 5000);
		try {
			const res = await fetch(url, { cache: 'no-store', signal: ctl.signal });
			if (res.ok)
				return null;
			let code = '';
			let msg = res.statusText;
			try {
				const j = await res.json();
				code = j.error || '';
				msg = j.message || msg;
			} catch (e) { /* not JSON: keep the status text */ }
			return new ApiError(res.status, code, msg);
		} catch (e) {
			return new ApiError(0, 'network', 'the server cannot be reached');
		} finally {
			clearTimeout(timer);
			ctl.abort();
		}
	}

	async function tailRefused(url) {
		tailState('error', 'disconnected');
		const err = await probeSubscribe(url);
		if (!tail.running || tail.es !== null)
			return;
		/* a request the server refuses (bad parameter, bad token) fails
		 * the same way every time: stop, and say why */
		if (err && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) {
			stopTail();
			tailState('error', 'refused');
			setMsg($('tail-msg'), err.describe() + (err.status === 401 ? ' (paste a token in the Token field)' : ''), 'error');
			return;
		}
		const wait = tail.retryMs;
		tail.retryMs = Math.min(tail.retryMs * 2, RETRY_MAX_MS);
		setMsg($('tail-msg'), (err ? err.describe() : 'the subscription closed') + '; retrying in ' +
			Math.round(wait / 1000) + ' s', 'error');
		tail.timer = setTimeout(() => {
			tail.timer = null;
			if (tail.running)
				openTail(tail.last);
		}, wait);
	}

	function startTail() {
		stopTail();
		tail.running = true;
		tail.last = null;
		tail.types = typeList($('tail-types'));
		tail.prefix = $('tail-prefix').value;
		tail.retryMs = 1000;
		$('tail-start-btn').disabled = true;
		$('tail-stop').disabled = false;
		openTail(null);
	}

	function stopTail() {
		tail.running = false;
		if (tail.timer) {
			clearTimeout(tail.timer);
			tail.timer = null;
		}
		if (tail.es) {
			tail.es.close();
			tail.es = null;
		}
		tailState('idle', 'stopped');
		$('tail-start-btn').disabled = false;
		$('tail-stop').disabled = true;
	}

	function initTail() {
		$('tail-form').addEventListener('submit', (e) => {
			e.preventDefault();
			startTail();
		});
		$('tail-stop').addEventListener('click', stopTail);
		$('tail-clear').addEventListener('click', () => {
			clear($('tail-events'));
			tail.count = 0;
			$('tail-count').textContent = '0 events';
		});
		$('tail-start').addEventListener('change', () => {
			$('tail-from-label').hidden = $('tail-start').value !== 'position';
		});
	}

	/* ---- append form ---- */

	function parseJsonField(textarea, name, optional) {
		const s = textarea.value.trim();
		if (s === '' && optional)
			return undefined;
		try {
			return parseJson(s);
		} catch (e) {
			throw new ApiError(0, 'invalid', name + ' is not valid JSON: ' + e.message);
		}
	}

	function showAppendResult(ok, stream, lines) {
		const box = $('ap-result');
		clear(box);
		box.className = 'result ' + (ok ? 'result-ok' : 'result-error');
		box.append(el('p', { class: 'result-head', text: ok ? 'Appended.' : 'Not appended.' }));
		const dl = el('dl');
		for (const [k, v] of lines)
			dl.append(el('dt', { text: k }), el('dd', { text: v }));
		box.append(dl);
		if (ok && stream)
			box.append(el('p', null, el('a', { href: '#/stream/' + enc(stream), text: 'Open stream ' + stream })));
	}

	async function submitAppend(e) {
		e.preventDefault();
		const button = $('ap-submit');
		const stream = $('ap-stream').value;
		const type = $('ap-type').value.trim();
		let body;
		try {
			if (!stream)
				throw new ApiError(0, 'invalid', 'a stream is required');
			if (!type)
				throw new ApiError(0, 'invalid', 'a type is required');
			let expected = $('ap-expected').value;
			if (expected === 'exact') {
				const n = $('ap-expected-n').value.trim();
				if (!/^\d+$/.test(n))
					throw new ApiError(0, 'invalid', 'the exact expected version is a whole number');
				expected = Number(n);
			}
			const ev = { type };
			if ($('ap-data-enc').value === 'base64') {
				const b = $('ap-data').value.replace(/\s+/g, '');
				if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b) || b.length % 4 !== 0)
					throw new ApiError(0, 'invalid', 'data is not valid base64');
				ev.data = b;
				ev.data_encoding = 'base64';
			} else {
				ev.data = parseJsonField($('ap-data'), 'data', false);
			}
			const meta = parseJsonField($('ap-meta'), 'metadata', true);
			if (meta !== undefined)
				ev.metadata = meta;
			const tags = $('ap-tags').value.split(',').map((s) => s.trim()).filter(Boolean);
			if (tags.length)
				ev.tags = tags;
			body = { expected_version: expected, events: [ev] };
		} catch (err) {
			showAppendResult(false, null, [['error', err.code || 'invalid'], ['message', err.message]]);
			return;
		}
		button.disabled = true;
		try {
			const r = await api('POST', 'streams/' + enc(stream), null, body);
			const lines = [['stream', stream]];
			const range = (a, b) => a === b || b === undefined ? String(a) : a + '–' + b;
			if (r && r.first_version !== undefined)
				lines.push(['version', range(r.first_version, r.last_version)]);
			if (r && r.first_position !== undefined)
				lines.push(['position', range(r.first_position, r.last_position)]);
			showAppendResult(true, stream, lines);
			if ($('ap-expected').value === 'exact' && r && typeof r.last_version === 'number')
				$('ap-expected-n').value = String(r.last_version);
			if (streams.current === null || streams.page === 0)
				loadStreams();
		} catch (err) {
			const lines = [['error', err.code || 'HTTP ' + err.status], ['message', err.message]];
			const b = err.body;
			if (b && b.expected !== undefined)
				lines.push(['expected', String(b.expected)]);
			if (b && b.expected_version !== undefined)
				lines.push(['expected version', String(b.expected_version)]);
			if (b && b.actual !== undefined)
				lines.push(['actual', String(b.actual)]);
			if (b && b.actual_version !== undefined)
				lines.push(['actual version', String(b.actual_version)]);
			if (err.status)
				lines.push(['status', 'HTTP ' + err.status]);
			showAppendResult(false, stream, lines);
		} finally {
			button.disabled = false;
		}
	}

	function initAppend() {
		$('append-form').addEventListener('submit', submitAppend);
		$('ap-expected').addEventListener('change', () => {
			$('ap-expected-n').hidden = $('ap-expected').value !== 'exact';
		});
	}

	/* ---- routing ---- */

	function route() {
		const h = location.hash || '#/all';
		let view = 'all';
		let arg = null;
		const m = /^#\/(stream|append|all|tail)(?:\/(.*))?$/.exec(h);
		if (m) {
			view = m[1];
			if (m[2] !== undefined) {
				try {
					arg = decodeURIComponent(m[2]);
				} catch (e) {
					arg = null;
				}
			}
		}
		if (view === 'stream' && arg === null)
			view = 'all';
		for (const s of document.querySelectorAll('.view'))
			s.hidden = s.id !== 'view-' + view;
		for (const a of document.querySelectorAll('.tabs a')) {
			if (a.dataset.view === view)
				a.setAttribute('aria-current', 'page');
			else
				a.removeAttribute('aria-current');
		}
		if (view !== 'stream') {
			streams.current = null;
			markCurrentStream();
			document.title = (view === 'all' ? '$all' : view === 'tail' ? 'Live tail' : 'Append') + ' · cairn';
		}
		if (view === 'stream') {
			showStream(arg);
		} else if (view === 'all') {
			if (!all.loaded)
				loadAll(false);
		} else if (view === 'append') {
			if (arg !== null)
				$('ap-stream').value = arg;
		}
		return view;
	}

	function reloadCurrent() {
		loadStreams();
		checkHealth();
		const view = route();
		if (view === 'all')
			loadAll(false);
		if (tail.running)
			startTail();
	}

	function init() {
		initToken();
		initStreams();
		initStreamView();
		initAll();
		initTail();
		initAppend();
		window.addEventListener('hashchange', () => {
			/* "#main" (the skip link) is no route: stay where we are */
			if (!location.hash.startsWith('#/') && location.hash !== '')
				return;
			route();
			$('main').focus({ preventScroll: true });
		});
		route();
		loadStreams();
		checkHealth();
		setInterval(checkHealth, HEALTH_EVERY_MS);
		document.documentElement.dataset.ready = '1';
	}

	init();
})();
