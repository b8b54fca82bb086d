import { runMain } from '../common/main';
import { createServiceBase } from '../common/service-base';
import { loadMaterializerConfig } from './config';
import { limitHeapGrowth } from './heap-growth';
import { createMaterializerService } from './materializer.service';

runMain('profile-materializer', process.env, loadMaterializerConfig, (config) => {
  limitHeapGrowth(config.MATERIALIZER_HEAP_GROWTH_PERCENT);
  const base = createServiceBase('profile-materializer', config);
  const { service } = createMaterializerService(config, base);
  return { service, logger: base.logger };
});
