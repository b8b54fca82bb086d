import type { PageDefinition } from '../app/page';
import deadLetters from './dead-letters.page';
import overview from './overview.page';
import profile360 from './profile-360.page';
import profiles from './profiles.page';
import rfm from './rfm.page';
import segmentDetail from './segment-detail.page';
import segmentNew from './segment-new.page';
import segments from './segments.page';

/**
 * Every page of the console, one line each (a page is one file: see app/page.ts). Where two paths
 * could match the same address, the more specific comes first.
 */
export const pages: readonly PageDefinition[] = [
  overview,
  profiles,
  profile360,
  segments,
  segmentNew,
  segmentDetail,
  rfm,
  deadLetters,
];
