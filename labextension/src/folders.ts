/**
 * "Nothing lost by surprise" in JupyterLab's file browser: a lock on every item the server says
 * is not writable, no made-up date where the storage has none, and a line above the listing when the folder shown is read-only or is not kept
 * after the server stops (the server decides what is kept: GET /nbspaces/api/kept).
 */

import { Time } from '@jupyterlab/coreutils';
import { DirListing } from '@jupyterlab/filebrowser';
import { TranslationBundle } from '@jupyterlab/translation';
import { lockIcon } from '@jupyterlab/ui-components';
import { ISignal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { folderState, keptHome, knownDate, SpacesModel } from './model';

const MARK_CLASS = 'nbs-ReadOnlyMark';
const MODIFIED_CLASS = 'jp-DirListing-itemModified';
const CREATED_CLASS = 'jp-DirListing-itemCreated';

type DateStyle = Time.HumanStyle;

/**
 * The default file browser's item renderer, with a lock on items that are not writable
 * (`writable: false` in the contents model: read-only shared folders and spaces, and their files),
 * and no date where the storage gives none (JupyterLab would show the epoch as "56y ago", or leave
 * the date of the item a recycled row showed before).
 */
export class ItemRenderer extends DirListing.Renderer {
  constructor(private _trans: TranslationBundle) {
    super();
  }

  updateItemNode(
    ...args: Parameters<DirListing.Renderer['updateItemNode']>
  ): void {
    super.updateItemNode(...args);
    const [node, model, , , , , modifiedStyle, , createdStyle] = args;
    this._markReadOnly(node, model.writable === false);
    // JupyterLab leaves a cell without a date untouched: clear it here.
    const modified = node.querySelector<HTMLElement>(`.${MODIFIED_CLASS}`);
    if (modified) {
      this.updateItemModified(modified, model.last_modified, modifiedStyle);
    }
    const created = node.querySelector<HTMLElement>(`.${CREATED_CLASS}`);
    if (created) {
      this.updateItemCreated(created, model.created, createdStyle);
    }
    this._dropUnknownDates(node, [model.last_modified, model.created]);
  }

  updateItemModified(
    cell: HTMLElement,
    value: string | null | undefined,
    style?: DateStyle
  ): void {
    this._showDate(cell, value, style ?? 'short');
  }

  updateItemCreated(
    cell: HTMLElement,
    value: string | null | undefined,
    style?: DateStyle
  ): void {
    this._showDate(cell, value, style ?? 'short');
  }

  private _markReadOnly(node: HTMLElement, readOnly: boolean): void {
    node.classList.toggle('nbs-mod-readonly', readOnly);
    let mark = node.querySelector<HTMLElement>(`.${MARK_CLASS}`);
    if (!readOnly) {
      mark?.remove();
      return;
    }
    if (!mark) {
      mark = lockIcon.element({ tag: 'span', className: MARK_CLASS });
      mark.setAttribute('role', 'img');
      const text = this.getNameNode(node);
      (text ?? node).insertAdjacentElement(
        text ? 'afterend' : 'beforeend',
        mark
      );
    }
    const label = this._trans.__('Read-only: you can open it, not change it');
    mark.title = label;
    mark.setAttribute('aria-label', label);
  }

  /** A date cell: the date as JupyterLab writes it, or nothing. Formatting is costly: done on change only. */
  private _showDate(
    cell: HTMLElement,
    value: string | null | undefined,
    style: DateStyle
  ): void {
    const date = knownDate(value);
    const key = date ? `${date.getTime()} ${style}` : '';
    if (this._shown.get(cell) === key) {
      return;
    }
    this._shown.set(cell, key);
    cell.textContent = date ? Time.formatHuman(date, style) : '';
    cell.title = date
      ? Time.format(date)
      : this._trans.__('The storage gives no date');
  }

  /** The item's tooltip without the epoch JupyterLab writes for a date the storage did not give. */
  private _dropUnknownDates(
    node: HTMLElement,
    values: (string | null | undefined)[]
  ): void {
    const unknown = values
      .filter(v => v && knownDate(v) === null)
      .map(v => Time.format(new Date(v as string)));
    if (unknown.length) {
      node.title = node.title
        .split('\n')
        .filter(line => !unknown.some(text => line.endsWith(text)))
        .join('\n');
    }
  }

  private _shown = new WeakMap<HTMLElement, string>();
}

/** The part of the file browser's model the hint reads. */
export interface IBrowserPath {
  readonly path: string;
  readonly pathChanged: ISignal<unknown, unknown>;
}

/**
 * A line at the top of the file browser about the folder it shows: read-only, or not kept after
 * the server stops (with a button to the kept folder). Hidden when there is nothing to say.
 */
export class FolderHint extends Widget {
  constructor(
    private _model: SpacesModel,
    private _browser: IBrowserPath,
    private _trans: TranslationBundle,
    private _goTo: (path: string) => void
  ) {
    super();
    this.addClass('nbs-FolderHint');
    this.node.setAttribute('role', 'status');
    this._off = _model.onChange(() => this.render());
    _browser.pathChanged.connect(this.render, this);
    this.render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._off();
    this._browser.pathChanged.disconnect(this.render, this);
    super.dispose();
  }

  render(): void {
    const trans = this._trans;
    const path = this._browser.path;
    const { readOnly, notKept } = folderState(
      path,
      this._model.spaces,
      this._model.kept
    );
    this.node.replaceChildren();
    this.node.classList.toggle('nbs-mod-readonly', !!readOnly);
    this.node.classList.toggle('nbs-mod-notkept', notKept);
    if (readOnly) {
      const line = document.createElement('div');
      line.className = 'nbs-FolderHint-line nbs-FolderHint-readonly';
      const text = document.createElement('span');
      text.className = 'nbs-FolderHint-text';
      text.textContent = trans.__(
        'Read-only: %1 is shared with you to read. Save your changes in your home.',
        readOnly.name
      );
      line.append(
        lockIcon.element({ tag: 'span', className: 'nbs-FolderHint-icon' }),
        text
      );
      this.node.appendChild(line);
    }
    if (notKept) {
      const line = document.createElement('div');
      line.className = 'nbs-FolderHint-line nbs-FolderHint-notkept';
      const text = document.createElement('span');
      text.className = 'nbs-FolderHint-text';
      text.textContent = trans.__(
        'Not kept: files in this folder are lost when your server stops.'
      );
      line.appendChild(text);
      const home = keptHome(this._model.kept ?? []);
      if (home !== null) {
        const go = document.createElement('button');
        go.type = 'button';
        go.className =
          'jp-Button jp-mod-styled jp-mod-reject nbs-FolderHint-go';
        go.textContent = trans.__('Go to a kept folder');
        go.title = home ? `/${home}` : '/';
        go.addEventListener('click', () => this._goTo(home));
        line.appendChild(go);
      }
      this.node.appendChild(line);
    }
    this.setHidden(!readOnly && !notKept);
  }

  private _off: () => void;
}
