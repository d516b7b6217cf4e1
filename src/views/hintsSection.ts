import { TranslationBundle } from '@jupyterlab/translation';
import { MemoryModel } from '../model/memoryModel';
import { element } from './dom';
import { Section } from './section';

/** Leak hints from the shim: what keeps growing, and how to stop it. */
export class HintsSection extends Section {
  constructor(trans: TranslationBundle) {
    super(trans, 'jp-oomguard-hints', trans.__('Leak hints'));
    this.node.append(this._list);
  }

  render(model: MemoryModel | null): void {
    const hints = model?.hints ?? [];
    this.node.hidden = hints.length === 0;
    this._list.replaceChildren(
      ...hints.map(hint => {
        const item = element('li', 'jp-oomguard-hint');
        item.dataset.kind = hint.kind;
        item.append(
          element('div', 'jp-oomguard-hint-message', hint.message),
          element('div', 'jp-oomguard-hint-suggestion', hint.suggestion)
        );
        return item;
      })
    );
  }

  private _list = element('ul', 'jp-oomguard-hint-list');
}
