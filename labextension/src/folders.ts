/**
 * "Nothing lost by surprise" in JupyterLab's file browser: a lock on every item the server says
 * is not writable, and a line above the listing when the folder shown is read-only or is not kept
 * after the server stops (the server decides what is kept: GET /nbspaces/api/kept).
 */

import { DirListing } from '@jupyterlab/filebrowser';
import { TranslationBundle } from '@jupyterlab/translation';
import { lockIcon } from '@jupyterlab/ui-components';
import { ISignal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { folderState, keptHome, SpacesModel } from './model';

const MARK_CLASS = 'nbs-ReadOnlyMark';

/**
 * The default file browser's item renderer with a lock on items that are not writable
 * (`writable: false` in the contents model: read-only shared folders and spaces, and their files).
 */
export class ReadOnlyMarkRenderer extends DirListing.Renderer {
  constructor(private _trans: TranslationBundle) {
    super();
  }

  updateItemNode(
    ...args: Parameters<DirListing.Renderer['updateItemNode']>
  ): void {
    super.updateItemNode(...args);
    const [node, model] = args;
    const readOnly = model.writable === false;
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
