import { ok, type DeadLetterVerdict, type Drop, type Ok, type StepResult } from './step-result';

/**
 * One named step of a message's path: a small function from its input to `ok` (the next step's
 * input), `drop` or `dlq` (step-result.ts). The name is what a dead letter, a log line and the
 * step metric record as the step that ended the message, so steps are named by what they do.
 */
export interface Step<I, O> {
  readonly name: string;
  /** Synchronous unless the step must wait (a schema fetched once, say): no await per message. */
  run(input: I): StepResult<O> | Promise<StepResult<O>>;
}

export function step<I, O>(name: string, run: (input: I) => StepResult<O> | Promise<StepResult<O>>): Step<I, O> {
  return { name, run };
}

/** A message a step ended (dropped or dead-lettered), with the step's name. */
export type Stopped = (Drop | DeadLetterVerdict) & { readonly step: string };

/** What a message's path comes to: the last step's value, or where and why it stopped. */
export type Outcome<T> = Ok<T> | Stopped;

/**
 * A message's path: steps run in the order they were added, each on the value the one before
 * returned, until one drops or dead-letters the message. Running it is synchronous while every
 * step is (a promise and a microtask turn per message are a measurable cost in a hot loop), and
 * continues asynchronously from the first step that returns a promise.
 *
 *   const path = pipeline<IncomingMessage>().pipe(decodeEvent).pipe(linkRequest);
 */
export class Pipeline<I, O> {
  private constructor(private readonly steps: readonly Step<unknown, unknown>[]) {}

  static start<I>(): Pipeline<I, I> {
    return new Pipeline<I, I>([]);
  }

  /** This path followed by `next`. */
  pipe<N>(next: Step<O, N>): Pipeline<I, N> {
    return new Pipeline<I, N>([...this.steps, next as Step<unknown, unknown>]);
  }

  /** The steps' names, in order. */
  get names(): readonly string[] {
    return this.steps.map((s) => s.name);
  }

  run(input: I): Outcome<O> | Promise<Outcome<O>> {
    return this.runFrom(0, input);
  }

  /** For paths whose steps are all synchronous (the collector's, the graph's): throws if one returned a promise. */
  runNow(input: I): Outcome<O> {
    const outcome = this.run(input);
    if (outcome instanceof Promise) throw new Error(`${this.names.join(' → ')}: a step returned a promise`);
    return outcome;
  }

  private runFrom(first: number, input: unknown): Outcome<O> | Promise<Outcome<O>> {
    let last: Ok<unknown> | undefined;
    let value = input;
    for (let i = first; i < this.steps.length; i++) {
      const current = this.steps[i]!;
      const result = current.run(value);
      if (result instanceof Promise) return result.then((settled) => this.after(i, settled));
      if (result.kind !== 'ok') return { ...result, step: current.name };
      last = result;
      value = result.value;
    }
    // The last step's own result: no second wrapper per message.
    return (last ?? ok(value)) as Ok<O>;
  }

  private after(index: number, result: StepResult<unknown>): Outcome<O> | Promise<Outcome<O>> {
    if (result.kind !== 'ok') return { ...result, step: this.steps[index]!.name };
    if (index + 1 === this.steps.length) return result as Ok<O>;
    return this.runFrom(index + 1, result.value);
  }
}

export function pipeline<I>(): Pipeline<I, I> {
  return Pipeline.start<I>();
}
