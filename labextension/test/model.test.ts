import { describe, expect, it } from 'vitest';

import {
  ApiError,
  controlFor,
  fieldLink,
  FolderFailures,
  folderState,
  formatBytes,
  IField,
  isKept,
  IKindForm,
  keptHome,
  knownDate,
  missingCredentials,
  needsAttention,
  newSpace,
  IResponseLike,
  ISpace,
  SpacesModel,
  ITimers,
  spaceActions,
  spaceAt,
  spaceLabel,
  usage,
  validateField,
  validateName,
  withOffer
} from '../src/model';

/** A field as the server sends it (openapi's Field), with what a test changes. */
function field(over: Partial<IField> & Pick<IField, 'name'>): IField {
  return {
    label: over.name,
    type: 'string',
    required: false,
    secret: false,
    help: '',
    link: '',
    ...over
  };
}

const USERNAME = field({
  name: 'username',
  label: 'User name',
  required: true
});
const PASSWORD = field({
  name: 'password',
  label: 'Password',
  type: 'password',
  required: true,
  secret: true
});

function space(over: Partial<ISpace>): ISpace {
  return {
    name: 'b2drop',
    kind: 'webdav',
    mount: 'b2drop',
    mode: 'rw',
    read_only: false,
    origin: 'catalog',
    description: '',
    status: 'needs-credentials',
    reason: '',
    posix: false,
    posix_reason: '',
    credential_fields: [USERNAME, PASSWORD],
    has_credentials: false,
    used_bytes: null,
    quota_bytes: null,
    settings: { url: 'http://dav', label: 'B2DROP' },
    ...over
  };
}

const HOME = space({
  name: 'home',
  kind: 'home',
  mount: '',
  status: 'mounted',
  posix: true,
  credential_fields: [],
  used_bytes: 3435973837,
  quota_bytes: 20 * 2 ** 30
});

const WEBDAV: IKindForm = {
  label: 'WebDAV',
  login: false,
  credential_fields: [USERNAME, PASSWORD],
  setting_fields: [
    field({
      name: 'url',
      label: 'Address (URL)',
      type: 'url',
      required: true
    }),
    field({ name: 'label', label: 'Label' }),
    field({ name: 'verify_tls', label: 'Check TLS', type: 'boolean' }),
    field({
      name: 'chunk_mib',
      label: 'Chunk (MiB)',
      type: 'integer',
      minimum: 1,
      maximum: 1024
    })
  ]
};

function reply(status: number, body: unknown): IResponseLike {
  return {
    status,
    ok: status >= 200 && status < 300,
    text: async () => (body === undefined ? '' : JSON.stringify(body))
  };
}

/** A fake server: answers by "METHOD path"; records every request. */
class FakeServer {
  calls: { method: string; path: string; body?: unknown }[] = [];
  spaces: ISpace[] = [HOME, space({})];
  kept: string[] = [''];
  handlers: Record<
    string,
    (body: unknown) => IResponseLike | Promise<IResponseLike>
  > = {};
  request = async (
    path: string,
    init: { method: string; body?: string }
  ): Promise<IResponseLike> => {
    const body = init.body === undefined ? undefined : JSON.parse(init.body);
    this.calls.push({ method: init.method, path, body });
    const handler = this.handlers[`${init.method} ${path}`];
    if (handler) {
      return handler(body);
    }
    if (init.method === 'GET' && path === 'spaces') {
      return reply(200, {
        isolation: 'basic',
        user_kinds: ['webdav'],
        kinds: { webdav: WEBDAV },
        spaces: this.spaces
      });
    }
    if (init.method === 'GET' && path === 'kept') {
      return reply(200, { kept: this.kept, source: 'home' });
    }
    return reply(404, { message: `There is no space named 'x'`, reason: null });
  };
  count(method: string, path: string): number {
    return this.calls.filter(c => c.method === method && c.path === path)
      .length;
  }
}

class FakeTimers implements ITimers {
  queue: { fn: () => void; ms: number; id: number }[] = [];
  next = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.queue.push({ fn, ms, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.queue = this.queue.filter(t => t.id !== handle);
  }
  fire(): number {
    const t = this.queue.shift();
    if (!t) {
      throw new Error('no timer');
    }
    t.fn();
    return t.ms;
  }
}

const flush = () => new Promise(resolve => setTimeout(resolve, 0));

describe('formatting', () => {
  it('writes sizes in binary units as the server does', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1 KiB');
    expect(formatBytes(3435973837)).toBe('3.2 GiB');
    expect(formatBytes(20 * 2 ** 30)).toBe('20 GiB');
    expect(formatBytes(3 * 2 ** 40)).toBe('3 TiB');
  });

  it('has usage only when both numbers are known', () => {
    expect(usage(HOME)).toEqual({
      used: 3435973837,
      total: 20 * 2 ** 30,
      fraction: 3435973837 / (20 * 2 ** 30)
    });
    expect(usage(space({}))).toBeNull();
    expect(usage(space({ used_bytes: 5, quota_bytes: 0 }))).toBeNull();
    expect(usage(space({ used_bytes: 50, quota_bytes: 10 }))?.fraction).toBe(1);
  });

  it('counts errors and missing credentials as needing attention, not a disconnect', () => {
    expect(needsAttention(space({ status: 'error' }))).toBe(true);
    expect(needsAttention(space({ status: 'needs-credentials' }))).toBe(true);
    expect(needsAttention(space({ status: 'unmounted' }))).toBe(false);
    expect(needsAttention(space({ status: 'mounting' }))).toBe(false);
    expect(needsAttention(HOME)).toBe(false);
  });
});

describe('a new space', () => {
  const existing = [HOME, space({})];
  const [url, label] = WEBDAV.setting_fields;
  it('checks its name', () => {
    expect(validateName('mydav', existing)).toBeUndefined();
    expect(validateName(' mydav ', existing)).toBeUndefined();
    expect(validateName('', existing)).toBe('empty');
    expect(validateName('a/b', existing)).toBe('invalid');
    expect(validateName('.hidden', existing)).toBe('invalid');
    expect(validateName('x'.repeat(65), existing)).toBe('invalid');
    expect(validateName('home', existing)).toBe('reserved');
    expect(validateName('b2drop', existing)).toBe('taken');
  });
  it('checks its settings: an address, and a label that may be empty', () => {
    expect(validateField(url, '')).toBe('empty');
    expect(validateField(label, '')).toBeUndefined();
    expect(validateField(label, 'My DAV')).toBeUndefined();
    expect(validateField(url, 'https://dav.example.org/dav')).toBeUndefined();
    expect(validateField(url, 'not a url')).toBe('invalid');
    expect(validateField(url, 'dav.example.org')).toBe('invalid');
    expect(validateField(url, 'ftp://dav.example.org')).toBe('invalid');
    expect(validateField(url, 'https://ada:pw@dav.example.org')).toBe(
      'credentials'
    );
  });
  it('checks integers within their range, and choices among their own', () => {
    const port = field({
      name: 'port',
      type: 'integer',
      minimum: 1,
      maximum: 65535
    });
    expect(validateField(port, '')).toBeUndefined();
    expect(validateField(port, '22')).toBeUndefined();
    expect(validateField(port, ' 2222 ')).toBeUndefined();
    expect(validateField(port, '0')).toBe('range');
    expect(validateField(port, '65536')).toBe('range');
    expect(validateField(port, '22.5')).toBe('integer');
    expect(validateField(port, 'ssh')).toBe('integer');
    const open = field({ name: 'n', type: 'integer', minimum: null });
    expect(validateField(open, '-5')).toBeUndefined();
    const style = field({
      name: 'style',
      type: 'select',
      choices: ['path', 'virtual']
    });
    expect(validateField(style, 'path')).toBeUndefined();
    expect(validateField(style, 'other')).toBe('choice');
    expect(validateField({ ...style, required: true }, '')).toBe('empty');
  });
  it('asks the required credentials once one is given, or none', () => {
    const sftp = [
      USERNAME,
      field({ name: 'password', type: 'password', secret: true }),
      field({ name: 'private_key', type: 'secret', secret: true })
    ];
    expect(missingCredentials(sftp, {})).toEqual([]);
    expect(missingCredentials(sftp, { username: '', password: '' })).toEqual(
      []
    );
    expect(missingCredentials(sftp, { private_key: 'KEY' })).toEqual([
      'username'
    ]);
    expect(missingCredentials(sftp, { username: 'ada' })).toEqual([]);
    expect(
      missingCredentials([USERNAME, PASSWORD], { username: 'ada' })
    ).toEqual(['password']);
  });
});

describe('each field is asked for as its type says', () => {
  it('draws text, addresses, passwords, numbers, checkboxes, choices and keys', () => {
    expect(controlFor(field({ name: 'a' }))).toEqual({
      tag: 'input',
      type: 'text',
      autocomplete: 'off'
    });
    expect(controlFor(field({ name: 'a', type: 'url' }))).toMatchObject({
      tag: 'input',
      type: 'url'
    });
    expect(controlFor(PASSWORD)).toEqual({
      tag: 'input',
      type: 'password',
      autocomplete: 'new-password'
    });
    const port = field({
      name: 'port',
      type: 'integer',
      minimum: 1,
      maximum: 65535
    });
    expect(controlFor(port)).toEqual({
      tag: 'input',
      type: 'number',
      min: 1,
      max: 65535,
      autocomplete: 'off'
    });
    expect(
      controlFor({ ...port, minimum: null, maximum: null })
    ).not.toHaveProperty('min');
    expect(controlFor(field({ name: 'b', type: 'boolean' }))).toMatchObject({
      tag: 'input',
      type: 'checkbox'
    });
    const choices = ['path', 'virtual'];
    expect(
      controlFor(field({ name: 's', type: 'select', choices }))
    ).toMatchObject({ tag: 'select', options: ['', 'path', 'virtual'] });
    expect(
      controlFor(field({ name: 's', type: 'select', choices, required: true }))
    ).toMatchObject({ tag: 'select', options: ['path', 'virtual'] });
    const key = field({ name: 'private_key', type: 'secret', secret: true });
    expect(controlFor(key)).toEqual({ tag: 'textarea', autocomplete: 'off' });
  });
  it('links only to web pages', () => {
    const page = 'https://cloud.example.org/settings/user/security';
    expect(fieldLink(field({ name: 'p', link: page }))).toBe(page);
    expect(fieldLink(field({ name: 'p' }))).toBeNull();
    expect(fieldLink(field({ name: 'p', link: 'javascript:alert(1)' }))).toBe(
      null
    );
    expect(fieldLink(field({ name: 'p', link: 'not a link' }))).toBeNull();
  });
});

describe('what the form sends', () => {
  it('sends the settings given, trimmed, and the credentials only when given', () => {
    const values = {
      name: ' mydav ',
      'setting:url': ' https://dav.example.org/dav ',
      'setting:label': 'Team files',
      'setting:verify_tls': '',
      'setting:chunk_mib': '',
      'credential:username': 'ada',
      'credential:password': 's3cret'
    };
    expect(newSpace('webdav', WEBDAV, values)).toEqual({
      name: 'mydav',
      kind: 'webdav',
      settings: { url: 'https://dav.example.org/dav', label: 'Team files' },
      credentials: { username: 'ada', password: 's3cret' }
    });
  });
  it('sends numbers as numbers and a checkbox the user chose as true or false', () => {
    const values = {
      name: 'mydav',
      'setting:url': 'https://dav.example.org/dav',
      'setting:verify_tls': 'false',
      'setting:chunk_mib': ' 64 '
    };
    expect(newSpace('webdav', WEBDAV, values).settings).toEqual({
      url: 'https://dav.example.org/dav',
      label: 'mydav',
      verify_tls: false,
      chunk_mib: 64
    });
  });
  it('labels the space by its name when no label is given, and waits for credentials', () => {
    const values = {
      name: 'mydav',
      'setting:url': 'https://dav.example.org/dav',
      'setting:label': '  ',
      'credential:username': '',
      'credential:password': ' '
    };
    expect(newSpace('webdav', WEBDAV, values)).toEqual({
      name: 'mydav',
      kind: 'webdav',
      settings: { url: 'https://dav.example.org/dav', label: 'mydav' }
    });
  });
  it('sends a private key as pasted, and what the user trusted in the settings', () => {
    const spec: IKindForm = {
      label: 'Server',
      login: false,
      credential_fields: [
        USERNAME,
        field({ name: 'private_key', type: 'secret', secret: true })
      ],
      setting_fields: [field({ name: 'host', required: true })]
    };
    const key = '-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n';
    const body = newSpace('x', spec, {
      name: 'files',
      'setting:host': 'files.example.org',
      'credential:username': 'ada',
      'credential:private_key': key
    });
    expect(body.credentials).toEqual({ username: 'ada', private_key: key });
    const trusted = withOffer(body, { host_key: 'ssh-ed25519 AAAA' });
    expect(trusted.settings).toEqual({
      host: 'files.example.org',
      host_key: 'ssh-ed25519 AAAA'
    });
    expect(trusted.credentials).toEqual(body.credentials);
    expect(body.settings).toEqual({ host: 'files.example.org' });
  });
});

describe('what the panel shows', () => {
  it('names a space by its label, else by its name', () => {
    expect(spaceLabel(space({ settings: { label: 'Team files' } }))).toBe(
      'Team files'
    );
    expect(spaceLabel(space({ settings: { label: ' ' } }))).toBe('b2drop');
    expect(spaceLabel(space({ settings: {} }))).toBe('b2drop');
    expect(spaceLabel(space({ settings: undefined }))).toBe('b2drop');
  });
  it('offers the actions each status calls for, the one to take first as primary', () => {
    const offered = (over: Partial<ISpace>) =>
      spaceActions(space(over)).map(a =>
        a.primary ? `${a.action}!` : a.action
      );
    expect(offered({ status: 'needs-credentials' })).toEqual(['connect!']);
    expect(offered({ status: 'mounted', has_credentials: true })).toEqual([
      'open!',
      'disconnect',
      'credentials',
      'forget'
    ]);
    expect(offered({ status: 'error', origin: 'user' })).toEqual([
      'retry!',
      'disconnect',
      'credentials',
      'remove'
    ]);
    expect(offered({ status: 'unmounted' })).toEqual(['mount!', 'credentials']);
    expect(
      offered({ status: 'needs-credentials', credential_fields: [] })
    ).toEqual(['retry!']);
    expect(offered({ ...HOME })).toEqual(['open!']);
    expect(offered({ ...HOME, status: 'error' })).toEqual([]);
  });
  it('knows no date where the storage gave none: null, unreadable, or the epoch', () => {
    expect(knownDate(null)).toBeNull();
    expect(knownDate(undefined)).toBeNull();
    expect(knownDate('')).toBeNull();
    expect(knownDate('not a date')).toBeNull();
    expect(knownDate('1970-01-01T00:00:00Z')).toBeNull();
    expect(knownDate('1970-01-01T00:00:00+00:00')).toBeNull();
    expect(knownDate('2026-12-08T00:31:00.123456Z')?.toISOString()).toBe(
      '2026-12-08T00:31:00.123Z'
    );
  });
});

describe('folders: read-only and kept', () => {
  const datasets = space({
    name: 'datasets',
    kind: 'shared',
    mount: 'datasets',
    mode: 'ro',
    read_only: true
  });
  const spaces = [HOME, datasets, space({})];
  it('finds the space a path is in', () => {
    expect(spaceAt('datasets/a/b.csv', spaces)?.name).toBe('datasets');
    expect(spaceAt('datasets2', spaces)?.name).toBe('home');
    expect(spaceAt('/b2drop/', spaces)?.name).toBe('b2drop');
    expect(spaceAt('x', [])).toBeNull();
  });
  it('says what is kept, as the server answered', () => {
    expect(isKept('anything/at/all', [''])).toBe(true);
    expect(isKept('home/ada/work', ['home/ada'])).toBe(true);
    expect(isKept('home/ada', ['home/ada'])).toBe(true);
    expect(isKept('home/adam', ['home/ada'])).toBe(false);
    expect(isKept('', ['home/ada'])).toBe(false);
    expect(isKept('scratch', [])).toBe(false);
    expect(keptHome(['home/ada/x', 'home/ada'])).toBe('home/ada');
    expect(keptHome([''])).toBe('');
    expect(keptHome([])).toBeNull();
  });
  it('gives the file browser its hint: read-only, not kept, or nothing', () => {
    expect(folderState('datasets/sub', spaces, [''])).toEqual({
      readOnly: datasets,
      notKept: false
    });
    expect(folderState('scratch', spaces, ['home/ada'])).toEqual({
      readOnly: null,
      notKept: true
    });
    expect(folderState('', spaces, [''])).toEqual({
      readOnly: null,
      notKept: false
    });
    expect(folderState('scratch', spaces, null)).toEqual({
      readOnly: null,
      notKept: false
    }); // not known yet
  });
});

describe('SpacesModel', () => {
  it('stops asking on a server not spawned by nbspaces', async () => {
    const server = new FakeServer();
    server.handlers['GET spaces'] = () =>
      reply(404, {
        message: 'this server was not spawned by nbspaces',
        reason: null
      });
    const timers = new FakeTimers();
    const model = new SpacesModel({ request: server.request, timers });
    model.start();
    await flush();
    expect(model.unavailable).toBe(true);
    expect(model.loaded).toBe(false);
    expect(timers.queue).toEqual([]); // no more polling
    expect(model.kept).toEqual(['']); // the kept folders are still known
  });

  it('asks once which folders are kept, and knows nothing when it cannot', async () => {
    const server = new FakeServer();
    server.kept = ['home/ada'];
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    expect(model.kept).toBeNull();
    model.start();
    await flush();
    expect(model.kept).toEqual(['home/ada']);
    expect(model.kinds.webdav.setting_fields[0].name).toBe('url');
    expect(server.count('GET', 'kept')).toBe(1);
    server.handlers['GET kept'] = () =>
      reply(500, { message: 'Unhandled error', reason: null });
    await model.loadKept();
    expect(model.kept).toBeNull();
    model.stop();
  });

  it('loads the list and tells listeners', async () => {
    const server = new FakeServer();
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    let changes = 0;
    model.onChange(() => changes++);
    expect(model.loaded).toBe(false);
    await model.refresh();
    expect(model.loaded).toBe(true);
    expect(model.spaces.map(s => s.name)).toEqual(['home', 'b2drop']);
    expect(Object.keys(model.addableKinds)).toEqual(['webdav']);
    expect(model.isolation).toBe('basic');
    expect(model.summary).toEqual({ total: 2, attention: 1 });
    expect(changes).toBeGreaterThan(0);
  });

  it('offers to add the kinds users may add that the server has a form for', async () => {
    const server = new FakeServer();
    let list: Record<string, unknown> = {
      user_kinds: ['webdav'],
      kinds: { webdav: WEBDAV }
    };
    server.handlers['GET spaces'] = () =>
      reply(200, { isolation: 'basic', spaces: server.spaces, ...list });
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    expect(model.addableKinds).toEqual({}); // nothing before the first answer
    await model.refresh();
    expect(model.addableKinds).toEqual({ webdav: WEBDAV });
    // A kind the admins allow but no driver on the server serves (no form): nothing to add.
    const s3: IKindForm = { ...WEBDAV, label: 'S3' };
    list = { user_kinds: ['s3'], kinds: { webdav: WEBDAV } };
    await model.refresh();
    expect(model.addableKinds).toEqual({});
    list = {
      user_kinds: ['s3', 'webdav', 'toString'],
      kinds: { webdav: WEBDAV, s3 }
    };
    await model.refresh();
    expect(model.addableKinds).toEqual({ s3, webdav: WEBDAV });
    // A kind with a form that users may not add is not offered.
    list = { user_kinds: [], kinds: { webdav: WEBDAV } };
    await model.refresh();
    expect(model.addableKinds).toEqual({});
  });

  it('polls every 10 s, and every 2 s while a space is mounting', async () => {
    const server = new FakeServer();
    const timers = new FakeTimers();
    const model = new SpacesModel({ request: server.request, timers });
    model.start();
    await flush();
    expect(server.count('GET', 'spaces')).toBe(1);
    expect(timers.queue.map(t => t.ms)).toEqual([10_000]);
    server.spaces = [HOME, space({ status: 'mounting' })];
    timers.fire();
    await flush();
    expect(server.count('GET', 'spaces')).toBe(2);
    expect(timers.queue.map(t => t.ms)).toEqual([2_000]);
    model.stop();
    expect(timers.queue).toEqual([]);
  });

  it('keeps the last known state when a refresh fails, and says why', async () => {
    const server = new FakeServer();
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    await model.refresh();
    server.handlers['GET spaces'] = () =>
      reply(500, { message: 'Unhandled error', reason: null });
    await model.refresh();
    expect(model.error).toBe('Unhandled error');
    expect(model.spaces.length).toBe(2);
    server.handlers['GET spaces'] = () =>
      Promise.reject(new TypeError('Failed to fetch'));
    await model.refresh();
    expect(model.error).toBe('Failed to fetch');
    delete server.handlers['GET spaces'];
    await model.refresh();
    expect(model.error).toBe('');
  });

  it('joins a refresh already under way and asks once more after it', async () => {
    const server = new FakeServer();
    let release: () => void = () => {};
    const gate = new Promise<void>(resolve => (release = resolve));
    server.handlers['GET spaces'] = async () => {
      await gate;
      return reply(200, {
        isolation: 'basic',
        user_kinds: [],
        spaces: server.spaces
      });
    };
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    const a = model.refresh();
    const b = model.refresh();
    const c = model.refresh();
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(server.count('GET', 'spaces')).toBe(1);
    release();
    await a;
    await flush();
    expect(server.count('GET', 'spaces')).toBe(2);
  });

  it('sends credentials, shows the space as answered, marks it busy meanwhile, and refreshes', async () => {
    const server = new FakeServer();
    server.handlers['PUT spaces/b2drop/credentials'] = () =>
      reply(200, space({ status: 'mounted' }));
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    await model.refresh();
    const pending = model.setCredentials('b2drop', {
      username: 'ada',
      password: 'pw'
    });
    expect(model.isBusy('b2drop')).toBe(true);
    const answer = await pending;
    expect(answer.status).toBe('mounted');
    expect(model.isBusy('b2drop')).toBe(false);
    expect(model.spaces.find(s => s.name === 'b2drop')?.status).toBe('mounted');
    expect(server.calls.find(c => c.method === 'PUT')?.body).toEqual({
      username: 'ada',
      password: 'pw'
    });
    await flush();
    expect(server.count('GET', 'spaces')).toBe(2);
  });

  it('asks the server not to store credentials the user wants used only until it stops', async () => {
    const server = new FakeServer();
    server.handlers['PUT spaces/b2drop/credentials?remember=false'] = () =>
      reply(200, space({ status: 'mounted' }));
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    const creds = { username: 'ada', password: 'pw' };
    expect((await model.setCredentials('b2drop', creds, false)).status).toBe(
      'mounted'
    );
    expect(server.calls.find(c => c.method === 'PUT')).toEqual({
      method: 'PUT',
      path: 'spaces/b2drop/credentials?remember=false',
      body: creds
    });
  });

  it("throws the server's message when credentials are refused, and keeps the status", async () => {
    const server = new FakeServer();
    server.handlers['PUT spaces/b2drop/credentials'] = () =>
      reply(400, {
        message: 'B2DROP refused the user name or app password',
        reason: null
      });
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    await model.refresh();
    const failure = await model
      .setCredentials('b2drop', { username: 'ada', password: 'no' })
      .catch(e => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure.status).toBe(400);
    expect(failure.message).toBe(
      'B2DROP refused the user name or app password'
    );
    expect(model.spaces.find(s => s.name === 'b2drop')?.status).toBe(
      'needs-credentials'
    );
    expect(model.isBusy('b2drop')).toBe(false);
  });

  it('uses a status code when the error body is not JSON', async () => {
    const server = new FakeServer();
    server.handlers['POST spaces/b2drop/retry'] = () => ({
      status: 502,
      ok: false,
      text: async () => '<html>'
    });
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    const failure = await model.retry('b2drop').catch(e => e);
    expect(failure.message).toBe('502');
  });

  it('hands on what a server not trusted yet offers, and accepts it through its endpoint', async () => {
    const server = new FakeServer();
    const offer = { host_key: 'ssh-ed25519 AAAA' };
    const message =
      '127.0.0.1 is a server nbspaces has not seen before. Its host key fingerprint is SHA256:x';
    server.handlers['PUT spaces/b2drop/credentials'] = () =>
      reply(409, { message, reason: null, offer });
    server.handlers['POST spaces/b2drop/accept'] = () =>
      reply(200, space({ status: 'needs-credentials' }));
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    await model.refresh();
    const failure = await model
      .setCredentials('b2drop', { username: 'ada', password: 'pw' })
      .catch(e => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure.status).toBe(409);
    expect(failure.message).toBe(message);
    expect(failure.offer).toEqual(offer);
    const accepted = await model.accept('b2drop', failure.offer);
    expect(accepted.status).toBe('needs-credentials');
    expect(server.calls.filter(c => c.method === 'POST')).toEqual([
      { method: 'POST', path: 'spaces/b2drop/accept', body: offer }
    ]);
    // A 409 without an offer (a test already running) offers nothing; nor does a malformed one.
    server.handlers['PUT spaces/b2drop/credentials'] = () =>
      reply(409, { message: 'A test is running', reason: null });
    const busy = await model.setCredentials('b2drop', {}).catch(e => e);
    expect(busy.offer).toBeNull();
    server.handlers['PUT spaces/b2drop/credentials'] = () =>
      reply(409, { message: 'x', reason: null, offer: { host_key: 1 } });
    const odd = await model.setCredentials('b2drop', {}).catch(e => e);
    expect(odd.offer).toBeNull();
  });

  it('connects, disconnects, retries and forgets through the right endpoints', async () => {
    const server = new FakeServer();
    server.handlers['POST spaces/b2drop/mount'] = () =>
      reply(200, space({ status: 'mounted' }));
    server.handlers['POST spaces/b2drop/unmount'] = () =>
      reply(200, space({ status: 'unmounted', reason: 'disconnected by you' }));
    server.handlers['POST spaces/b2drop/retry'] = () =>
      reply(
        200,
        space({ status: 'error', reason: 'B2DROP cannot be reached' })
      );
    server.handlers['DELETE spaces/b2drop/credentials'] = () =>
      reply(200, space({ status: 'needs-credentials' }));
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    await model.refresh();
    expect((await model.mount('b2drop')).status).toBe('mounted');
    expect((await model.unmount('b2drop')).reason).toBe('disconnected by you');
    expect((await model.retry('b2drop')).status).toBe('error');
    expect(model.summary.attention).toBe(1);
    expect((await model.forgetCredentials('b2drop')).status).toBe(
      'needs-credentials'
    );
  });

  it('adds and removes a space of the user', async () => {
    const server = new FakeServer();
    const mine = space({
      name: 'mydav',
      mount: 'mydav',
      origin: 'user',
      status: 'mounted'
    });
    server.handlers['POST spaces'] = () => reply(201, mine);
    server.handlers['DELETE spaces/mydav'] = () => ({
      status: 204,
      ok: true,
      text: async () => ''
    });
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    await model.refresh();
    const added = await model.addSpace({
      name: 'mydav',
      kind: 'webdav',
      settings: { url: 'http://dav' },
      credentials: { username: 'a', password: 'b' }
    });
    expect(added.origin).toBe('user');
    expect(model.spaces.map(s => s.name)).toContain('mydav');
    await model.removeSpace('mydav');
    expect(model.spaces.map(s => s.name)).not.toContain('mydav');
    server.handlers['POST spaces'] = () =>
      reply(409, {
        message: "There is already a space named 'mydav'",
        reason: null
      });
    const failure = await model
      .addSpace({ name: 'mydav', kind: 'webdav', settings: {} })
      .catch(e => e);
    expect(failure.status).toBe(409);
    expect(failure.message).toBe("There is already a space named 'mydav'");
  });

  it('never sends anything but what it was given (no stored secret is echoed)', async () => {
    const server = new FakeServer();
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    await model.refresh();
    await model.forgetCredentials('b2drop').catch(() => undefined);
    expect(server.calls.filter(c => c.body !== undefined)).toEqual([]);
  });

  it('a listener that throws does not stop the others', async () => {
    const server = new FakeServer();
    const model = new SpacesModel({
      request: server.request,
      timers: new FakeTimers()
    });
    let seen = 0;
    const original = console.error;
    console.error = () => undefined;
    try {
      model.onChange(() => {
        throw new Error('boom');
      });
      const off = model.onChange(() => seen++);
      await model.refresh();
      expect(seen).toBe(1);
      off();
      await model.refresh();
      expect(seen).toBe(1);
    } finally {
      console.error = original;
    }
  });
});

describe('FolderFailures', () => {
  it("tells the server's message once per fault, and again after a folder opened", () => {
    const failures = new FolderFailures();
    const down =
      "'b2drop' is not available: B2DROP cannot be reached at http://dav (connection refused); try again later";
    expect(failures.message(503, down, 'b2drop')).toBe(down);
    expect(failures.message(503, down, 'b2drop')).toBeNull(); // the browser retrying: not again
    expect(failures.message(503, 'other', 'b2drop')).toBe('other');
    failures.opened();
    expect(failures.message(503, 'other', 'b2drop')).toBe('other');
  });

  it('leaves a 404 to JupyterLab and names the folder when the server said nothing', () => {
    const failures = new FolderFailures();
    expect(failures.message(404, 'Not found', 'gone')).toBeNull();
    expect(failures.message(undefined, '', 'data')).toBe(
      'The folder "data" cannot be opened'
    );
  });
});
