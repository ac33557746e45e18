// The admin console's only script (served as /console/console.js; docs/console.md).
//
// The admin token lives in the `token` variable below and nowhere else: not in
// the address, a cookie, localStorage or sessionStorage. A reload forgets it.
// Everything shown from the API is put in the page as text (textContent and
// DOM nodes), never as HTML, so a device named `<img onerror=...>` stays text.

const API = new URL('../api/v1/', location.href);
const REVOCATION_REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn'];
const ENROLLMENT_LIMIT = 100;
const CERTIFICATE_LIMIT = 500;
/** Devices shown with their deliveries and certificates (two API calls each). */
const DEVICE_LIMIT = 200;

/** The admin token: only here, only in memory. */
let token = null;
let currentView = 'health';

const $ = (id) => document.getElementById(id);

// ---- DOM -----------------------------------------------------------------------------

/** An element; string children become text nodes (Element#append), never markup. */
function h(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function table(headers, rows, props = {}) {
  return h('table', props, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows));
}

const td = (value, props = {}) => h('td', props, value === null || value === undefined || value === '' ? '—' : value);
const stateCell = (state, props = {}) => td(state, { ...props, class: `state state-${String(state).toLowerCase()}` });
const when = (iso) => (iso ? String(iso).replace('T', ' ').replace(/\.\d+Z$/, 'Z') : null);
const text = (v) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function showError(message) {
  $('error').textContent = message ?? '';
}
function showNotice(message) {
  $('notice').textContent = message ?? '';
}

// ---- API -----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const error = body && typeof body.error === 'string' ? body.error : `HTTP ${status}`;
    const issues = Array.isArray(body?.issues) ? body.issues.map((i) => `${i.path}: ${i.message}`).join('; ') : '';
    super(issues ? `${error} (${issues})` : error);
    this.status = status;
  }
}

/** One API call with the token; answers {status, ok, body, headers}. A 401 signs out. */
async function call(method, path, body) {
  const res = await fetch(new URL(path, API), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
  });
  const raw = await res.text();
  let parsed = null;
  try {
    parsed = raw ? JSON.parse(raw) : null;
  } catch {
    parsed = { error: `HTTP ${res.status}: the answer is not JSON` };
  }
  if (res.status === 401 && token !== null) signOut(new ApiError(401, parsed).message);
  return { status: res.status, ok: res.ok, body: parsed, headers: res.headers };
}

async function get(path) {
  const r = await call('GET', path);
  if (!r.ok) throw new ApiError(r.status, r.body);
  return r.body;
}

/** Every row of a paged list (GET /profiles, ...): follows X-Next-Cursor as `after`, 1,000 rows a request. */
async function getAll(path) {
  const rows = [];
  let after = null;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const r = await call('GET', `${path}${sep}limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    if (!r.ok) throw new ApiError(r.status, r.body);
    rows.push(...r.body);
    after = r.headers.get('x-next-cursor');
    if (!after) return rows;
  }
}

/** GET that answers null on a 404 (an endpoint this gateway does not have yet, or a missing record). */
async function getOptional(path) {
  const r = await call('GET', path);
  if (r.status === 404) return null;
  if (!r.ok) throw new ApiError(r.status, r.body);
  return r.body;
}

// ---- sign in and out -----------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const input = $('token');
  const candidate = input.value.trim();
  input.value = '';
  $('login-error').textContent = '';
  if (!candidate) {
    $('login-error').textContent = 'enter the admin token';
    return;
  }
  token = candidate;
  let r;
  try {
    r = await call('GET', 'devices?limit=1'); // any admin call checks the token; one row keeps it cheap
  } catch (e) {
    token = null;
    $('login-error').textContent = `cannot reach the gateway: ${e.message}`;
    return;
  }
  if (!r.ok) {
    token = null;
    $('login-error').textContent = new ApiError(r.status, r.body).message;
    return;
  }
  $('login').hidden = true;
  $('app').hidden = false;
  $('nav').hidden = false;
  await show('health');
}

function signOut(reason) {
  token = null;
  $('view').replaceChildren();
  showError('');
  showNotice('');
  $('app').hidden = true;
  $('nav').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = reason ?? '';
  $('token').focus();
}

// ---- views ---------------------------------------------------------------------------

const views = { health: healthView, devices: devicesView, enrollments: enrollmentsView, certificates: certificatesView, profiles: profilesView };

async function show(name, { keepNotice = false } = {}) {
  currentView = name;
  for (const b of document.querySelectorAll('nav [data-view]')) {
    if (b.dataset.view === name) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  showError('');
  if (!keepNotice) showNotice('');
  const view = $('view');
  view.replaceChildren(h('p', { class: 'muted' }, 'loading…'));
  view.setAttribute('aria-busy', 'true');
  try {
    const content = await views[name]();
    if (token === null || currentView !== name) return; // signed out or moved on meanwhile
    view.replaceChildren(...[content].flat().filter((c) => c !== null && c !== undefined && c !== false));
  } catch (e) {
    if (token === null) return;
    view.replaceChildren();
    showError(e.message);
  } finally {
    view.removeAttribute('aria-busy');
  }
}

/** The component list of GET /health, whatever its exact shape: an array or a name -> component map. */
function componentsOf(body) {
  const list = body?.components ?? body?.checks ?? (Array.isArray(body) ? body : null);
  if (Array.isArray(list)) return list;
  if (list && typeof list === 'object') return Object.entries(list).map(([name, c]) => (c && typeof c === 'object' ? { name, ...c } : { name, state: c }));
  return [];
}

async function healthView() {
  const body = await getOptional('health');
  const title = h('h2', {}, 'Component health');
  if (body === null) return [title, h('p', { id: 'health-unavailable', class: 'muted' }, 'health not available (this gateway has no GET /api/v1/health)')];
  const overall = body.status ?? body.state;
  const rows = componentsOf(body).map((c) => {
    const state = c.state ?? c.status;
    const rest = Object.entries(c).filter(([k]) => !['name', 'component', 'state', 'status'].includes(k));
    return h(
      'tr',
      {},
      td(text(c.name ?? c.component)),
      stateCell(text(state)),
      td(rest.length ? rest.map(([k, v]) => h('div', {}, `${k}: ${text(v)}`)) : null),
    );
  });
  return [
    title,
    overall !== undefined ? h('p', {}, 'Overall: ', h('span', { class: `state-${text(overall).toLowerCase()}`, id: 'health-overall' }, text(overall))) : null,
    table(['component', 'state', 'details'], rows, { id: 'health-table' }),
  ];
}

function certificateStatus(c, now = Date.now()) {
  if (c.revokedAt) return 'revoked';
  return Date.parse(c.notAfter) <= now ? 'expired' : 'valid';
}

const deviceName = (d) => d.name ?? d.reported?.name ?? '(unnamed)';

async function profileNames() {
  const profiles = await getAll('profiles');
  return new Map(profiles.map((p) => [p.id, p.name]));
}

async function devicesView() {
  // GET /devices is paged: one page of DEVICE_LIMIT; X-Next-Cursor says there are more.
  const [page, names] = await Promise.all([call('GET', `devices?limit=${DEVICE_LIMIT}`), profileNames()]);
  if (!page.ok) throw new ApiError(page.status, page.body);
  const devices = page.body;
  const more = page.headers.get('x-next-cursor') !== null;
  const title = h('h2', {}, `Devices (${devices.length}${more ? '+' : ''})`);
  if (devices.length === 0) return [title, h('p', { class: 'muted' }, 'no devices')];
  const details = await Promise.all(
    devices.slice(0, DEVICE_LIMIT).map(async (d) => {
      const [deliveries, certificates] = await Promise.all([get(`devices/${encodeURIComponent(d.id)}/deliveries`), get(`certificates?deviceId=${encodeURIComponent(d.id)}`)]);
      return { d, deliveries, certificates };
    }),
  );
  const profile = (id) => (id ? names.get(id) ?? id : null);
  return [
    title,
    more ? h('p', { class: 'muted', id: 'devices-more' }, `showing the first ${DEVICE_LIMIT} devices; page through the rest with GET /api/v1/devices`) : null,
    ...details.map(({ d, deliveries, certificates }) =>
      h(
        'article',
        { class: 'device', 'data-device-id': d.id },
        h('h3', { class: 'device-name' }, deviceName(d)),
        h(
          'p',
          { class: 'muted' },
          `${d.platform} · id ${d.id}`,
          d.serialNumber || d.reported?.serialNumber ? ` · serial ${d.serialNumber ?? d.reported.serialNumber}` : '',
          d.blockedAt ? h('span', { class: 'state-revoked' }, ` · blocked since ${when(d.blockedAt)}`) : '',
          d.retiredAt
            ? h('span', { class: 'state-revoked' }, ` · retired ${when(d.retiredAt)}`)
            : d.retiringSince
              ? h('span', { class: 'state-revoked' }, ` · retiring since ${when(d.retiringSince)} (profiles being removed)`)
              : '',
        ),
        deliveries.length === 0
          ? h('p', { class: 'muted' }, 'no profile deliveries reported')
          : table(
              ['profile', 'version', 'delivery', 'certificate', 'error', 'detail', 'updated'],
              deliveries.map((s) =>
                h('tr', { 'data-profile-id': s.profileId }, td(profile(s.profileId)), td(s.profileVersion), stateCell(s.state), td(s.certificateSerial ?? s.thumbprint, { class: 'mono' }), td(s.errorCode), td(s.detail), td(when(s.updatedAt))),
              ),
              { class: 'deliveries' },
            ),
        certificates.length === 0
          ? h('p', { class: 'muted' }, 'no certificates')
          : table(
              ['serial', 'subject', 'kind', 'profile', 'status', 'not after'],
              certificates.map((c) => h('tr', { 'data-serial': c.serialNumber }, td(c.serialNumber, { class: 'mono' }), td(c.subject), td(c.kind), td(profile(c.profileId)), stateCell(certificateStatus(c)), td(when(c.notAfter)))),
              { class: 'certificates' },
            ),
      ),
    ),
  ];
}

async function enrollmentsView() {
  const [rows, devices] = await Promise.all([get(`enrollments?limit=${ENROLLMENT_LIMIT}`), get('devices?limit=1000')]);
  const deviceNames = new Map(devices.map((d) => [d.id, deviceName(d)]));
  const timeline = h('section', { id: 'timeline', class: 'timeline', hidden: true });
  const open = async (transactionId) => {
    showError('');
    timeline.hidden = false;
    timeline.replaceChildren(h('p', { class: 'muted' }, 'loading…'));
    try {
      const t = await get(`enrollments/${encodeURIComponent(transactionId)}`);
      timeline.replaceChildren(
        h('h3', {}, 'Transaction ', h('span', { class: 'mono', id: 'timeline-transaction' }, t.transactionId), ': ', h('span', { class: `state-${text(t.status)}`, id: 'timeline-status' }, text(t.status))),
        table(
          ['at', 'step', 'reason', 'actor', 'details'],
          t.timeline.map((e) => h('tr', {}, td(when(e.at)), td(e.type, { class: 'mono' }), td(e.reasonCode), td(e.actor), td(h('pre', {}, JSON.stringify(e.details, null, 2))))),
          { id: 'timeline-table' },
        ),
      );
    } catch (e) {
      timeline.replaceChildren();
      timeline.hidden = true;
      showError(e.message);
    }
  };
  const body = rows.map((e) =>
    h(
      'tr',
      { 'data-transaction-id': e.transactionId },
      td(when(e.at)),
      h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => open(e.transactionId), title: 'show the timeline' }, e.transactionId)),
      stateCell(e.status),
      td(e.reasonCode ? `${e.reasonCode}${e.reason ? `: ${e.reason}` : ''}` : null),
      td(e.kind),
      td(e.deviceId ? deviceNames.get(e.deviceId) ?? e.deviceId : null, { title: e.deviceId }),
      td(e.certificateSerial, { class: 'mono' }),
    ),
  );
  return [
    h('h2', {}, `Recent enrollments (newest first, at most ${ENROLLMENT_LIMIT})`),
    rows.length === 0 ? h('p', { class: 'muted' }, 'no enrollments yet') : table(['at', 'transaction', 'status', 'reason', 'kind', 'device', 'certificate'], body, { id: 'enrollments-table' }),
    timeline,
  ];
}

async function revoke(serial, reason) {
  if (!confirm(`Revoke certificate ${serial} (${reason})? Certificates renewed from it are revoked too. This cannot be undone.`)) return;
  const r = await call('POST', `certificates/${encodeURIComponent(serial)}/revoke`, { reason });
  if (!r.ok) {
    // Show the list as it is now (someone else may have revoked it), then why this failed.
    const message = `revoking ${serial} failed: ${new ApiError(r.status, r.body).message}`;
    if (r.status !== 401) await show('certificates');
    showError(message);
    return;
  }
  const also = (r.body.revoked ?? []).filter((s) => s !== serial);
  await show('certificates', { keepNotice: true });
  showNotice(`certificate ${serial} revoked (${reason})${also.length ? `, and its renewals ${also.join(', ')}` : ''}`);
}

async function certificatesView() {
  const r = await call('GET', `certificates?limit=${CERTIFICATE_LIMIT}`);
  if (!r.ok) throw new ApiError(r.status, r.body);
  // Names for the device column: the first 1,000 devices (one page); a certificate of a later one shows its id.
  const [devices, names] = await Promise.all([get('devices?limit=1000'), profileNames()]);
  const deviceNames = new Map(devices.map((d) => [d.id, deviceName(d)]));
  const certificates = [...r.body].reverse(); // newest first
  const rows = certificates.map((c) => {
    const status = certificateStatus(c);
    const reason = h('select', { 'aria-label': `revocation reason for ${c.serialNumber}` }, REVOCATION_REASONS.map((x) => h('option', { value: x }, x)));
    const action =
      status === 'revoked'
        ? td(`revoked ${when(c.revokedAt)} (${c.revocationReason ?? 'unspecified'})`)
        : h('td', {}, h('span', { class: 'revoke' }, reason, h('button', { type: 'button', class: 'danger', onclick: () => revoke(c.serialNumber, reason.value) }, 'Revoke')));
    return h(
      'tr',
      { 'data-serial': c.serialNumber },
      td(c.serialNumber, { class: 'mono' }),
      td(c.subject),
      td(c.deviceId ? deviceNames.get(c.deviceId) ?? c.deviceId : null),
      td(c.profileId ? names.get(c.profileId) ?? c.profileId : c.kind),
      td(when(c.issuedAt)),
      td(when(c.notAfter)),
      stateCell(status),
      action,
    );
  });
  const more = r.headers.get('x-next-cursor') ? h('p', { class: 'muted' }, `showing the first ${certificates.length}; page through the rest with GET /api/v1/certificates`) : null;
  return [
    h('h2', {}, `Certificates (${certificates.length})`),
    certificates.length === 0 ? h('p', { class: 'muted' }, 'no certificates issued yet') : table(['serial', 'subject', 'device', 'profile', 'issued', 'not after', 'status', 'revoke'], rows, { id: 'certificates-table' }),
    more,
  ];
}

/** The numbers of GET /profiles/:id/report (`{deliveries: {...}, certificates: {...}}`), or "—". */
function counts(group) {
  if (!group || typeof group !== 'object') return '—';
  const parts = Object.entries(group).filter(([, v]) => typeof v === 'number');
  return parts.length ? parts.map(([k, v]) => `${k} ${v}`).join(' · ') : '—';
}

async function profilesView() {
  const profiles = await getAll('profiles');
  const reports = await Promise.all(profiles.map((p) => getOptional(`profiles/${encodeURIComponent(p.id)}/report`)));
  const rows = profiles.map((p, i) => {
    const report = reports[i];
    return h(
      'tr',
      { 'data-profile-id': p.id },
      td(p.name),
      td(p.version),
      td(p.scope),
      td(p.subjectName, { class: 'mono' }),
      td(report ? text(report.devices ?? '—') : '—', { class: 'report-devices' }),
      td(report ? counts(report.deliveries) : '—', { class: 'report-deliveries' }),
      td(report ? counts(report.certificates) : '—', { class: 'report-certificates' }),
    );
  });
  return [
    h('h2', {}, `Profiles (${profiles.length})`),
    profiles.length === 0 ? h('p', { class: 'muted' }, 'no profiles') : table(['name', 'version', 'scope', 'subject', 'devices', 'deliveries', 'certificates'], rows, { id: 'profiles-table' }),
  ];
}

// ---- wiring --------------------------------------------------------------------------

$('login-form').addEventListener('submit', signIn);
$('sign-out').addEventListener('click', () => signOut('signed out'));
$('refresh').addEventListener('click', () => show(currentView));
for (const b of document.querySelectorAll('nav [data-view]')) b.addEventListener('click', () => show(b.dataset.view));
$('token').focus();
