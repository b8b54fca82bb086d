import { runMain } from '../common/main';
import { createServiceBase } from '../common/service-base';
import { createActivatorService } from './activator.service';
import { loadActivatorConfig } from './config';

runMain('activator', process.env, loadActivatorConfig, (config) => {
  const base = createServiceBase('activator', config);
  const { service } = createActivatorService(config, base);
  return { service, logger: base.logger };
});
