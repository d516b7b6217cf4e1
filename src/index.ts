import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { MemoryTracker } from './model/memoryTracker';
import { OomguardSettings } from './settings';
import { CellMetadataWriter } from './export/cellMetadata';
import { download, ExportFormat, exportTimeline } from './export/timeline';
import { CommandIDs, IMemoryTracker } from './tokens';
import { memoryIcon } from './views/icon';
import { CellBadges } from './views/cellBadges';
import { CellWarnings } from './views/cellWarnings';
import { cellIndexOf } from './views/findCell';
import { EditorMarks } from './views/editorMarks';
import { MemoryPanel } from './views/memoryPanel';
import { MemoryStatusItem } from './views/statusItem';

const PLUGIN_ID = 'jupyterlab-oomguard:plugin';

/** Gives every notebook a memory model fed by the kernel shim. */
const trackerPlugin: JupyterFrontEndPlugin<IMemoryTracker> = {
  id: PLUGIN_ID,
  description: 'Per-notebook kernel memory models fed by the oomguard shim.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ISettingRegistry, ITranslator],
  provides: IMemoryTracker,
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null
  ): IMemoryTracker => {
    const settings = new OomguardSettings();
    if (settingRegistry) {
      void settings.load(settingRegistry, PLUGIN_ID);
    }
    return new MemoryTracker(notebooks, {
      settings,
      trans: (translator ?? nullTranslator).load('jupyterlab')
    });
  }
};

/** The "Memory" panel in the right sidebar, following the active notebook. */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-oomguard:panel',
  description: 'The Memory sidebar panel.',
  autoStart: true,
  requires: [IMemoryTracker],
  optional: [ILayoutRestorer, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: IMemoryTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab');
    const panel = new MemoryPanel(trans, format =>
      app.commands.execute(CommandIDs.exportTimeline, { format })
    );
    panel.title.icon = memoryIcon;
    panel.memory = tracker.current;
    tracker.currentChanged.connect((_, memory) => (panel.memory = memory));
    app.shell.add(panel, 'right', { rank: 500 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(CommandIDs.openPanel, {
      label: trans.__('Show Memory Panel'),
      icon: memoryIcon,
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.reconnect, {
      label: trans.__('Reconnect Memory Monitoring to the Kernel'),
      isEnabled: () => tracker.current !== null,
      execute: () => tracker.current?.connection.attach()
    });
    const formatNames: Record<ExportFormat, string> = {
      csv: 'CSV',
      json: 'JSON',
      trace: trans.__('Chrome Trace (Perfetto)')
    };
    app.commands.addCommand(CommandIDs.exportTimeline, {
      label: args =>
        trans.__('Export Memory Timeline as %1', formatNames[args.format as ExportFormat] ?? '…'),
      isEnabled: () => tracker.current !== null,
      execute: args => {
        const memory = tracker.current;
        const format = args.format as ExportFormat;
        if (!memory || !(format in formatNames)) {
          return;
        }
        const stem = `${memory.panel.title.label.replace(/\.ipynb$/, '')}-memory`;
        const { readings, cells } = memory.model;
        download(exportTimeline({ samples: readings.samples, cells: cells.records }, format, stem));
      }
    });
    for (const command of [CommandIDs.openPanel, CommandIDs.reconnect]) {
      palette?.addItem({ command, category: trans.__('Memory') });
    }
    for (const format of Object.keys(formatNames)) {
      palette?.addItem({
        command: CommandIDs.exportTimeline,
        args: { format },
        category: trans.__('Memory')
      });
    }
  }
};

/**
 * Under each cell: a memory badge once it ran, a banner when it was predicted to fail,
 * risky lines marked while it is edited; and, when the user opts in, the cell's last
 * record kept in its metadata.
 */
const badgesPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-oomguard:badges',
  description: 'What each cell cost in memory, under the cell.',
  autoStart: true,
  requires: [IMemoryTracker, INotebookTracker],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: IMemoryTracker,
    notebooks: INotebookTracker,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab');
    const settings = tracker.settings;
    const badge = (panel: NotebookPanel) => {
      const memory = tracker.get(panel);
      if (!memory) {
        return;
      }
      const runAnyway = async (cellId: string) => {
        const index = cellIndexOf(panel.content, { cell_id: cellId, execution_count: null });
        if (index < 0 || !(await memory.connection.allowNext())) {
          return;
        }
        panel.content.activeCellIndex = index;
        await app.commands.execute('notebook:run-cell');
      };
      const views = [
        new CellBadges(panel, memory.model, trans),
        new CellWarnings(panel, memory.model, trans, runAnyway),
        new EditorMarks(panel, memory, trans, settings),
        new CellMetadataWriter(panel, memory.model.cells, () => settings.values.recordsInMetadata)
      ];
      panel.disposed.connect(() => views.forEach(view => view.dispose()));
    };
    notebooks.forEach(badge);
    notebooks.widgetAdded.connect((_, panel) => badge(panel));
  }
};

/** Kernel RAM and VRAM against their limits in the status bar. */
const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-oomguard:status',
  description: 'Kernel memory in the status bar; a click opens the Memory panel.',
  autoStart: true,
  // Optional: Notebook 7 has no status bar, and the other plugins work without it.
  requires: [IMemoryTracker],
  optional: [IStatusBar, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: IMemoryTracker,
    statusBar: IStatusBar | null,
    translator: ITranslator | null
  ): void => {
    if (!statusBar) {
      return;
    }
    const trans = (translator ?? nullTranslator).load('jupyterlab');
    const item = new MemoryStatusItem(tracker, trans, () =>
      app.commands.execute(CommandIDs.openPanel)
    );
    statusBar.registerStatusItem('jupyterlab-oomguard:status', {
      item,
      align: 'left',
      rank: 3,
      isActive: () => tracker.current !== null
    });
  }
};

export default [trackerPlugin, panelPlugin, badgesPlugin, statusPlugin];
