/**
 * nbspaces JupyterLab extension: the Data panel, its status bar item and commands.
 *
 * `activate` only wires parts together; each part below does one job.
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { PathExt, URLExt } from '@jupyterlab/coreutils';
import {
  IDefaultFileBrowser,
  IDefaultFileBrowserRenderer
} from '@jupyterlab/filebrowser';
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import {
  TranslationBundle,
  ITranslator,
  nullTranslator
} from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';

import { dataIcon } from './icons';
// The file browser's renderer, its hint, the model and the panel are all in use from the start.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { FolderHint, ItemRenderer } from './folders';
// eslint-disable-next-line jupyter/prefer-lazy-imports
import {
  ApiError,
  browserPath,
  FolderFailures,
  isKept,
  keptHome,
  Requester,
  ISpace,
  SpacesModel
} from './model';
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { DataPanel, DataStatus, IPanelActions } from './panel';

const PLUGIN_ID = 'nbspaces:plugin';

namespace CommandIDs {
  export const open = 'nbspaces:open-data-panel';
  export const refresh = 'nbspaces:refresh';
  export const add = 'nbspaces:add-space';
}

/** A command without arguments, as the command registry describes it. */
const NO_ARGS = { args: { type: 'object', properties: {} } } as const;

/** Requests to the server's nbspaces API through ServerConnection (it adds the XSRF header). */
function requester(settings: ServerConnection.ISettings): Requester {
  return (path, init) =>
    ServerConnection.makeRequest(
      URLExt.join(settings.baseUrl, 'nbspaces/api', path),
      {
        method: init.method,
        body: init.body,
        headers: init.body ? { 'Content-Type': 'application/json' } : {}
      },
      settings
    );
}

/** Runs an action of the panel; a failure is told in a notification that starts with `failure`. */
async function notifyFailure(
  what: Promise<unknown>,
  failure: string
): Promise<void> {
  try {
    await what;
  } catch (e) {
    const reason =
      e instanceof ApiError || e instanceof Error ? e.message : String(e);
    Notification.error(`${failure}: ${reason}`, { autoClose: 8000 });
  }
}

/** Asks the user to confirm a destructive action; true when they did. */
async function confirm(
  trans: TranslationBundle,
  title: string,
  body: string,
  label: string
): Promise<boolean> {
  const result = await showDialog({
    title,
    body,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label })
    ]
  });
  return result.button.accept;
}

/** The "Add a space" form, or why there is none on this server. */
async function addSpace(
  model: SpacesModel,
  trans: TranslationBundle
): Promise<void> {
  const kinds = model.addableKinds;
  if (!Object.keys(kinds).length) {
    await showDialog({
      title: trans.__('Add a space'),
      body: trans.__('There is no kind of space you may add on this server.'),
      buttons: [Dialog.okButton({ label: trans.__('OK') })]
    });
    return;
  }
  const { addSpaceDialog } = await import('./dialogs');
  await addSpaceDialog(kinds, model.spaces, trans, body =>
    model.addSpace(body)
  );
}

/** The credentials dialog of one space. */
async function connect(
  model: SpacesModel,
  space: ISpace,
  trans: TranslationBundle
): Promise<void> {
  const { credentialsDialog } = await import('./dialogs');
  await credentialsDialog(
    space,
    trans,
    (values, remember) => model.setCredentials(space.name, values, remember),
    offer => model.accept(space.name, offer)
  );
}

/** What the panel's buttons do: the model's actions, asked for or confirmed where needed. */
function panelActions(
  app: JupyterFrontEnd,
  model: SpacesModel,
  trans: TranslationBundle
): IPanelActions {
  const forget = async (space: ISpace) => {
    const ok = await confirm(
      trans,
      trans.__('Forget the credentials of %1?', space.name),
      trans.__(
        'The stored credentials are deleted and %1 is disconnected. Your files on the service are not touched.',
        space.name
      ),
      trans.__('Forget')
    );
    if (ok) {
      await notifyFailure(
        model.forgetCredentials(space.name),
        trans.__('Forgetting the credentials of %1 failed', space.name)
      );
    }
  };
  const remove = async (space: ISpace) => {
    const ok = await confirm(
      trans,
      trans.__('Remove %1?', space.name),
      trans.__(
        '%1 is disconnected and removed from your spaces, with its stored credentials. Your files on the service are not touched.',
        space.name
      ),
      trans.__('Remove')
    );
    if (ok) {
      await notifyFailure(
        model.removeSpace(space.name),
        trans.__('Removing %1 failed', space.name)
      );
    }
  };
  return {
    open: space =>
      void app.commands.execute('filebrowser:go-to-path', {
        path: browserPath(space)
      }),
    connect: space => void connect(model, space, trans),
    retry: space =>
      void notifyFailure(
        model.retry(space.name),
        trans.__('Retry of %1 failed', space.name)
      ),
    mount: space =>
      void notifyFailure(
        model.mount(space.name),
        trans.__('Connecting %1 failed', space.name)
      ),
    disconnect: space =>
      void notifyFailure(
        model.unmount(space.name),
        trans.__('Disconnecting %1 failed', space.name)
      ),
    forget: space => void forget(space),
    remove: space => void remove(space),
    add: () => void addSpace(model, trans),
    refresh: () => void model.refresh()
  };
}

/** The panel's commands (shortcut and View menu in schema/plugin.json), also in the palette. */
function addCommands(
  app: JupyterFrontEnd,
  model: SpacesModel,
  trans: TranslationBundle,
  panel: DataPanel,
  palette: ICommandPalette | null
): void {
  app.commands.addCommand(CommandIDs.open, {
    label: trans.__('Show the Data Panel'),
    caption: trans.__(
      'Every space: where your data is, and whether it is reachable'
    ),
    icon: dataIcon,
    describedBy: NO_ARGS,
    execute: () => app.shell.activateById(panel.id)
  });
  app.commands.addCommand(CommandIDs.refresh, {
    label: trans.__('Refresh the Data Panel'),
    describedBy: NO_ARGS,
    execute: () => model.refresh()
  });
  app.commands.addCommand(CommandIDs.add, {
    label: trans.__('Add a Space…'),
    describedBy: NO_ARGS,
    isEnabled: () => Object.keys(model.addableKinds).length > 0,
    execute: () => addSpace(model, trans)
  });
  const category = trans.__('Data');
  for (const command of [CommandIDs.open, CommandIDs.refresh, CommandIDs.add]) {
    palette?.addItem({ command, category });
  }
}

/** "Data: 3 spaces" in the status bar, where the server has spaces; a click opens the panel. */
function addStatusItem(
  statusBar: IStatusBar,
  model: SpacesModel,
  trans: TranslationBundle,
  open: () => void
): void {
  const item = new DataStatus(model, trans, open);
  const activeStateChanged = new Signal<SpacesModel, void>(model);
  model.onChange(() => activeStateChanged.emit());
  statusBar.registerStatusItem('nbspaces:status', {
    item,
    align: 'left',
    rank: 4,
    isActive: () => !model.unavailable,
    activeStateChanged
  });
}

/** The refresh interval follows the user's settings. */
function followSettings(registry: ISettingRegistry, model: SpacesModel): void {
  void registry
    .load(PLUGIN_ID)
    .then(settings => {
      const apply = () => {
        const seconds = settings.get('refreshInterval').composite as number;
        model.interval = 1000 * (seconds ?? 10);
      };
      apply();
      settings.changed.connect(apply);
    })
    .catch(reason => console.warn('nbspaces: settings not loaded', reason));
}

/**
 * The file browser: a line above the listing about read-only and not-kept folders, and the
 * server's message when a folder cannot be opened (a remote space in error answers 503).
 */
function watchFileBrowser(
  fileBrowser: IDefaultFileBrowser,
  model: SpacesModel,
  trans: TranslationBundle,
  goTo: (path: string) => void
): void {
  const browserModel = fileBrowser.model;
  fileBrowser.header.addWidget(
    new FolderHint(model, browserModel, trans, goTo)
  );
  const failures = new FolderFailures();
  browserModel.connectionFailure.connect((_, error: Error) => {
    const status =
      error instanceof ServerConnection.ResponseError
        ? error.response.status
        : undefined;
    const message = failures.message(status, error.message, browserModel.path);
    if (message !== null) {
      Notification.error(message, { autoClose: 10000 });
      void model.refresh();
    }
  });
  browserModel.refreshed.connect(() => failures.opened());
}

/** A file saved where nothing is kept: said once per folder, with the way to a kept one. */
function warnWhereNothingIsKept(
  contents: Contents.IManager,
  model: SpacesModel,
  trans: TranslationBundle,
  goTo: (path: string) => void
): void {
  const warned = new Set<string>();
  contents.fileChanged.connect((_, change: Contents.IChangedArgs) => {
    const saved = change.newValue;
    const kept = model.kept;
    if (
      !(change.type === 'save' || change.type === 'new') ||
      !saved?.path ||
      kept === null
    ) {
      return;
    }
    const folder =
      saved.type === 'directory' ? saved.path : PathExt.dirname(saved.path);
    if (isKept(folder, kept) || warned.has(folder)) {
      return;
    }
    warned.add(folder);
    const home = keptHome(kept);
    Notification.warning(
      trans.__(
        '%1 is saved where nothing is kept: it is lost when your server stops.',
        saved.path
      ),
      {
        autoClose: false,
        actions:
          home === null
            ? []
            : [
                {
                  label: trans.__('Go to a kept folder'),
                  callback: () => goTo(home)
                }
              ]
      }
    );
  });
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'The Data panel: every space of the user, its status and quota, credentials.',
  autoStart: true,
  optional: [
    ITranslator,
    ICommandPalette,
    IStatusBar,
    ILayoutRestorer,
    ISettingRegistry,
    IDefaultFileBrowser
  ],
  activate: (
    app: JupyterFrontEnd,
    translator: ITranslator | null,
    palette: ICommandPalette | null,
    statusBar: IStatusBar | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    fileBrowser: IDefaultFileBrowser | null
  ) => {
    const trans = (translator ?? nullTranslator).load('nbspaces');
    const model = new SpacesModel({
      request: requester(app.serviceManager.serverSettings)
    });
    const panel = new DataPanel(model, trans, panelActions(app, model, trans));
    app.shell.add(panel, 'left', { rank: 150, type: 'Data' });
    restorer?.add(panel, 'nbspaces-data-panel');
    addCommands(app, model, trans, panel, palette);
    if (statusBar) {
      addStatusItem(statusBar, model, trans, () =>
        app.shell.activateById(panel.id)
      );
    }
    if (settingRegistry) {
      followSettings(settingRegistry, model);
    }
    const goTo = (path: string) =>
      void app.commands.execute('filebrowser:go-to-path', { path });
    if (fileBrowser) {
      watchFileBrowser(fileBrowser, model, trans, goTo);
    }
    warnWhereNothingIsKept(app.serviceManager.contents, model, trans, goTo);
    model.start();
  }
};

/**
 * The default file browser's items: a lock on the ones that are not writable, no date where the
 * storage gives none.
 */
const itemRenderer: JupyterFrontEndPlugin<IDefaultFileBrowserRenderer> = {
  id: 'nbspaces:read-only-marks',
  description:
    'Marks read-only files and folders in the file browser with a lock; shows no date where the storage has none.',
  autoStart: true,
  provides: IDefaultFileBrowserRenderer,
  optional: [ITranslator],
  activate: (_app: JupyterFrontEnd, translator: ITranslator | null) =>
    new ItemRenderer((translator ?? nullTranslator).load('nbspaces'))
};

export default [plugin, itemRenderer];
