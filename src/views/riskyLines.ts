import { EditorState, StateEffect, StateField } from '@codemirror/state';
import { Decoration, DecorationSet, EditorView } from '@codemirror/view';

export const RISKY_LINE_CLASS = 'jp-oomguard-risky-line';

/** A line to mark: 1-based, with the tooltip (plain text) that says why. */
export interface IRiskyLine {
  line: number;
  title: string;
}

/** Replace the marked lines of an editor (an empty list clears them). */
const setRiskyLines = StateEffect.define<IRiskyLine[]>();

function decorate(state: EditorState, lines: IRiskyLine[]): DecorationSet {
  const ranges = lines
    .filter(({ line }) => Number.isInteger(line) && line >= 1 && line <= state.doc.lines)
    .sort((a, b) => a.line - b.line)
    .map(({ line, title }) =>
      Decoration.line({
        // CodeMirror sets attributes with setAttribute: the kernel's text stays text.
        attributes: { class: RISKY_LINE_CLASS, title }
      }).range(state.doc.line(line).from)
    );
  return Decoration.set(ranges);
}

/**
 * The marks live in the editor's state. Any edit clears them at once: they were
 * predicted for the text as it was, and a new prediction follows the edit.
 */
const riskyLinesField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, transaction) {
    let next = transaction.docChanged ? Decoration.none : marks;
    for (const effect of transaction.effects) {
      if (effect.is(setRiskyLines)) {
        next = decorate(transaction.state, effect.value);
      }
    }
    return next;
  },
  provide: field => EditorView.decorations.from(field)
});

/** The extension to inject once into each editor that may be marked. */
export const riskyLinesExtension = riskyLinesField;

/** Mark these lines of the editor (and only these). */
export function showRiskyLines(view: EditorView, lines: IRiskyLine[]): void {
  view.dispatch({ effects: setRiskyLines.of(lines) });
}

/** The lines the editor marks now (1-based), for checks. */
export function riskyLinesOf(state: EditorState): number[] {
  const lines: number[] = [];
  const marks = state.field(riskyLinesField, false);
  marks?.between(0, state.doc.length, from => {
    lines.push(state.doc.lineAt(from).number);
  });
  return lines;
}
