/**
 * The scope each route of the destinations API needs, in one table (DESIGN.md, "Access"), fed to
 * `requireScope` (services/common/access/). Setting up a destination that carries personal data
 * needs `pii:read` as well (destinations.routes.ts).
 */
export type DestinationScope = 'destination:read' | 'destination:write';

export const destinationRouteScopes = {
  'POST /v1/destinations': 'destination:write',
  'GET /v1/destinations': 'destination:read',
  'GET /v1/destinations/:id': 'destination:read',
  'PATCH /v1/destinations/:id': 'destination:write',
  'DELETE /v1/destinations/:id': 'destination:write',
  'POST /v1/destinations/:id/pause': 'destination:write',
  'POST /v1/destinations/:id/resume': 'destination:write',
  'POST /v1/destinations/:id/test': 'destination:write',
  'POST /v1/destinations/:id/replay': 'destination:write',
  'POST /v1/destinations/:id/rotate-secret': 'destination:write',
  'GET /v1/destinations/:id/deliveries': 'destination:read',
  'GET /v1/destinations/:id/dead-letters': 'destination:read',
  'POST /v1/destinations/:id/dead-letters/replay': 'destination:write',
  'POST /v1/destinations/:id/export': 'destination:write',
} as const satisfies Record<string, DestinationScope>;

export type DestinationRoute = keyof typeof destinationRouteScopes;
