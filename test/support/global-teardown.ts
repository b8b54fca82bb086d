import './global-setup';

/** Stops only what global-setup started; reused and external services keep running. */
export default async function globalTeardown(): Promise<void> {
  const infrastructure = globalThis.kumikiTestInfrastructure;
  globalThis.kumikiTestInfrastructure = undefined;
  await infrastructure?.stop();
}
