/**
 * The "Data" side panel: every space, its status, usage and actions. It draws the model's last
 * known state; actions run in the background and the model refreshes after them.
 */

import { TranslationBundle } from '@jupyterlab/translation';
import { lockIcon, refreshIcon, addIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { dataIcon, kindIcon } from './icons';
import { browserPath, formatBytes, needsAttention, Space, SpacesModel, Status, usage } from './model';

export interface IPanelActions {
  open(space: Space): void;
  connect(space: Space): void;
  retry(space: Space): void;
  mount(space: Space): void;
  disconnect(space: Space): void;
  forget(space: Space): void;
  remove(space: Space): void;
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

export function kindLabel(kind: string, trans: TranslationBundle): string {
  switch (kind) {
    case 'home':
      return trans.__('Home');
    case 'shared':
      return trans.__('Shared folder');
    case 'webdav':
      return trans.__('WebDAV');
    case 'onedata':
      return trans.__('EGI DataHub (Onedata)');
    case 'd4science':
      return trans.__('D4Science workspace');
    default:
      return kind;
  }
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
    this._addButton = this._iconButton(addIcon.element({ tag: 'span' }), _trans.__('Add a space'), () =>
      this._actions.add()
    );
    this._addButton.classList.add('nbs-DataPanel-add');
    const refresh = this._iconButton(refreshIcon.element({ tag: 'span' }), _trans.__('Refresh'), () =>
      this._actions.refresh()
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
      this._notice.textContent = trans.__('This server was not started with nbspaces: it has no spaces to show.');
    } else if (!model.loaded) {
      this._notice.textContent = model.error
        ? trans.__('The spaces cannot be listed: %1', model.error)
        : trans.__('Loading your spaces…');
    } else {
      this._notice.textContent = model.error ? trans.__('Not up to date: %1', model.error) : '';
    }
    this._notice.hidden = !this._notice.textContent;

    // Keep keyboard focus across redraws (the panel redraws on every refresh).
    const active = document.activeElement as HTMLElement | null;
    const focusKey =
      active && this._list.contains(active) ? `${active.dataset.space ?? ''}/${active.dataset.action ?? ''}` : null;

    this._list.replaceChildren(...model.spaces.map(s => this._row(s)));

    if (focusKey) {
      const [space, action] = focusKey.split('/');
      const again = this._list.querySelector<HTMLElement>(
        `[data-space="${CSS.escape(space)}"][data-action="${CSS.escape(action)}"]`
      );
      again?.focus();
    }
  }

  private _row(space: Space): HTMLLIElement {
    const trans = this._trans;
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

    const head = document.createElement('div');
    head.className = 'nbs-Space-head';
    const icon = kindIcon(space.kind).element({ tag: 'span', className: 'nbs-Space-icon' });
    icon.title = kindLabel(space.kind, trans);
    const name = document.createElement('span');
    name.className = 'nbs-Space-name';
    name.textContent = space.kind === 'home' ? trans.__('Home') : space.name;
    head.append(icon, name);
    if (space.read_only) {
      const badge = document.createElement('span');
      badge.className = 'nbs-Badge nbs-Badge-readonly';
      if (this._model.isolation === 'basic') {
        // Basic isolation: only the file browser refuses writes; code in a kernel or terminal can write.
        badge.title = trans.__('The file browser will not change these files, but code in a notebook or terminal can');
        badge.append(trans.__('read-only in the file browser only; code can write here'));
      } else {
        badge.title = trans.__('You can read these files but not change them');
        badge.append(lockIcon.element({ tag: 'span', className: 'nbs-Badge-icon' }), trans.__('read-only'));
      }
      head.appendChild(badge);
    }
    const light = document.createElement('span');
    light.className = `nbs-Status nbs-Status-${space.status}`;
    const statusText = statusLabel(space.status, trans);
    light.title = space.reason ? `${statusText}: ${space.reason}` : statusText;
    const dot = document.createElement('span');
    dot.className = 'nbs-Status-light';
    dot.setAttribute('aria-hidden', 'true');
    const text = document.createElement('span');
    text.className = 'nbs-Status-text';
    text.textContent = busy ? trans.__('Working…') : statusText;
    light.append(dot, text);
    head.appendChild(light);
    li.appendChild(head);

    const where = document.createElement('div');
    where.className = 'nbs-Space-mount';
    where.textContent =
      space.kind === 'home' ? `~ · ${kindLabel(space.kind, trans)}` : `~/${space.mount} · ${kindLabel(space.kind, trans)}`;
    where.title = space.description || where.textContent;
    li.appendChild(where);

    const details = [space.reason, space.status === 'mounted' ? space.posix_reason : '', space.description]
      .filter(Boolean)
      .filter((x, i, all) => all.indexOf(x) === i);
    if (details.length) {
      const d = document.createElement('div');
      d.className = 'nbs-Space-details';
      d.textContent = details.join(' — ');
      li.appendChild(d);
    }

    const use = usage(space);
    if (use) {
      const bar = document.createElement('div');
      bar.className = 'nbs-Usage';
      const meter = document.createElement('div');
      meter.className = 'nbs-Usage-bar';
      meter.setAttribute('role', 'meter');
      meter.setAttribute('aria-valuemin', '0');
      meter.setAttribute('aria-valuemax', String(use.total));
      meter.setAttribute('aria-valuenow', String(use.used));
      const label = trans.__('%1 of %2', formatBytes(use.used), formatBytes(use.total));
      meter.setAttribute('aria-label', label);
      const fill = document.createElement('div');
      fill.className = 'nbs-Usage-fill';
      fill.style.width = `${(use.fraction * 100).toFixed(1)}%`;
      if (use.fraction >= 0.9) {
        fill.classList.add('nbs-mod-full');
      }
      meter.appendChild(fill);
      const caption = document.createElement('div');
      caption.className = 'nbs-Usage-text';
      caption.textContent = label;
      bar.append(meter, caption);
      li.appendChild(bar);
    }

    const actions = document.createElement('div');
    actions.className = 'nbs-Space-actions';
    const remote = space.kind !== 'home' && space.kind !== 'shared';
    const add = (action: string, label: string, fn: () => void, primary = false) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = `jp-Button nbs-Action ${primary ? 'jp-mod-accept' : 'jp-mod-reject'} jp-mod-styled`;
      b.textContent = label;
      b.dataset.space = space.name;
      b.dataset.action = action;
      b.disabled = busy;
      b.addEventListener('click', fn);
      actions.appendChild(b);
    };
    if (space.status === 'mounted' || space.status === 'mounting') {
      add('open', trans.__('Open'), () => this._actions.open(space), !needsAttention(space));
    }
    if (remote) {
      if (space.status === 'needs-credentials' && space.credential_fields.length) {
        add('connect', trans.__('Connect…'), () => this._actions.connect(space), true);
      }
      if (space.status === 'error' || (space.status === 'needs-credentials' && !space.credential_fields.length)) {
        add('retry', trans.__('Retry'), () => this._actions.retry(space), true);
      }
      if (space.status === 'unmounted') {
        add('mount', trans.__('Connect'), () => this._actions.mount(space), true);
      }
      if (space.status === 'mounted' || space.status === 'error' || space.status === 'mounting') {
        add('disconnect', trans.__('Disconnect'), () => this._actions.disconnect(space));
      }
      if (space.credential_fields.length && space.status !== 'needs-credentials') {
        add('credentials', trans.__('Change credentials…'), () => this._actions.connect(space));
      }
      if (space.credential_fields.length && space.has_credentials) {
        add('forget', trans.__('Forget credentials'), () => this._actions.forget(space));
      }
      if (space.origin === 'user') {
        add('remove', trans.__('Remove'), () => this._actions.remove(space));
      }
    }
    if (actions.childElementCount) {
      li.appendChild(actions);
    }
    return li;
  }

  private _iconButton(icon: HTMLElement, label: string, fn: () => void): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'jp-ToolbarButtonComponent jp-mod-minimal jp-Button nbs-IconButton';
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
      text = trans._n('Data: %1 needs attention', 'Data: %1 need attention', attention, attention);
    } else {
      text = trans._n('Data: %1 space', 'Data: %1 spaces', total, total);
    }
    this.node.textContent = text;
    this.node.classList.toggle('nbs-mod-attention', attention > 0);
    const names = this._model.spaces
      .filter(needsAttention)
      .map(s => `${s.name}: ${statusLabel(s.status, trans)}${s.reason ? ` (${s.reason})` : ''}`);
    this.node.title = names.length ? names.join('\n') : trans.__('Show the Data panel');
  }

  private _off: () => void;
}

export { browserPath };
