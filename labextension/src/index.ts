/**
 * nbspaces JupyterLab extension: the Data panel, its status bar item and commands.
 */

import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, Notification, showDialog } from '@jupyterlab/apputils';
import { PathExt, URLExt } from '@jupyterlab/coreutils';
import { IDefaultFileBrowser, IDefaultFileBrowserRenderer } from '@jupyterlab/filebrowser';
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';

import { addSpaceDialog, credentialsDialog } from './dialogs';
import { dataIcon } from './icons';
import { FolderHint, ReadOnlyMarkRenderer } from './folders';
import { ApiError, browserPath, FolderFailures, isKept, keptHome, Requester, Space, SpacesModel } from './model';
import { DataPanel, DataStatus } from './panel';

const PLUGIN_ID = 'nbspaces:plugin';

namespace CommandIDs {
  export const open = 'nbspaces:open-data-panel';
  export const refresh = 'nbspaces:refresh';
  export const add = 'nbspaces:add-space';
}

/** Requests to the server's nbspaces API through ServerConnection (it adds the XSRF header). */
function requester(settings: ServerConnection.ISettings): Requester {
  return (path, init) =>
    ServerConnection.makeRequest(
      URLExt.join(settings.baseUrl, 'nbspaces/api', path),
      { method: init.method, body: init.body, headers: init.body ? { 'Content-Type': 'application/json' } : {} },
      settings
    );
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The Data panel: every space of the user, its status and quota, credentials.',
  autoStart: true,
  optional: [ITranslator, ICommandPalette, IStatusBar, ILayoutRestorer, ISettingRegistry, IDefaultFileBrowser],
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
    const model = new SpacesModel({ request: requester(app.serviceManager.serverSettings) });

    const run = async (what: Promise<Space | void>, failure: string) => {
      try {
        await what;
      } catch (e) {
        Notification.error(`${failure}: ${e instanceof ApiError || e instanceof Error ? e.message : String(e)}`, {
          autoClose: 8000
        });
      }
    };

    const confirm = async (title: string, body: string, label: string) => {
      const result = await showDialog({
        title,
        body,
        buttons: [Dialog.cancelButton({ label: trans.__('Cancel') }), Dialog.warnButton({ label })]
      });
      return result.button.accept;
    };

    const addSpace = async () => {
      const kinds = model.addableKinds;
      if (!Object.keys(kinds).length) {
        await showDialog({
          title: trans.__('Add a space'),
          body: trans.__('There is no kind of space you may add on this server.'),
          buttons: [Dialog.okButton({ label: trans.__('OK') })]
        });
        return;
      }
      await addSpaceDialog(kinds, model.spaces, trans, body => model.addSpace(body));
    };

    const panel = new DataPanel(model, trans, {
      open: space => {
        void app.commands.execute('filebrowser:go-to-path', { path: browserPath(space) });
      },
      connect: space => {
        void credentialsDialog(space, trans, values => model.setCredentials(space.name, values));
      },
      retry: space => void run(model.retry(space.name), trans.__('Retry of %1 failed', space.name)),
      mount: space => void run(model.mount(space.name), trans.__('Connecting %1 failed', space.name)),
      disconnect: space => void run(model.unmount(space.name), trans.__('Disconnecting %1 failed', space.name)),
      forget: async space => {
        const ok = await confirm(
          trans.__('Forget the credentials of %1?', space.name),
          trans.__('The stored credentials are deleted and %1 is disconnected. Your files on the service are not touched.', space.name),
          trans.__('Forget')
        );
        if (ok) {
          await run(model.forgetCredentials(space.name), trans.__('Forgetting the credentials of %1 failed', space.name));
        }
      },
      remove: async space => {
        const ok = await confirm(
          trans.__('Remove %1?', space.name),
          trans.__('%1 is disconnected and removed from your spaces, with its stored credentials. Your files on the service are not touched.', space.name),
          trans.__('Remove')
        );
        if (ok) {
          await run(model.removeSpace(space.name), trans.__('Removing %1 failed', space.name));
        }
      },
      add: () => void addSpace(),
      refresh: () => void model.refresh()
    });
    panel.title.caption = trans.__('Data');
    app.shell.add(panel, 'left', { rank: 150, type: 'Data' });
    restorer?.add(panel, 'nbspaces-data-panel');

    app.commands.addCommand(CommandIDs.open, {
      label: trans.__('Show the Data Panel'),
      caption: trans.__('Every space: where your data is, and whether it is reachable'),
      icon: dataIcon,
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: trans.__('Refresh the Data Panel'),
      execute: () => model.refresh()
    });
    app.commands.addCommand(CommandIDs.add, {
      label: trans.__('Add a Space…'),
      isEnabled: () => Object.keys(model.addableKinds).length > 0,
      execute: () => addSpace()
    });
    if (palette) {
      const category = trans.__('Data');
      for (const command of [CommandIDs.open, CommandIDs.refresh, CommandIDs.add]) {
        palette.addItem({ command, category });
      }
    }

    if (statusBar) {
      const item = new DataStatus(model, trans, () => app.shell.activateById(panel.id));
      // Shown where the server has spaces (not on a server started without nbspaces).
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

    if (settingRegistry) {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = () => {
            model.interval = 1000 * ((settings.get('refreshInterval').composite as number) ?? 10);
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => console.warn('nbspaces: settings not loaded', reason));
    }

    const goTo = (path: string) => void app.commands.execute('filebrowser:go-to-path', { path });
    if (fileBrowser) {
      // Above the listing: read-only and not-kept folders say so.
      fileBrowser.header.addWidget(new FolderHint(model, fileBrowser.model, trans, goTo));
      // A folder that cannot be opened (a remote space in error answers 503): the server's message.
      const failures = new FolderFailures();
      const browserModel = fileBrowser.model;
      browserModel.connectionFailure.connect((_, error: Error) => {
        const status = error instanceof ServerConnection.ResponseError ? error.response.status : undefined;
        const message = failures.message(status, error.message, browserModel.path);
        if (message !== null) {
          Notification.error(message, { autoClose: 10000 });
          void model.refresh();
        }
      });
      browserModel.refreshed.connect(() => failures.opened());
    }

    // A file saved where nothing is kept: say so once per folder, with the way to a kept one.
    const warned = new Set<string>();
    app.serviceManager.contents.fileChanged.connect((_, change: Contents.IChangedArgs) => {
      const saved = change.newValue;
      const kept = model.kept;
      if (!(change.type === 'save' || change.type === 'new') || !saved?.path || kept === null) {
        return;
      }
      const folder = saved.type === 'directory' ? saved.path : PathExt.dirname(saved.path);
      if (isKept(folder, kept) || warned.has(folder)) {
        return;
      }
      warned.add(folder);
      const home = keptHome(kept);
      Notification.warning(
        trans.__('%1 is saved where nothing is kept: it is lost when your server stops.', saved.path),
        {
          autoClose: false,
          actions:
            home === null ? [] : [{ label: trans.__('Go to a kept folder'), callback: () => goTo(home) }]
        }
      );
    });

    model.start();
  }
};

/** The default file browser's items, with a lock on the ones that are not writable. */
const readOnlyMarks: JupyterFrontEndPlugin<IDefaultFileBrowserRenderer> = {
  id: 'nbspaces:read-only-marks',
  description: 'Marks read-only files and folders in the file browser with a lock.',
  autoStart: true,
  provides: IDefaultFileBrowserRenderer,
  optional: [ITranslator],
  activate: (_app: JupyterFrontEnd, translator: ITranslator | null) =>
    new ReadOnlyMarkRenderer((translator ?? nullTranslator).load('nbspaces'))
};

export default [plugin, readOnlyMarks];
