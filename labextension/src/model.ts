/**
 * The Data panel's model: the spaces of the user's server, kept fresh by polling the
 * nbspaces REST API (GET /nbspaces/api/spaces) and after every action.
 *
 * No JupyterLab imports: the plugin hands in a `Requester` (ServerConnection.makeRequest
 * with the server's settings, which adds the XSRF header), tests hand in a fake.
 * Requests never block anything: the view always draws the last known state, and an
 * action on one space never waits for another.
 */

export type Status =
  'mounting' | 'mounted' | 'needs-credentials' | 'unmounted' | 'error';

/** The kinds of value a field takes (the server's `Field.type`). */
export type FieldType =
  'url' | 'string' | 'password' | 'integer' | 'boolean' | 'select' | 'secret';

/**
 * A setting or credential a kind of space declares, as the server sends it: the forms are built
 * from these, so no kind is named here.
 */
export interface IField {
  name: string;
  label: string;
  type: FieldType;
  required: boolean;
  /** Hide what the user types; never shown again. */
  secret: boolean;
  /** A line under the field: what to give, where to find it; may be empty. */
  help: string;
  /** Where to get the value (a service's page for app passwords); may be empty. */
  link: string;
  /** The values of a `select`. */
  choices?: string[];
  /** The range of an `integer` (null: no bound). */
  minimum?: number | null;
  maximum?: number | null;
  /** What applies when the value is not given (null: the service decides). */
  default?: string | number | boolean | null;
}

/** What the dialogs ask for one kind of remote space (the server's `kinds`). */
export interface IKindForm {
  /** The kind in words, for users. */
  label: string;
  /** Spaces of this kind use a token of the user's login: there is nothing to ask. */
  login: boolean;
  credential_fields: IField[];
  setting_fields: IField[];
}

export interface ISpace {
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
  credential_fields: IField[];
  /** Credentials of the user are stored for this space (never the values). */
  has_credentials: boolean;
  used_bytes: number | null;
  quota_bytes: number | null;
  settings?: Record<string, unknown>;
  quota_enforced_by?: string | null;
}

export interface ISpaceList {
  isolation: string;
  user_kinds: string[];
  kinds: Record<string, IKindForm>;
  spaces: ISpace[];
}

/** GET /nbspaces/api/kept: the folders (relative to the file tree's root) whose files outlive the server. */
export interface IKept {
  kept: string[];
  source: 'config' | 'plan' | 'home' | 'local';
}

export interface INewSpace {
  name: string;
  kind: string;
  mount?: string;
  settings: Record<string, unknown>;
  credentials?: Record<string, string>;
}

/** The part of a fetch Response the model reads. */
export interface IResponseLike {
  status: number;
  ok: boolean;
  text(): Promise<string>;
}

/** Sends one request to the server; `path` is relative to `nbspaces/api/`. */
export type Requester = (
  path: string,
  init: { method: string; body?: string }
) => Promise<IResponseLike>;

/**
 * An answer of the API that is not a success: `message` is the server's, written for the user.
 * `offer`: a server not trusted yet (409) offers what to accept (an SSH host key); `message`
 * shows what to check (its fingerprint).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly offer: Record<string, string> | null = null
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ITimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface IModelOptions {
  request: Requester;
  /** Milliseconds between refreshes; 10 s by default. */
  interval?: number;
  /** Milliseconds between refreshes while a space is still `mounting`; 2 s by default. */
  mountingInterval?: number;
  timers?: ITimers;
}

export interface ISummary {
  total: number;
  /** Spaces that need the user: needs-credentials or error. */
  attention: number;
}

/** Statuses the user should act on. `unmounted` is the user's own choice; `mounting` passes. */
export function needsAttention(space: ISpace): boolean {
  return space.status === 'needs-credentials' || space.status === 'error';
}

/** An action of the Data panel on one space (IPanelActions' names; `credentials` opens `connect`). */
export type SpaceAction =
  | 'open'
  | 'connect'
  | 'retry'
  | 'mount'
  | 'disconnect'
  | 'credentials'
  | 'forget'
  | 'remove';

/**
 * The actions a space's row offers, in order, and whether each is the one to take now (primary).
 * Homes and shared folders can only be opened; remote spaces connect, retry, disconnect, and
 * manage credentials; the user's own spaces can be removed.
 */
export function spaceActions(
  space: ISpace
): { action: SpaceAction; primary: boolean }[] {
  const out: { action: SpaceAction; primary: boolean }[] = [];
  const add = (action: SpaceAction, primary = false) =>
    out.push({ action, primary });
  const { status } = space;
  const asks = space.credential_fields.length > 0;
  if (status === 'mounted' || status === 'mounting') {
    add('open', !needsAttention(space));
  }
  if (space.kind === 'home' || space.kind === 'shared') {
    return out;
  }
  if (status === 'needs-credentials' && asks) {
    add('connect', true);
  }
  if (status === 'error' || (status === 'needs-credentials' && !asks)) {
    add('retry', true);
  }
  if (status === 'unmounted') {
    add('mount', true);
  }
  if (status === 'mounted' || status === 'error' || status === 'mounting') {
    add('disconnect');
  }
  if (asks && status !== 'needs-credentials') {
    add('credentials');
  }
  if (asks && space.has_credentials) {
    add('forget');
  }
  if (space.origin === 'user') {
    add('remove');
  }
  return out;
}

/** The path of a space in the file browser (the home is the root). */
export function browserPath(space: ISpace): string {
  return space.kind === 'home' ? '' : space.mount;
}

/** The name a space is shown by: the label its settings give (admins' or the user's), else its name. */
export function spaceLabel(space: ISpace): string {
  const label = space.settings?.label;
  return typeof label === 'string' && label.trim() ? label.trim() : space.name;
}

/**
 * A date of the contents API, or null where the storage gave none: missing (null), unreadable, or
 * the epoch (1970-01-01), which a server sends for a file or folder without a date.
 */
export function knownDate(value: string | null | undefined): Date | null {
  if (!value) {
    return null;
  }
  const date = new Date(value);
  return Number.isNaN(date.getTime()) || date.getTime() <= 0 ? null : date;
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
export function usage(
  space: ISpace
): { used: number; total: number; fraction: number } | null {
  if (
    space.used_bytes === null ||
    space.quota_bytes === null ||
    !(space.quota_bytes > 0)
  ) {
    return null;
  }
  const fraction = Math.min(
    1,
    Math.max(0, space.used_bytes / space.quota_bytes)
  );
  return { used: space.used_bytes, total: space.quota_bytes, fraction };
}

/** True when files in the folder `path` outlive the server (`kept` as the server answered it). */
export function isKept(path: string, kept: readonly string[]): boolean {
  const p = path.replace(/^\/+|\/+$/g, '');
  return kept.some(k => k === '' || p === k || p.startsWith(`${k}/`));
}

/** The space a path of the file browser is in: the one with the longest folder containing it, else the home. */
export function spaceAt(
  path: string,
  spaces: readonly ISpace[]
): ISpace | null {
  const p = path.replace(/^\/+|\/+$/g, '');
  let best: ISpace | null = null;
  for (const s of spaces) {
    const inside =
      s.mount === '' || p === s.mount || p.startsWith(`${s.mount}/`);
    if (inside && (best === null || s.mount.length > best.mount.length)) {
      best = s;
    }
  }
  return best;
}

/**
 * What the file browser says about the folder it shows: the read-only space it is in, and whether
 * what is saved there is lost when the server stops. `kept` null: not known yet (no hint).
 */
export function folderState(
  path: string,
  spaces: readonly ISpace[],
  kept: readonly string[] | null
): { readOnly: ISpace | null; notKept: boolean } {
  const space = spaceAt(path, spaces);
  return {
    readOnly: space && space.read_only ? space : null,
    notKept: kept !== null && !isKept(path, kept)
  };
}

/** Where the user's work is kept, for the hint: the shortest kept folder ('' is the root). */
export function keptHome(kept: readonly string[]): string | null {
  return kept.length ? [...kept].sort((a, b) => a.length - b.length)[0] : null;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RESERVED = new Set([
  'home',
  '.nbspaces',
  '.local',
  '.jupyter',
  '.ipython',
  '.config'
]);

export type NameProblem = 'empty' | 'invalid' | 'reserved' | 'taken';
export type FieldProblem =
  'empty' | 'invalid' | 'credentials' | 'integer' | 'range' | 'choice';

/** Checks a new space's name (the server checks it again); undefined when it may be sent. */
export function validateName(
  name: string,
  existing: readonly ISpace[]
): NameProblem | undefined {
  const trimmed = name.trim();
  if (!trimmed) {
    return 'empty';
  }
  if (!NAME.test(trimmed)) {
    return 'invalid';
  }
  if (RESERVED.has(trimmed)) {
    return 'reserved';
  }
  if (existing.some(s => s.name === trimmed || s.mount === trimmed)) {
    return 'taken';
  }
  return undefined;
}

/**
 * Checks one value of a field as its type asks (the server checks it again); undefined when it
 * may be sent. `value` is what the form holds: text, or "true"/"false" for a boolean.
 */
export function validateField(
  field: IField,
  value: string
): FieldProblem | undefined {
  const v = field.secret ? value : value.trim();
  if (!v.trim()) {
    return field.required ? 'empty' : undefined;
  }
  switch (field.type) {
    case 'url': {
      let parsed: URL | null = null;
      try {
        parsed = new URL(v);
      } catch {
        parsed = null;
      }
      if (
        !parsed ||
        !['http:', 'https:'].includes(parsed.protocol) ||
        !parsed.hostname
      ) {
        return 'invalid';
      }
      return parsed.username || parsed.password ? 'credentials' : undefined;
    }
    case 'integer': {
      if (!/^[+-]?\d+$/.test(v)) {
        return 'integer';
      }
      const n = Number(v);
      const { minimum, maximum } = field;
      const below = minimum !== undefined && minimum !== null && n < minimum;
      const above = maximum !== undefined && maximum !== null && n > maximum;
      return below || above ? 'range' : undefined;
    }
    case 'select':
      return (field.choices ?? []).includes(v) ? undefined : 'choice';
    default:
      return undefined;
  }
}

/** How a form asks for a field: which element, of which input type, with which limits. */
export interface IControl {
  tag: 'input' | 'textarea' | 'select';
  /** For `input`. */
  type?: 'text' | 'url' | 'password' | 'number' | 'checkbox';
  min?: number;
  max?: number;
  /** For `select`: its options' values, '' first when the field may stay unset. */
  options?: string[];
  /** What the browser may fill in: never a stored password, never a secret. */
  autocomplete: 'off' | 'new-password';
}

/**
 * The control of a field, from its type: text and addresses are text inputs, a password a
 * password input, an integer a number input with its range, a boolean a checkbox, a select its
 * choices, a secret (a private key, several lines) a text area.
 */
export function controlFor(field: IField): IControl {
  switch (field.type) {
    case 'url':
      return { tag: 'input', type: 'url', autocomplete: 'off' };
    case 'password':
      return { tag: 'input', type: 'password', autocomplete: 'new-password' };
    case 'integer': {
      const control: IControl = {
        tag: 'input',
        type: 'number',
        autocomplete: 'off'
      };
      if (typeof field.minimum === 'number') {
        control.min = field.minimum;
      }
      if (typeof field.maximum === 'number') {
        control.max = field.maximum;
      }
      return control;
    }
    case 'boolean':
      return { tag: 'input', type: 'checkbox', autocomplete: 'off' };
    case 'select': {
      const choices = field.choices ?? [];
      return {
        tag: 'select',
        options: field.required ? choices : ['', ...choices],
        autocomplete: 'off'
      };
    }
    case 'secret':
      return { tag: 'textarea', autocomplete: 'off' };
    default:
      return {
        tag: 'input',
        type: 'text',
        autocomplete: field.secret ? 'new-password' : 'off'
      };
  }
}

/** A field's link when it is a web page (http or https); null otherwise, and then no link is shown. */
export function fieldLink(field: IField): string | null {
  if (!field.link) {
    return null;
  }
  try {
    const url = new URL(field.link);
    return ['http:', 'https:'].includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * A setting as the server takes it, from what the form holds: nothing for an empty value (the
 * server's default), a number for an integer, true or false for a boolean, else the text trimmed.
 */
export function settingValue(
  field: IField,
  value: string
): string | number | boolean | undefined {
  const v = value.trim();
  if (!v) {
    return undefined;
  }
  if (field.type === 'integer') {
    return Number(v);
  }
  if (field.type === 'boolean') {
    return v === 'true';
  }
  return v;
}

/**
 * The required credential fields left empty while others are given: credentials are all the
 * required ones or none (then the space waits for them). `values` by field name.
 */
export function missingCredentials(
  fields: readonly IField[],
  values: Readonly<Record<string, string>>
): string[] {
  const given = fields.some(f => (values[f.name] ?? '').trim());
  return given
    ? fields
        .filter(f => f.required && !(values[f.name] ?? '').trim())
        .map(f => f.name)
    : [];
}

/**
 * What the "Add a space" form sends, from its values (`name`, `setting:<name>`,
 * `credential:<name>`): every setting given, as its type asks; the label is the name when none is
 * given; credentials only when given (without them the space waits for them).
 */
export function newSpace(
  kind: string,
  spec: IKindForm,
  values: Readonly<Record<string, string>>
): INewSpace {
  const name = (values.name ?? '').trim();
  const settings: Record<string, unknown> = {};
  for (const f of spec.setting_fields) {
    const v = settingValue(f, values[`setting:${f.name}`] ?? '');
    if (v !== undefined) {
      settings[f.name] = v;
    }
  }
  if (spec.setting_fields.some(f => f.name === 'label') && !settings.label) {
    settings.label = name;
  }
  const body: INewSpace = { name, kind, settings };
  const credentials: Record<string, string> = {};
  for (const c of spec.credential_fields) {
    const v = values[`credential:${c.name}`];
    if (v && v.trim()) {
      credentials[c.name] = v;
    }
  }
  if (Object.keys(credentials).length) {
    body.credentials = credentials;
  }
  return body;
}

/** A new space that trusts what the server offered (an SSH server's host key): in its settings. */
export function withOffer(
  space: INewSpace,
  offer: Readonly<Record<string, string>>
): INewSpace {
  return { ...space, settings: { ...space.settings, ...offer } };
}

/** The `offer` of an error body: an object of strings, else null. */
function offerOf(data: unknown): Record<string, string> | null {
  const offer =
    data && typeof data === 'object'
      ? (data as { offer?: unknown }).offer
      : undefined;
  if (!offer || typeof offer !== 'object' || Array.isArray(offer)) {
    return null;
  }
  const entries = Object.entries(offer as Record<string, unknown>);
  return entries.length && entries.every(([, v]) => typeof v === 'string')
    ? (Object.fromEntries(entries) as Record<string, string>)
    : null;
}

const DEFAULT_TIMERS: ITimers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: handle =>
    globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>)
};

export class SpacesModel {
  constructor(options: IModelOptions) {
    this._request = options.request;
    this._interval = options.interval ?? 10_000;
    this._mountingInterval = options.mountingInterval ?? 2_000;
    this._timers = options.timers ?? DEFAULT_TIMERS;
  }

  /** The spaces as last seen; empty until the first answer. */
  get spaces(): readonly ISpace[] {
    return this._spaces;
  }

  /** What the dialogs ask for each kind (`kinds`). */
  get kinds(): Readonly<Record<string, IKindForm>> {
    return this._kinds;
  }

  /** Folders whose files outlive the server; null until the server said (or when it cannot). */
  get kept(): readonly string[] | null {
    return this._kept;
  }

  /**
   * The kinds the user may add (`user_kinds`) that the server also has a form for (`kinds`: a
   * kind without a driver on the server has none): what the "Add a space" form offers.
   * Empty when users may add nothing.
   */
  get addableKinds(): Readonly<Record<string, IKindForm>> {
    const kinds = this._userKinds.filter(k => Object.hasOwn(this._kinds, k));
    return Object.fromEntries(kinds.map(k => [k, this._kinds[k]]));
  }

  get isolation(): string {
    return this._isolation;
  }

  /** True when this server has no spaces API (not spawned by nbspaces): nothing to poll. */
  get unavailable(): boolean {
    return this._unavailable;
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

  get summary(): ISummary {
    return {
      total: this._spaces.length,
      attention: this._spaces.filter(needsAttention).length
    };
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
    void this.loadKept();
    void this.refresh();
  }

  /** Asks which folders are kept (it does not change while the server runs). Never throws. */
  async loadKept(): Promise<void> {
    try {
      const answer = (await this._call('kept', 'GET')) as IKept;
      this._kept = Array.isArray(answer?.kept) ? answer.kept : null;
    } catch (e) {
      this._kept = null;
      console.warn('nbspaces: which folders are kept is not known', e);
    }
    this._emit();
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

  /**
   * Tests the credentials on the server and connects with them if they work; throws ApiError
   * otherwise. `remember`: stored (encrypted) for the next starts; else used until the server
   * stops, and any stored before are forgotten.
   */
  setCredentials(
    name: string,
    values: Record<string, string>,
    remember = true
  ): Promise<ISpace> {
    const path = `spaces/${encodeURIComponent(name)}/credentials`;
    return this._act(
      name,
      remember ? path : `${path}?remember=false`,
      'PUT',
      values
    );
  }

  forgetCredentials(name: string): Promise<ISpace> {
    return this._act(
      name,
      `spaces/${encodeURIComponent(name)}/credentials`,
      'DELETE'
    );
  }

  mount(name: string): Promise<ISpace> {
    return this._act(name, `spaces/${encodeURIComponent(name)}/mount`, 'POST');
  }

  unmount(name: string): Promise<ISpace> {
    return this._act(
      name,
      `spaces/${encodeURIComponent(name)}/unmount`,
      'POST'
    );
  }

  retry(name: string): Promise<ISpace> {
    return this._act(name, `spaces/${encodeURIComponent(name)}/retry`, 'POST');
  }

  /**
   * Trusts what a refusal offered (`ApiError.offer`, after the user checked it); the server
   * remembers it for the space and connects again.
   */
  accept(name: string, offer: Record<string, string>): Promise<ISpace> {
    return this._act(
      name,
      `spaces/${encodeURIComponent(name)}/accept`,
      'POST',
      offer
    );
  }

  async addSpace(space: INewSpace): Promise<ISpace> {
    const added = (await this._call('spaces', 'POST', space)) as ISpace;
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

  private async _act(
    name: string,
    path: string,
    method: string,
    body?: unknown
  ): Promise<ISpace> {
    this._setBusy(name, true);
    try {
      const space = (await this._call(path, method, body)) as ISpace;
      this._put(space);
      return space;
    } finally {
      this._setBusy(name, false);
      void this.refresh();
    }
  }

  private async _refresh(): Promise<void> {
    try {
      const list = (await this._call('spaces', 'GET')) as ISpaceList;
      this._spaces = Array.isArray(list.spaces) ? list.spaces : [];
      this._userKinds = Array.isArray(list.user_kinds) ? list.user_kinds : [];
      this._kinds =
        list.kinds && typeof list.kinds === 'object' ? list.kinds : {};
      this._isolation = list.isolation ?? '';
      this._loaded = true;
      this._error = '';
    } catch (e) {
      this._error = e instanceof Error ? e.message : String(e);
      // A server not spawned by nbspaces has no spaces; asking again will not change that.
      this._unavailable =
        !this._loaded && e instanceof ApiError && e.status === 404;
    }
    this._emit();
  }

  private _schedule(): void {
    if (!this._running || this._unavailable) {
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

  private async _call(
    path: string,
    method: string,
    body?: unknown
  ): Promise<unknown> {
    let response: IResponseLike;
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
        data &&
        typeof data === 'object' &&
        typeof (data as { message?: unknown }).message === 'string'
          ? (data as { message: string }).message
          : `${response.status}`;
      throw new ApiError(response.status, message, offerOf(data));
    }
    return data;
  }

  private _put(space: ISpace): void {
    if (!space || typeof space.name !== 'string') {
      return;
    }
    const i = this._spaces.findIndex(
      s => s.name === space.name && s.kind === space.kind
    );
    this._spaces =
      i >= 0
        ? this._spaces.map((s, j) => (j === i ? space : s))
        : [...this._spaces, space];
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
  private _timers: ITimers;
  private _spaces: ISpace[] = [];
  private _userKinds: string[] = [];
  private _kinds: Record<string, IKindForm> = {};
  private _kept: string[] | null = null;
  private _isolation = '';
  private _loaded = false;
  private _unavailable = false;
  private _error = '';
  private _busy = new Set<string>();
  private _listeners = new Set<() => void>();
  private _pending: Promise<void> | null = null;
  private _again = false;
  private _running = false;
  private _timer: unknown = null;
}

/**
 * What to tell the user when the file browser cannot open a folder: the server's own message (a
 * remote space in error answers 503 "'team' is not available: ..."). The browser retries the
 * folder while it shows it, so one fault is told once; a 404 JupyterLab reports itself.
 */
export class FolderFailures {
  private _last = '';

  /** The message to show for a failure to open `path`, or null when there is nothing new to say. */
  message(
    status: number | undefined,
    text: string,
    path: string
  ): string | null {
    if (status === 404) {
      return null;
    }
    const message = text || `The folder "${path}" cannot be opened`;
    const key = `${path}\n${message}`;
    if (key === this._last) {
      return null;
    }
    this._last = key;
    return message;
  }

  /** A folder opened: the next failure is news again. */
  opened(): void {
    this._last = '';
  }
}
