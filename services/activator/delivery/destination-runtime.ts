import type { Destination } from '../../../schemas';
import { destinationMetrics, type ActivatorMetrics, type DestinationMetrics } from '../activator.metrics';
import type { SecretBox } from '../destinations/secret-box';
import { DestinationHealth, type DestinationRuntime } from './deliver-change';
import { RateLimiter, Semaphore } from './flow-control';
import { secretKey } from '../../common/webhook-signature';
import { WebhookSender } from './webhook-sender';

export interface RuntimeSettings {
  readonly secrets: SecretBox;
  readonly concurrency: number;
  readonly allowPrivateTargets: boolean;
  readonly autoPauseAfterMs: number;
  readonly metrics: ActivatorMetrics;
  /** Asked once when the destination has failed for longer than `autoPauseAfterMs`, or its grant was withdrawn. */
  readonly pause: (reason: string) => void;
}

/**
 * What delivering to one destination needs besides the change: its current settings, its
 * unsealed signing keys, its HTTP connections, rate limiter, in-flight bound and health. A
 * delivery worker holds one; a test message or a dead-letter replay gets a short-lived one.
 */
export class LiveDestination implements DestinationRuntime {
  private current: Destination;
  private parsedUrl: URL | undefined;
  private unsealed: { key: Buffer; expiresAt: number | null }[] = [];
  /** The keys valid now, until the next one expires (recomputed then, or when the destination changes). */
  private validKeys: readonly Buffer[] = [];
  private keysValidUntil = Number.NEGATIVE_INFINITY;
  private keysComputedAt = Number.POSITIVE_INFINITY;
  readonly sender: WebhookSender;
  readonly limiter: RateLimiter;
  readonly inFlight: Semaphore;
  readonly health: DestinationHealth;
  readonly metrics: DestinationMetrics;
  private pauseAsked = false;

  constructor(
    destination: Destination,
    private readonly settings: RuntimeSettings,
  ) {
    this.current = destination;
    this.sender = new WebhookSender({
      allowPrivate: settings.allowPrivateTargets,
      maxSockets: settings.concurrency,
    });
    this.limiter = new RateLimiter(destination.rateLimit);
    this.inFlight = new Semaphore(settings.concurrency);
    this.health = new DestinationHealth(settings.autoPauseAfterMs, settings.pause);
    this.metrics = destinationMetrics(settings.metrics, destination.id);
    this.unseal();
  }

  destination(): Destination {
    return this.current;
  }

  url(): URL {
    this.parsedUrl ??= new URL(this.current.url!);
    return this.parsedUrl;
  }

  keys(now: number): readonly Buffer[] {
    if (now >= this.keysValidUntil || now < this.keysComputedAt) {
      this.keysComputedAt = now;
      this.validKeys = this.unsealed.filter((k) => k.expiresAt === null || k.expiresAt > now).map((k) => k.key);
      this.keysValidUntil = Math.min(
        ...this.unsealed.map((k) =>
          k.expiresAt !== null && k.expiresAt > now ? k.expiresAt : Number.POSITIVE_INFINITY,
        ),
      );
    }
    return this.validKeys;
  }

  /** A new version of the destination: applies from the next attempt (the rate is the caller's to set). */
  update(destination: Destination): void {
    this.current = destination;
    this.parsedUrl = undefined;
    this.unseal();
  }

  pause(reason: string): void {
    if (this.pauseAsked) return;
    this.pauseAsked = true;
    this.settings.pause(reason);
  }

  close(): void {
    this.sender.close();
  }

  private unseal(): void {
    this.keysValidUntil = Number.NEGATIVE_INFINITY;
    this.keysComputedAt = Number.POSITIVE_INFINITY;
    this.unsealed = this.current.secrets.map((sealed) => ({
      key: secretKey(this.settings.secrets.open(sealed.ciphertext, sealed.keyId)),
      expiresAt: sealed.expiresAt,
    }));
  }
}
