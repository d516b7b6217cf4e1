/**
 * Playwright global teardown: remove the memory cgroups this run made that a test could
 * not remove itself (a crashed worker, an interrupted run). Only this run's groups: other
 * runs, and other engineers' groups, are never touched.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ownMemoryCgroup, removeGroup, runPrefix } from './cgroup';

export default async function removeThisRunsGroups(): Promise<void> {
  let parent: string;
  try {
    parent = ownMemoryCgroup();
  } catch {
    return; // no memory cgroups here: none was made
  }
  for (const name of fs.readdirSync(parent)) {
    if (name.startsWith(runPrefix())) {
      await removeGroup(path.join(parent, name));
    }
  }
}
