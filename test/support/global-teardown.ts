import './global-setup';
import { reaper } from './reaper';

/** Stops only what global-setup started; reused and external services keep running. */
export default async function globalTeardown(): Promise<void> {
  const infrastructure = globalThis.kumikiTestInfrastructure;
  globalThis.kumikiTestInfrastructure = undefined;
  for (const component of infrastructure?.stack.components ?? []) reaper.forget(component.process?.pid);
  await infrastructure?.stop();
}
