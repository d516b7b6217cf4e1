/**
 * A 16-GPU node (a fake nvidia-smi, ui-tests/jupyter-data/kernels/python3-16-gpus): the
 * panel shows every GPU and every note once, and the kernel sends nothing the page has
 * to cut or refuse. (Through nvidia-smi a node says at most one thing per GPU, 19 notes
 * here; NVML says three, which is where samples were lost: python_shim/tests/test_gpu.py
 * and src/__tests__/protocol.spec.ts hold those cases.)
 */
import { expect, test } from '@jupyterlab/galata';
import { openMemoryPanel, panelSection, waitForReading } from './helpers/panel';

test('a 16-GPU node shows every GPU and its notes, and no message is dropped', async ({
  page
}) => {
  const complaints: string[] = [];
  page.on('console', message => {
    if (message.text().startsWith('oomguard:')) {
      complaints.push(message.text());
    }
  });
  await page.notebook.createNew('sixteen.ipynb', { kernel: 'python3-16-gpus' });
  const panel = await openMemoryPanel(page);
  await waitForReading(page);

  const gpus = panelSection(page, 'GPU memory').getByRole('group');
  await expect(gpus).toHaveCount(16, { timeout: 30_000 });
  await expect(gpus.nth(15)).toHaveAccessibleName('cuda:15 · NVIDIA A100-SXM4-80GB');
  await expect(gpus.nth(15).locator('.jp-oomguard-gpu-name')).toHaveText(
    'cuda:15 · NVIDIA A100-SXM4-80GB'
  );
  // A gauge where the use is known, named for its device.
  await expect(gpus.nth(0).getByRole('meter', { name: 'cuda:0 memory in use' })).toHaveCount(1);
  await expect(gpus.nth(15).getByRole('meter')).toHaveCount(0);
  await expect(gpus.nth(0).locator('.jp-oomguard-gpu-used')).toHaveText('1.0 GiB of 79.6 GiB');
  await expect(gpus.nth(1).locator('.jp-oomguard-gpu-used')).toHaveText('— of 79.6 GiB');

  const notes = panelSection(page, 'Kernel RAM')
    .getByRole('list', { name: 'Measurement notes' })
    .getByRole('listitem');
  await expect(notes.filter({ hasText: 'GPU 15 does not report its memory use' })).toHaveCount(1);
  // Said once, not once per GPU.
  await expect(notes.filter({ hasText: 'ids this kernel cannot see' })).toHaveCount(1);
  expect(await notes.count()).toBeLessThanOrEqual(20);

  // Readings keep coming, and the kernel sent nothing the page had to cut or refuse.
  const shown = await panel.locator('.jp-oomguard-rss').getAttribute('data-oomguard-time');
  await expect
    .poll(() => panel.locator('.jp-oomguard-rss').getAttribute('data-oomguard-time'))
    .not.toBe(shown);
  expect(complaints).toEqual([]);
});
