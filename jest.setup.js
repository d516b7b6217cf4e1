// jsdom has no DragEvent; @lumino/dragdrop (imported by @lumino/widgets) needs the
// constructor to exist at import time. JupyterLab's own test utilities do the same.
if (typeof globalThis.DragEvent === 'undefined') {
  globalThis.DragEvent = class DragEvent extends MouseEvent {};
}
