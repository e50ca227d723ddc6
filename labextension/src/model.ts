/**
 * The Data panel's model: the spaces of the user's server, kept fresh by polling the
 * nbspaces REST API (GET /nbspaces/api/spaces) and after every action.
 *
 * No JupyterLab imports: the plugin hands in a `Requester` (ServerConnection.makeRequest
 * with the server's settings, which adds the XSRF header), tests hand in a fake.
 * Requests never block anything: the view always draws the last known state, and an
 * action on one space never waits for another.
 */

export type Status = 'mounting' | 'mounted' | 'needs-credentials' | 'unmounted' | 'error';

export interface CredentialField {
  name: string;
  label: string;
  secret: boolean;
}

export interface Space {
  name: string;
  kind: string;
  mount: string;
  mode: 'ro' | 'rw';
  read_only: boolean;
  origin: 'catalog' | 'user';
  description: string;
  status: Status;
  reason: string;
  posix: boolean;
  posix_reason: string;
  credential_fields: CredentialField[];
  used_bytes: number | null;
  quota_bytes: number | null;
  settings?: Record<string, unknown>;
  quota_enforced_by?: string | null;
}

export interface SpaceList {
  isolation: string;
  user_kinds: string[];
  spaces: Space[];
}

export interface NewSpace {
  name: string;
  kind: string;
  mount?: string;
  settings: Record<string, unknown>;
  credentials?: Record<string, string>;
}

/** The part of a fetch Response the model reads. */
export interface ResponseLike {
  status: number;
  ok: boolean;
  text(): Promise<string>;
}

/** Sends one request to the server; `path` is relative to `nbspaces/api/`. */
export type Requester = (path: string, init: { method: string; body?: string }) => Promise<ResponseLike>;

/** An answer of the API that is not a success: `message` is the server's, written for the user. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ModelOptions {
  request: Requester;
  /** Milliseconds between refreshes; 10 s by default. */
  interval?: number;
  /** Milliseconds between refreshes while a space is still `mounting`; 2 s by default. */
  mountingInterval?: number;
  timers?: Timers;
}

export interface Summary {
  total: number;
  /** Spaces that need the user: needs-credentials or error. */
  attention: number;
}

/** Statuses the user should act on. `unmounted` is the user's own choice; `mounting` passes. */
export function needsAttention(space: Space): boolean {
  return space.status === 'needs-credentials' || space.status === 'error';
}

/** The path of a space in the file browser (the home is the root). */
export function browserPath(space: Space): string {
  return space.kind === 'home' ? '' : space.mount;
}

/** A binary size as the server writes it: 21474836480 -> "20 GiB", 3435973837 -> "3.2 GiB". */
export function formatBytes(n: number): string {
  let value = n;
  for (const unit of ['B', 'KiB', 'MiB', 'GiB', 'TiB']) {
    if (Math.abs(value) < 1024 || unit === 'TiB') {
      if (unit === 'B') {
        return `${Math.trunc(value)} B`;
      }
      const text = value.toFixed(1).replace(/\.0$/, '');
      return `${text} ${unit}`;
    }
    value /= 1024;
  }
  /* istanbul ignore next */
  return `${n} B`;
}

/** Usage of a space when both numbers are known: fraction used (0..1) and its parts. */
export function usage(space: Space): { used: number; total: number; fraction: number } | null {
  if (space.used_bytes === null || space.quota_bytes === null || !(space.quota_bytes > 0)) {
    return null;
  }
  const fraction = Math.min(1, Math.max(0, space.used_bytes / space.quota_bytes));
  return { used: space.used_bytes, total: space.quota_bytes, fraction };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RESERVED = new Set(['home', '.nbspaces', '.local', '.jupyter', '.ipython', '.config']);

/**
 * Checks a new space's name and URL before they go to the server (which checks them again).
 * Returns problems by field; an empty object means the form may be sent.
 */
export function validateNewSpace(
  name: string,
  url: string,
  existing: Space[]
): { name?: 'empty' | 'invalid' | 'reserved' | 'taken'; url?: 'empty' | 'invalid' | 'credentials' } {
  const problems: ReturnType<typeof validateNewSpace> = {};
  const trimmed = name.trim();
  if (!trimmed) {
    problems.name = 'empty';
  } else if (!NAME.test(trimmed)) {
    problems.name = 'invalid';
  } else if (RESERVED.has(trimmed)) {
    problems.name = 'reserved';
  } else if (existing.some(s => s.name === trimmed || s.mount === trimmed)) {
    problems.name = 'taken';
  }
  const u = url.trim();
  if (!u) {
    problems.url = 'empty';
  } else {
    let parsed: URL | null = null;
    try {
      parsed = new URL(u);
    } catch {
      parsed = null;
    }
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || !parsed.hostname) {
      problems.url = 'invalid';
    } else if (parsed.username || parsed.password) {
      problems.url = 'credentials';
    }
  }
  return problems;
}

const DEFAULT_TIMERS: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: handle => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>)
};

export class SpacesModel {
  constructor(options: ModelOptions) {
    this._request = options.request;
    this._interval = options.interval ?? 10_000;
    this._mountingInterval = options.mountingInterval ?? 2_000;
    this._timers = options.timers ?? DEFAULT_TIMERS;
  }

  /** The spaces as last seen; empty until the first answer. */
  get spaces(): readonly Space[] {
    return this._spaces;
  }

  /** Kinds users may add (`user_kinds`). */
  get userKinds(): readonly string[] {
    return this._userKinds;
  }

  get isolation(): string {
    return this._isolation;
  }

  /** True once one list has been received. */
  get loaded(): boolean {
    return this._loaded;
  }

  /** Why the last refresh failed (the server's message), or '' when it worked. */
  get error(): string {
    return this._error;
  }

  /** True while an action on that space is under way. */
  isBusy(name: string): boolean {
    return this._busy.has(name);
  }

  get summary(): Summary {
    return { total: this._spaces.length, attention: this._spaces.filter(needsAttention).length };
  }

  /** Calls `fn` after every change of state; returns a function that stops it. */
  onChange(fn: () => void): () => void {
    this._listeners.add(fn);
    return () => this._listeners.delete(fn);
  }

  /** Milliseconds between refreshes (at least 1 s); a change applies from the next refresh. */
  get interval(): number {
    return this._interval;
  }

  set interval(ms: number) {
    this._interval = Math.max(1000, ms);
    if (this._timer !== null && !this._pending) {
      this._schedule();
    }
  }

  /** Starts polling (a first refresh now). */
  start(): void {
    this._running = true;
    void this.refresh();
  }

  stop(): void {
    this._running = false;
    if (this._timer !== null) {
      this._timers.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  dispose(): void {
    this.stop();
    this._listeners.clear();
  }

  /**
   * Asks for the list again. A refresh already under way is joined, not doubled. Never throws:
   * a failure keeps the last known spaces and sets `error`.
   */
  refresh(): Promise<void> {
    if (this._pending) {
      this._again = true;
      return this._pending;
    }
    this._pending = this._refresh().finally(() => {
      this._pending = null;
      if (this._again) {
        this._again = false;
        void this.refresh();
      } else {
        this._schedule();
      }
    });
    return this._pending;
  }

  /** Tests the credentials on the server and stores them if they work; throws ApiError otherwise. */
  setCredentials(name: string, values: Record<string, string>): Promise<Space> {
    return this._act(name, `spaces/${encodeURIComponent(name)}/credentials`, 'PUT', values);
  }

  forgetCredentials(name: string): Promise<Space> {
    return this._act(name, `spaces/${encodeURIComponent(name)}/credentials`, 'DELETE');
  }

  mount(name: string): Promise<Space> {
    return this._act(name, `spaces/${encodeURIComponent(name)}/mount`, 'POST');
  }

  unmount(name: string): Promise<Space> {
    return this._act(name, `spaces/${encodeURIComponent(name)}/unmount`, 'POST');
  }

  retry(name: string): Promise<Space> {
    return this._act(name, `spaces/${encodeURIComponent(name)}/retry`, 'POST');
  }

  async addSpace(space: NewSpace): Promise<Space> {
    const added = (await this._call('spaces', 'POST', space)) as Space;
    this._put(added);
    void this.refresh();
    return added;
  }

  async removeSpace(name: string): Promise<void> {
    this._setBusy(name, true);
    try {
      await this._call(`spaces/${encodeURIComponent(name)}`, 'DELETE');
      this._spaces = this._spaces.filter(s => s.name !== name);
    } finally {
      this._setBusy(name, false);
      void this.refresh();
    }
  }

  private async _act(name: string, path: string, method: string, body?: unknown): Promise<Space> {
    this._setBusy(name, true);
    try {
      const space = (await this._call(path, method, body)) as Space;
      this._put(space);
      return space;
    } finally {
      this._setBusy(name, false);
      void this.refresh();
    }
  }

  private async _refresh(): Promise<void> {
    try {
      const list = (await this._call('spaces', 'GET')) as SpaceList;
      this._spaces = Array.isArray(list.spaces) ? list.spaces : [];
      this._userKinds = Array.isArray(list.user_kinds) ? list.user_kinds : [];
      this._isolation = list.isolation ?? '';
      this._loaded = true;
      this._error = '';
    } catch (e) {
      this._error = e instanceof Error ? e.message : String(e);
    }
    this._emit();
  }

  private _schedule(): void {
    if (!this._running) {
      return;
    }
    if (this._timer !== null) {
      this._timers.clearTimeout(this._timer);
    }
    const mounting = this._spaces.some(s => s.status === 'mounting');
    this._timer = this._timers.setTimeout(
      () => {
        this._timer = null;
        void this.refresh();
      },
      mounting ? this._mountingInterval : this._interval
    );
  }

  private async _call(path: string, method: string, body?: unknown): Promise<unknown> {
    let response: ResponseLike;
    try {
      response = await this._request(path, {
        method,
        body: body === undefined ? undefined : JSON.stringify(body)
      });
    } catch (e) {
      throw new ApiError(0, e instanceof Error ? e.message : String(e));
    }
    const text = await response.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const message =
        data && typeof data === 'object' && typeof (data as { message?: unknown }).message === 'string'
          ? (data as { message: string }).message
          : `${response.status}`;
      throw new ApiError(response.status, message);
    }
    return data;
  }

  private _put(space: Space): void {
    if (!space || typeof space.name !== 'string') {
      return;
    }
    const i = this._spaces.findIndex(s => s.name === space.name && s.kind === space.kind);
    this._spaces = i >= 0 ? this._spaces.map((s, j) => (j === i ? space : s)) : [...this._spaces, space];
    this._emit();
  }

  private _setBusy(name: string, busy: boolean): void {
    if (busy) {
      this._busy.add(name);
    } else {
      this._busy.delete(name);
    }
    this._emit();
  }

  private _emit(): void {
    for (const fn of [...this._listeners]) {
      try {
        fn();
      } catch (e) {
        console.error('nbspaces: a listener failed', e);
      }
    }
  }

  private _request: Requester;
  private _interval: number;
  private _mountingInterval: number;
  private _timers: Timers;
  private _spaces: Space[] = [];
  private _userKinds: string[] = [];
  private _isolation = '';
  private _loaded = false;
  private _error = '';
  private _busy = new Set<string>();
  private _listeners = new Set<() => void>();
  private _pending: Promise<void> | null = null;
  private _again = false;
  private _running = false;
  private _timer: unknown = null;
}
