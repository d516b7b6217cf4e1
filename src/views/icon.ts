import { LabIcon } from '@jupyterlab/ui-components';

/** A memory module, drawn with JupyterLab's icon colour classes for both themes. */
export const memoryIcon = new LabIcon({
  name: 'jupyterlab-oomguard:memory',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M2 7h20v9H2zm2 2v5h16V9z"/>
    <path d="M6 10h2v3H6zm4 0h2v3h-2zm4 0h2v3h-2zm4 0h1v3h-1zM4 16h2v2H4zm4 0h2v2H8zm4 0h2v2h-2zm4 0h2v2h-2zm4 0h1v2h-1z"/>
  </g>
</svg>`
});
