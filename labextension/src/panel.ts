/**
 * The "Data" side panel: every space, its status, usage and actions. It draws the model's last
 * known state; actions run in the background and the model refreshes after them.
 */

import { TranslationBundle } from '@jupyterlab/translation';
import { lockIcon, refreshIcon, addIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { dataIcon, kindIcon } from './icons';
import {
  browserPath,
  formatBytes,
  IKindForm,
  needsAttention,
  ISpace,
  SpaceAction,
  spaceActions,
  spaceLabel,
  SpacesModel,
  Status,
  usage
} from './model';

export interface IPanelActions {
  open(space: ISpace): void;
  connect(space: ISpace): void;
  retry(space: ISpace): void;
  mount(space: ISpace): void;
  disconnect(space: ISpace): void;
  forget(space: ISpace): void;
  remove(space: ISpace): void;
  add(): void;
  refresh(): void;
}

export function statusLabel(status: Status, trans: TranslationBundle): string {
  switch (status) {
    case 'mounted':
      return trans.__('Mounted');
    case 'mounting':
      return trans.__('Mounting…');
    case 'needs-credentials':
      return trans.__('Needs credentials');
    case 'unmounted':
      return trans.__('Disconnected');
    case 'error':
      return trans.__('Error');
    default:
      return String(status);
  }
}

/** A kind in words: the home and shared folders here, a remote kind as the server names it. */
export function kindLabel(
  kind: string,
  kinds: Readonly<Record<string, IKindForm>>,
  trans: TranslationBundle
): string {
  if (kind === 'home') {
    return trans.__('Home');
  }
  if (kind === 'shared') {
    return trans.__('Shared folder');
  }
  return Object.hasOwn(kinds, kind) ? kinds[kind].label : kind;
}

export class DataPanel extends Widget {
  constructor(
    private _model: SpacesModel,
    private _trans: TranslationBundle,
    private _actions: IPanelActions
  ) {
    super();
    this.id = 'nbspaces-data-panel';
    this.addClass('nbs-DataPanel');
    this.node.tabIndex = -1;
    this.title.icon = dataIcon;
    this.title.caption = _trans.__('Data: your spaces');

    const header = document.createElement('div');
    header.className = 'nbs-DataPanel-header';
    const h = document.createElement('h2');
    h.className = 'nbs-DataPanel-title';
    h.textContent = _trans.__('Data');
    this._addButton = this._iconButton(
      addIcon.element({ tag: 'span' }),
      _trans.__('Add a space'),
      () => this._actions.add()
    );
    this._addButton.classList.add('nbs-DataPanel-add');
    const refresh = this._iconButton(
      refreshIcon.element({ tag: 'span' }),
      _trans.__('Refresh'),
      () => this._actions.refresh()
    );
    header.append(h, this._addButton, refresh);

    this._notice = document.createElement('div');
    this._notice.className = 'nbs-DataPanel-notice';
    this._notice.setAttribute('role', 'status');

    this._list = document.createElement('ul');
    this._list.className = 'nbs-SpaceList';
    this._list.setAttribute('aria-label', _trans.__('Spaces'));

    this.node.append(header, this._notice, this._list);
    this._off = _model.onChange(() => this.render());
    this.render();
  }

  dispose(): void {
    this._off();
    super.dispose();
  }

  /** Opened from the keyboard (shortcut, palette): focus moves in, so Tab reaches the actions. */
  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (!this.node.contains(document.activeElement)) {
      this.node.focus();
    }
  }

  render(): void {
    const model = this._model;
    const trans = this._trans;
    this._addButton.hidden = !Object.keys(model.addableKinds).length;
    if (model.unavailable) {
      this._notice.textContent = trans.__(
        'This server was not started with nbspaces: it has no spaces to show.'
      );
    } else if (!model.loaded) {
      this._notice.textContent = model.error
        ? trans.__('The spaces cannot be listed: %1', model.error)
        : trans.__('Loading your spaces…');
    } else {
      this._notice.textContent = model.error
        ? trans.__('Not up to date: %1', model.error)
        : '';
    }
    this._notice.hidden = !this._notice.textContent;

    // Keep keyboard focus across redraws (the panel redraws on every refresh).
    const active = document.activeElement as HTMLElement | null;
    const focusKey =
      active && this._list.contains(active)
        ? `${active.dataset.space ?? ''}/${active.dataset.action ?? ''}`
        : null;

    this._list.replaceChildren(...model.spaces.map(s => this._row(s)));

    if (focusKey) {
      const [space, action] = focusKey.split('/');
      const again = this._list.querySelector<HTMLElement>(
        `[data-space="${CSS.escape(space)}"][data-action="${CSS.escape(action)}"]`
      );
      again?.focus();
    }
  }

  /** One space: its head line, where it is, why it is not fine, its usage, its actions. */
  private _row(space: ISpace): HTMLLIElement {
    const busy = this._model.isBusy(space.name);
    const li = document.createElement('li');
    li.className = `nbs-Space nbs-mod-${space.status}`;
    li.dataset.space = space.name;
    li.dataset.kind = space.kind;
    li.dataset.status = space.status;
    if (busy) {
      li.classList.add('nbs-mod-busy');
      li.setAttribute('aria-busy', 'true');
    }
    li.append(this._head(space, busy), this._where(space));
    for (const part of [
      this._details(space),
      this._usage(space),
      this._actionButtons(space, busy)
    ]) {
      if (part) {
        li.appendChild(part);
      }
    }
    return li;
  }

  /** The kind's icon, the name the user knows the space by, a read-only badge, the status. */
  private _head(space: ISpace, busy: boolean): HTMLDivElement {
    const trans = this._trans;
    const head = document.createElement('div');
    head.className = 'nbs-Space-head';
    const icon = kindIcon(space.kind).element({
      tag: 'span',
      className: 'nbs-Space-icon'
    });
    icon.title = kindLabel(space.kind, this._model.kinds, trans);
    const name = document.createElement('span');
    name.className = 'nbs-Space-name';
    name.textContent =
      space.kind === 'home' ? trans.__('Home') : spaceLabel(space);
    name.title = name.textContent;
    head.append(icon, name);
    if (space.read_only) {
      head.appendChild(this._readOnlyBadge());
    }
    head.appendChild(this._status(space, busy));
    return head;
  }

  private _readOnlyBadge(): HTMLSpanElement {
    const trans = this._trans;
    const badge = document.createElement('span');
    badge.className = 'nbs-Badge nbs-Badge-readonly';
    if (this._model.isolation === 'basic') {
      // Basic isolation: only the file browser refuses writes; code in a kernel or terminal can write.
      badge.title = trans.__(
        'The file browser will not change these files, but code in a notebook or terminal can'
      );
      badge.append(
        trans.__('read-only in the file browser only; code can write here')
      );
    } else {
      badge.title = trans.__('You can read these files but not change them');
      badge.append(
        lockIcon.element({ tag: 'span', className: 'nbs-Badge-icon' }),
        trans.__('read-only')
      );
    }
    return badge;
  }

  /** A light and a word for the status; the reason in its tooltip. */
  private _status(space: ISpace, busy: boolean): HTMLSpanElement {
    const light = document.createElement('span');
    light.className = `nbs-Status nbs-Status-${space.status}`;
    const statusText = statusLabel(space.status, this._trans);
    light.title = space.reason ? `${statusText}: ${space.reason}` : statusText;
    const dot = document.createElement('span');
    dot.className = 'nbs-Status-light';
    dot.setAttribute('aria-hidden', 'true');
    const text = document.createElement('span');
    text.className = 'nbs-Status-text';
    text.textContent = busy ? this._trans.__('Working…') : statusText;
    light.append(dot, text);
    return light;
  }

  /** Its folder and kind, as the server names it: "~/team · " and the kind's label. */
  private _where(space: ISpace): HTMLDivElement {
    const kind = kindLabel(space.kind, this._model.kinds, this._trans);
    const where = document.createElement('div');
    where.className = 'nbs-Space-mount';
    where.textContent =
      space.kind === 'home' ? `~ · ${kind}` : `~/${space.mount} · ${kind}`;
    where.title = space.description || where.textContent;
    return where;
  }

  /** Why it is not mounted, why it has no POSIX path, its description: each once. */
  private _details(space: ISpace): HTMLDivElement | null {
    const details = [
      space.reason,
      space.status === 'mounted' ? space.posix_reason : '',
      space.description
    ]
      .filter(Boolean)
      .filter((x, i, all) => all.indexOf(x) === i);
    if (!details.length) {
      return null;
    }
    const d = document.createElement('div');
    d.className = 'nbs-Space-details';
    d.textContent = details.join(' — ');
    return d;
  }

  /** A meter of the quota used, where both numbers are known. */
  private _usage(space: ISpace): HTMLDivElement | null {
    const use = usage(space);
    if (!use) {
      return null;
    }
    const bar = document.createElement('div');
    bar.className = 'nbs-Usage';
    const meter = document.createElement('div');
    meter.className = 'nbs-Usage-bar';
    meter.setAttribute('role', 'meter');
    meter.setAttribute('aria-valuemin', '0');
    meter.setAttribute('aria-valuemax', String(use.total));
    meter.setAttribute('aria-valuenow', String(use.used));
    const label = this._trans.__(
      '%1 of %2',
      formatBytes(use.used),
      formatBytes(use.total)
    );
    meter.setAttribute('aria-label', label);
    const fill = document.createElement('div');
    fill.className = 'nbs-Usage-fill';
    fill.style.width = `${(use.fraction * 100).toFixed(1)}%`;
    fill.classList.toggle('nbs-mod-full', use.fraction >= 0.9);
    meter.appendChild(fill);
    const caption = document.createElement('div');
    caption.className = 'nbs-Usage-text';
    caption.textContent = label;
    bar.append(meter, caption);
    return bar;
  }

  /** The buttons of `spaceActions`, disabled while an action on the space runs. */
  private _actionButtons(space: ISpace, busy: boolean): HTMLDivElement | null {
    const offered = spaceActions(space);
    if (!offered.length) {
      return null;
    }
    const actions = document.createElement('div');
    actions.className = 'nbs-Space-actions';
    for (const { action, primary } of offered) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = `jp-Button nbs-Action ${primary ? 'jp-mod-accept' : 'jp-mod-reject'} jp-mod-styled`;
      b.textContent = this._actionLabel(action);
      b.dataset.space = space.name;
      b.dataset.action = action;
      b.disabled = busy;
      const run = action === 'credentials' ? 'connect' : action;
      b.addEventListener('click', () => this._actions[run](space));
      actions.appendChild(b);
    }
    return actions;
  }

  private _actionLabel(action: SpaceAction): string {
    const trans = this._trans;
    switch (action) {
      case 'open':
        return trans.__('Open');
      case 'connect':
        return trans.__('Connect…');
      case 'retry':
        return trans.__('Retry');
      case 'mount':
        return trans.__('Connect');
      case 'disconnect':
        return trans.__('Disconnect');
      case 'credentials':
        return trans.__('Change credentials…');
      case 'forget':
        return trans.__('Forget credentials');
      case 'remove':
        return trans.__('Remove');
    }
  }

  private _iconButton(
    icon: HTMLElement,
    label: string,
    fn: () => void
  ): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.className =
      'jp-ToolbarButtonComponent jp-mod-minimal jp-Button nbs-IconButton';
    b.title = label;
    b.setAttribute('aria-label', label);
    b.appendChild(icon);
    b.addEventListener('click', fn);
    return b;
  }

  private _list: HTMLUListElement;
  private _notice: HTMLDivElement;
  private _addButton: HTMLButtonElement;
  private _off: () => void;
}

/** The status bar item: "Data: 5 spaces" or "Data: 1 needs attention"; a click opens the panel. */
export class DataStatus extends Widget {
  constructor(
    private _model: SpacesModel,
    private _trans: TranslationBundle,
    onClick: () => void
  ) {
    super({ node: document.createElement('button') });
    this.addClass('nbs-StatusItem');
    (this.node as HTMLButtonElement).type = 'button';
    this.node.addEventListener('click', onClick);
    this._off = _model.onChange(() => this.render());
    this.render();
  }

  dispose(): void {
    this._off();
    super.dispose();
  }

  render(): void {
    const { total, attention } = this._model.summary;
    const trans = this._trans;
    let text: string;
    if (!this._model.loaded) {
      text = trans.__('Data: …');
    } else if (attention) {
      text = trans._n(
        'Data: %1 needs attention',
        'Data: %1 need attention',
        attention,
        attention
      );
    } else {
      text = trans._n('Data: %1 space', 'Data: %1 spaces', total, total);
    }
    this.node.textContent = text;
    this.node.classList.toggle('nbs-mod-attention', attention > 0);
    const names = this._model.spaces
      .filter(needsAttention)
      .map(
        s =>
          `${s.name}: ${statusLabel(s.status, trans)}${s.reason ? ` (${s.reason})` : ''}`
      );
    this.node.title = names.length
      ? names.join('\n')
      : trans.__('Show the Data panel');
  }

  private _off: () => void;
}

export { browserPath };
