import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { transformFileSync } from '@swc/core';
import { serviceProcessOf, type ServiceProcess } from '../support/service-process';

const root = path.resolve(__dirname, '..', '..');

/**
 * Starts the chaos run's webhook receiver (webhook-receiver.ts) as a process of its own, the way
 * spawnService starts a service: the receiver is compiled once into `directory` (the build
 * compiles services/, not test/), and finds its packages in the project's node_modules.
 */
export function spawnWebhookReceiver(directory: string, env: Record<string, string>): ServiceProcess {
  mkdirSync(directory, { recursive: true });
  const script = path.join(directory, 'webhook-receiver.js');
  if (!existsSync(script)) {
    const { code } = transformFileSync(path.join(__dirname, 'webhook-receiver.ts'), {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'commonjs' },
    });
    writeFileSync(script, code);
  }
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH ?? '', NODE_PATH: path.join(root, 'node_modules'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return serviceProcessOf(child);
}
