import type { CliConfig } from '../config';
import { isOurProcess } from '../local/child-process';
import { consoleLog, type CliLog } from '../local/cli-log';
import { stopComponent } from '../local/local-stack';
import { clearStack, readStack, stopOrder } from '../local/run-state';
import { sleep } from '../../common/retry';

/** Marks the command line of a supervising `kumiki up`. */
export const supervisorMatch = 'kumiki';

/**
 * `kumiki down`: stops the stack recorded under KUMIKI_HOME, whether it runs detached or
 * under a `kumiki up` in another terminal (which is asked to stop it itself, so its own
 * orderly shutdown runs), or was left behind by a CLI that died.
 */
export async function downCommand(config: CliConfig, log: CliLog = consoleLog): Promise<number> {
  const runDir = config.paths.run;
  const stack = await readStack(runDir);
  if (!stack) {
    log.info(`no kumiki stack is recorded in ${config.paths.home}; nothing to stop`);
    return 0;
  }
  const supervisor = stack.supervisorPid;
  if (supervisor !== null && supervisor !== process.pid && isOurProcess(supervisor, supervisorMatch)) {
    log.info(`asking the running \`kumiki up\` (pid ${supervisor}) to stop the stack`);
    process.kill(supervisor, 'SIGTERM');
    // Its stop takes at most the sum of the graces; past that we finish the job ourselves.
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && isOurProcess(supervisor, supervisorMatch)) await sleep(200);
  }
  const remaining = (await readStack(runDir))?.components ?? [];
  for (const component of stopOrder(remaining)) {
    if (component.pid === null) continue; // external or reused: not ours to stop
    await stopComponent({ name: component.name, pid: component.pid, match: component.match }, runDir, log);
  }
  await clearStack(runDir);
  log.info('kumiki is stopped');
  return 0;
}
