/** Access control shared by every kumiki HTTP API: scopes, roles, keys, the Fastify hooks. See docs/access.md. */
export { scopes, roles, roleNames, isRole, isScope, scopesOf, type Role, type Scope } from './scopes';
export {
  ADMIN_TOKEN_KEY_ID,
  adminTokenRecord,
  checkSecret,
  keyIdOf,
  newKeyId,
  newSecret,
  parseDuration,
  sha256Hex,
  type ApiKeyRecord,
} from './api-key';
export { authenticate, type KeyDirectory, type Principal } from './authenticate';
export { FailedAuthThrottle, type ThrottleSettings } from './failed-auth-throttle';
export {
  auditDetails,
  installAccessControl,
  mayReadPii,
  principalOf,
  requireAnyKey,
  requireScope,
  sendApiError,
  type AccessControlOptions,
  type AccessDecision,
  type AuditDetails,
} from './access-control';
export { KeyCache } from './key-cache';
export { accessEnvShape, detectionSettings, piiKeyOf, throttleSettings, type AccessConfig } from './access-config';
export { createKeyFollower, decodeKeyRecord, publishKey } from './key-topic';
export { describeKey, keysRoutes, type KeysRoutesDeps } from './keys.routes';
