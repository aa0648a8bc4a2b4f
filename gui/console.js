// The SureHA console page: polls /api/state every half second and draws the cluster; every
// change is a POST carrying the session's CSRF token. The browser keeps no password: Connect
// sends it once, the console logs in and forgets it.
'use strict';

const $ = (s) => document.querySelector(s);
const state = { csrf: '', since: 0, view: null, selected: null, link: null, connected: false, timer: null };

async function api(method, path, fields) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (method === 'POST') {
    opts.headers['X-SureHA-CSRF'] = state.csrf;
    opts.headers['Content-Type'] = 'application/x-www-form-urlencoded';
    opts.body = new URLSearchParams(fields || {}).toString();
  }
  try {
    const r = await fetch(path, opts);
    let data = {};
    try { data = await r.json(); } catch (e) { data = { error: 'the console sent no answer' }; }
    return { status: r.status, data };
  } catch (e) {
    return { status: 0, data: { error: 'the console does not answer (' + e.message + ')' } };
  }
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k.includes('-')) e.setAttribute(k, v); else e[k] = v;
  }
  for (const k of kids) e.append(k);
  return e;
}

function message(level, text, node) {
  const list = $('#messages');
  const time = new Date().toISOString().slice(0, 19).replace('T', ' ');
  list.append(el('li', { class: 'msg ' + level.toLowerCase(), 'data-level': level },
    el('span', { class: 'level' }, level), ' ', el('span', { class: 'time' }, time), ' ',
    el('span', { class: 'node' }, node || 'console'), ' ', text));
  while (list.children.length > 200) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

function addEvents(events) {
  const list = $('#messages');
  for (const e of events) {
    list.append(el('li', { class: 'msg ' + e.level.toLowerCase(), 'data-level': e.level },
      el('span', { class: 'level' }, e.level), ' ', el('span', { class: 'time' }, e.time.slice(0, 19)), ' ',
      el('span', { class: 'node' }, e.node), ' ', e.text));
  }
  while (list.children.length > 200) list.firstElementChild.remove();
  if (events.length) list.scrollTop = list.scrollHeight;
}

function select(service, node) {
  state.selected = service ? { service, node } : null;
  state.link = null;
  draw();
}

function drawServer(box, node, services) {
  box.replaceChildren();
  if (!node) { box.append(el('p', { class: 'empty' }, 'no peer known')); return; }
  box.setAttribute('data-node', node.name);
  box.setAttribute('data-icon', node.icon);
  const icon = el('div', { class: 'icon ' + node.icon, 'data-icon': node.icon },
    el('div', { class: 'name' }, node.name + (node.local ? ' (via)' : '')),
    el('div', { class: 'word' }, node.label + (node.status !== 'UP' ? ' · ' + node.status : '')));
  const svcs = el('ul', { class: 'services', 'aria-label': 'Services on ' + node.name });
  for (const s of services) {
    const c = s.cells.find((x) => x.node === node.name);
    if (!c) continue;
    const chosen = state.selected && state.selected.service === s.name && state.selected.node === node.name;
    const b = el('button', { class: 'svc ' + c.class + (chosen ? ' chosen' : ''), type: 'button',
      'data-service': s.name, 'data-node': node.name, 'data-class': c.class, 'data-word': c.word,
      title: s.name + ' (' + s.type + ') on ' + node.name + ': ' + c.word },
    el('span', { class: 'svc-name' }, s.name), ' ', el('span', { class: 'svc-state' }, c.label + ' · ' + c.word));
    if (c.class === 'fault') b.prepend(el('span', { class: 'mark', 'aria-hidden': 'true' }, '✖ '));
    b.setAttribute('aria-pressed', chosen ? 'true' : 'false');
    b.addEventListener('click', () => select(s.name, node.name));
    svcs.append(el('li', {}, b));
  }
  const nics = el('ul', { class: 'nics', 'aria-label': 'NICs of ' + node.name });
  for (const n of node.nics) {
    nics.append(el('li', { class: 'nic ' + (n.state === 'OK' ? 'ok' : n.state === 'ERR' ? 'err' : 'unknown'), 'data-nic': n.name, 'data-state': n.state },
      'NIC ' + n.name + ': ' + n.state));
  }
  box.append(icon, svcs, nics);
}

let drawn = '';

function draw() {
  const v = state.view;
  // Redraw only what changed: an unchanged page keeps its elements (and focus) as they are.
  const now = JSON.stringify([v, state.selected, state.link, state.connected]);
  if (now === drawn) return;
  drawn = now;
  $('#where').textContent = state.connected ? (v ? 'connected via ' + v.via : 'connected') : 'not connected';
  const sel = state.selected ? 'Selected: service ' + state.selected.service + ' on ' + state.selected.node
    : state.link ? 'Selected: link ' + state.link : 'Nothing selected';
  $('#selection').textContent = sel;
  if (!v) {
    for (const i of [0, 1]) $('#server-' + i).replaceChildren();
    $('#cables').replaceChildren();
    $('#notes').replaceChildren();
    return;
  }
  const lock = $('#locked');
  lock.hidden = !v.locked;
  lock.textContent = v.locked ? 'LOCKED by ' + v.locked : '';
  $('#tb-lock').textContent = v.locked ? 'Unlock' : 'Lock';
  const nodes = v.nodes.slice().sort((a, b) => a.name.localeCompare(b.name));
  drawServer($('#server-0'), nodes[0], v.services);
  drawServer($('#server-1'), nodes[1], v.services);
  const cables = $('#cables');
  cables.replaceChildren();
  for (const l of v.links) {
    const chosen = state.link === l.name;
    const b = el('button', { class: 'cable ' + (l.state === 'OK' ? 'ok' : 'err') + (chosen ? ' chosen' : ''), type: 'button',
      'data-link': l.name, 'data-state': l.state },
    el('span', { class: 'wire', 'aria-hidden': 'true' }), l.name + ' (' + l.type + ') ' + l.state);
    b.addEventListener('click', () => { state.selected = null; state.link = l.name; draw(); });
    cables.append(b);
  }
  if (!v.links.length) cables.append(el('p', { class: 'empty' }, 'no heartbeat link'));
  const notes = $('#notes');
  notes.replaceChildren(...v.notes.map((n) => el('li', {}, n)));
}

async function poll() {
  clearTimeout(state.timer);
  if (!state.connected) return;
  const r = await api('GET', '/api/state?since=' + state.since);
  if (r.status === 200) {
    state.view = r.data.view;
    addEvents(r.data.events);
    state.since = r.data.seq;
    const p = $('#problem');
    p.hidden = !r.data.error;
    p.textContent = r.data.error || '';
    draw();
  } else if (r.status === 401 || r.status === 409) {
    state.connected = false;
    state.view = null;
    draw();
    message('ERROR', r.data.error || 'disconnected');
    return;
  }
  state.timer = setTimeout(poll, 500);
}

function showText(title, text) {
  $('#text-title').textContent = title;
  $('#text-body').textContent = text;
  $('#text-dialog').showModal();
}

async function post(path, fields, what) {
  const r = await api('POST', path, fields);
  if (r.status !== 200) message('ERROR', what + ': ' + (r.data.error || 'failed'));
  return r;
}

async function act(a) {
  for (const d of document.querySelectorAll('#menus details')) d.open = false;
  const sel = state.selected;
  switch (a) {
    case 'connect': openConnect(); return;
    case 'disconnect': {
      await post('/api/disconnect', {}, 'Disconnect');
      state.connected = false; state.view = null; state.selected = null;
      await session();
      message('INFO', 'disconnected');
      draw();
      return;
    }
    case 'bringin': case 'bringout': case 'takeover': case 'failover': case 'review': case 'remove': {
      if (!sel) { message('WARNING', 'choose a service on a server first'); return; }
      if (a === 'remove' && !confirm('Remove service ' + sel.service + ' from the cluster?')) return;
      message('INFO', a + ' ' + sel.service + ' on ' + sel.node + '…');
      const r = await post('/api/op', { verb: a, service: sel.service, node: sel.node }, a + ' ' + sel.service);
      if (r.status === 200 && a === 'review') showText('Service ' + sel.service, r.data.text);
      return;
    }
    case 'lock': case 'unlock': {
      const verb = a === 'lock' && state.view && state.view.locked ? 'unlock' : a;
      await post('/api/tool', { verb }, verb);
      return;
    }
    case 'network': {
      const r = await post('/api/tool', { verb: 'network' }, 'Network');
      if (r.status === 200) showText('Network (AutoGet)', r.data.text);
      return;
    }
    case 'stop': {
      if (!sel) { message('WARNING', 'choose a server first (one of its services)'); return; }
      if (!confirm('Stop every service on ' + sel.node + ' and SureHA there?')) return;
      await post('/api/tool', { verb: 'stop', node: sel.node }, 'Stop ' + sel.node);
      return;
    }
    case 'license': openLicense(); return;
    case 'link-review': case 'link-remove': {
      if (!state.link) { message('WARNING', 'choose a heartbeat link first'); return; }
      const verb = a === 'link-review' ? 'review' : 'remove';
      if (verb === 'remove' && !confirm('Remove link ' + state.link + '?')) return;
      const r = await post('/api/privnet', { verb, name: state.link }, 'link ' + verb);
      if (r.status === 200 && verb === 'review') showText('Link ' + state.link, r.data.text);
      return;
    }
    default:
      if (a.startsWith('create-')) openCreate(a.slice(7));
  }
}

function openConnect() {
  $('#connect-error').textContent = '';
  $('#connect-password').value = '';
  $('#connect-dialog').showModal();
  $('#connect-host').focus();
}

async function connect(ev) {
  ev.preventDefault();
  const f = new FormData($('#connect-form'));
  $('#connect-error').textContent = 'connecting…';
  const r = await api('POST', '/api/connect', { host: f.get('host'), user: f.get('user'), password: f.get('password') });
  $('#connect-password').value = '';
  if (r.status !== 200) {
    const fields = r.data.fields || {};
    $('#connect-error').textContent = r.data.error + (Object.keys(fields).length ? ': ' + Object.values(fields).join('; ') : '');
    return;
  }
  $('#connect-dialog').close();
  message('INFO', r.data.text);
  state.connected = true;
  poll();
}

let form = { kind: '', touched: new Set() };

async function openCreate(kind) {
  const r = await api('GET', '/api/form?kind=' + encodeURIComponent(kind));
  if (r.status !== 200) { message('ERROR', r.data.error); return; }
  form = { kind, touched: new Set() };
  $('#form-title').textContent = kind === 'service' ? 'Create a service' : 'Create a ' + kind + ' link';
  const box = $('#form-fields');
  box.replaceChildren();
  const keys = [{ name: 'name', default: '', range: '1 to 32 letters, digits, _ or -', required: true }].concat(r.data.keys);
  for (const k of keys) {
    const input = el('input', { name: k.name, id: 'field-' + k.name, value: k.default || '', autocomplete: 'off' });
    input.setAttribute('aria-describedby', 'error-' + k.name);
    input.addEventListener('change', () => { form.touched.add(k.name); checkForm(false); });
    box.append(el('label', { htmlFor: 'field-' + k.name }, k.name + (k.required ? ' *' : '') + ' ', el('small', {}, '(' + k.range + ')')),
      input, el('p', { class: 'error', id: 'error-' + k.name, 'data-error': k.name }));
  }
  $('#form-error').textContent = '';
  $('#form-dialog').showModal();
  $('#field-name').focus();
}

function formFields() {
  const f = { kind: form.kind };
  for (const i of document.querySelectorAll('#form-fields input')) {
    if (i.name === 'name' || i.value.trim() !== '') f[i.name] = i.value;
  }
  return f;
}

async function checkForm(really) {
  const r = await api('POST', really ? '/api/create' : '/api/check', formFields());
  const fields = (r.data && r.data.fields) || {};
  for (const p of document.querySelectorAll('#form-fields .error')) {
    const k = p.getAttribute('data-error');
    const show = really || form.touched.has(k);
    p.textContent = show && fields[k] ? fields[k] : '';
    const input = $('#field-' + k);
    if (input) input.setAttribute('aria-invalid', show && fields[k] ? 'true' : 'false');
  }
  if (!really) return;
  if (r.status === 200) {
    $('#form-dialog').close();
    message('INFO', 'created: ' + (r.data.text || '').trim());
  } else {
    const bad = Object.keys(fields);
    $('#form-error').textContent = (r.data.error || 'failed') + (bad.length ? ': ' + bad.join(', ') : '');
    const first = bad.length && $('#field-' + bad[0]);
    if (first) { first.scrollIntoView({ block: 'center' }); first.focus(); }
  }
}

async function openLicense() {
  const r = await post('/api/tool', { verb: 'license' }, 'License');
  $('#license-list').textContent = r.status === 200 ? r.data.text : '';
  for (const p of document.querySelectorAll('#license-form .error')) p.textContent = '';
  $('#license-dialog').showModal();
}

async function storeLicense(ev) {
  ev.preventDefault();
  const f = Object.fromEntries(new FormData($('#license-form')));
  const r = await api('POST', '/api/license', f);
  const fields = r.data.fields || {};
  for (const p of document.querySelectorAll('#license-form [data-error]')) p.textContent = fields[p.getAttribute('data-error')] || '';
  $('#license-error').textContent = r.status === 200 ? 'stored' : r.data.error;
  if (r.status === 200) openLicense();
}

async function session() {
  const r = await api('GET', '/api/session');
  if (r.status !== 200) { message('ERROR', r.data.error || 'no session: reload the page'); return; }
  state.csrf = r.data.csrf;
  state.connected = r.data.connected;
  if (state.connected) poll(); else draw();
}

document.addEventListener('DOMContentLoaded', () => {
  for (const b of document.querySelectorAll('[data-act]')) b.addEventListener('click', () => act(b.getAttribute('data-act')));
  for (const b of document.querySelectorAll('[data-close]')) b.addEventListener('click', () => b.closest('dialog').close());
  $('#connect-form').addEventListener('submit', connect);
  $('#create-form').addEventListener('submit', (ev) => { ev.preventDefault(); checkForm(true); });
  $('#license-form').addEventListener('submit', storeLicense);
  session().then(() => { if (!state.connected) openConnect(); });
});
