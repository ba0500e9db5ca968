/**
 * An HTTP load generator in a child process of its own, so it never shares an
 * event loop (or a garbage collector) with the servers it measures. The parent
 * drives it over IPC: `saturate` and `atRate` run autocannon; `paced` is an
 * open-loop generator (requests sent on a fixed schedule whatever the answers
 * do), because autocannon's `overallRate` is closed-loop in bursts: each
 * connection sends its share of the second back to back, then waits for the
 * next second.
 *
 * @example
 * await using load = await LoadGenerator.start();
 * const result = await load.saturate({ url, expectBodyPrefix: '{"rows":[{' }, { connections: 32, durationS: 8 });
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const CHILD_FLAG = '--braid-load-generator';

/** What to request, and what every answer's body must look like (anything else counts as a mismatch). */
export interface LoadTarget {
  readonly url: string;
  readonly method?: 'GET' | 'POST';
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly expectBodyPrefix: string;
  /** And `text` must occur at least `atLeast` times (e.g. once per row). */
  readonly expectOccurrences?: { readonly text: string; readonly atLeast: number };
}

/** The check every answer's body gets, in the child. */
function bodyCheck(target: LoadTarget): (body: string) => boolean {
  const { expectBodyPrefix: prefix, expectOccurrences: occurrences } = target;
  return function bodyLooksRight(body) {
    if (!body.startsWith(prefix)) return false;
    if (!occurrences) return true;
    let seen = 0;
    for (let at = body.indexOf(occurrences.text); at !== -1 && seen < occurrences.atLeast; at = body.indexOf(occurrences.text, at + occurrences.text.length)) seen++;
    return seen >= occurrences.atLeast;
  };
}

export interface LoadResult {
  readonly tool: 'autocannon' | 'paced';
  readonly durationS: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly mismatches: number;
  /**
   * `paced` only: requests still unanswered `graceS` after the last was sent,
   * then given up (the server could not keep up); the percentiles count them
   * as slower than any answer (Infinity).
   */
  readonly unanswered: number;
  /** A body that failed the prefix check, cut short, for the error message. */
  readonly mismatchSample: string | null;
  /** 2xx answers per second of the run. */
  readonly reqPerS: number;
  /** From every answer's own duration (send → last byte), fractional ms. */
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** autocannon's own latency histogram (whole ms, coordinated-omission correction on when rate-limited); null for `paced`. */
  readonly autocannonP50Ms: number | null;
  readonly autocannonP99Ms: number | null;
}

type Command =
  | { readonly id: number; readonly kind: 'saturate'; readonly target: LoadTarget; readonly connections: number; readonly durationS: number }
  | { readonly id: number; readonly kind: 'atRate'; readonly target: LoadTarget; readonly connections: number; readonly durationS: number; readonly ratePerS: number }
  | { readonly id: number; readonly kind: 'paced'; readonly target: LoadTarget; readonly maxSockets: number; readonly durationS: number; readonly ratePerS: number; readonly graceS: number };

type Reply = { readonly id: number; readonly result: LoadResult } | { readonly id: number; readonly error: string };

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;

/** The parent's handle on the child process. */
export class LoadGenerator {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (result: LoadResult) => void; reject: (error: Error) => void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if ('error' in reply) waiter.reject(new Error(`load generator: ${reply.error}`));
      else waiter.resolve(reply.result);
    });
    child.on('exit', (code, signal) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`load generator exited (code ${code}, signal ${signal})`));
      this.pending.clear();
    });
  }

  /** Forks the child (TypeScript through tsx, as the parent runs) and waits until it listens. */
  static async start(): Promise<LoadGenerator> {
    const child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG], {
      execArgv: ['--import', import.meta.resolve('tsx')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`load generator exited during start-up (code ${code})`)));
    });
    return new LoadGenerator(child);
  }

  /** autocannon, `connections` keep-alive connections each sending its next request as soon as the last one is answered. */
  saturate(target: LoadTarget, options: { connections: number; durationS: number }): Promise<LoadResult> {
    return this.run({ kind: 'saturate', target, ...options });
  }

  /** autocannon with `overallRate`: closed-loop, each connection's share of the second sent back to back. */
  atRate(target: LoadTarget, options: { connections: number; durationS: number; ratePerS: number }): Promise<LoadResult> {
    return this.run({ kind: 'atRate', target, ...options });
  }

  /**
   * Open loop: one request every 1/ratePerS s on a keep-alive pool of up to
   * `maxSockets` (more wait in the pool), whether or not earlier ones were
   * answered; what is still unanswered `graceS` after the last send is given up.
   */
  paced(target: LoadTarget, options: { maxSockets: number; durationS: number; ratePerS: number; graceS: number }): Promise<LoadResult> {
    return this.run({ kind: 'paced', target, ...options });
  }

  private run(command: Distribute<Command>): Promise<LoadResult> {
    const id = this.nextId++;
    return new Promise<LoadResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...command, id });
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---- the child ---------------------------------------------------------------------------------

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;

function latencySummary(durations: number[], unanswered = 0): Pick<LoadResult, 'p50Ms' | 'p90Ms' | 'p99Ms' | 'maxMs'> {
  const sorted = new Float64Array(durations.length + unanswered).fill(Infinity);
  sorted.set(durations);
  sorted.sort();
  return {
    p50Ms: round3(percentile(sorted, 0.5)),
    p90Ms: round3(percentile(sorted, 0.9)),
    p99Ms: round3(percentile(sorted, 0.99)),
    maxMs: round3(sorted[sorted.length - 1] ?? Number.NaN),
  };
}

async function runAutocannon(command: Extract<Command, { kind: 'saturate' | 'atRate' }>): Promise<LoadResult> {
  const { target } = command;
  const looksRight = bodyCheck(target);
  const durations: number[] = [];
  let mismatchSample: string | null = null;
  let finish: (error: unknown, result: autocannon.Result) => void = () => undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = (error, result) => (error ? reject(error as Error) : resolve(result));
  });
  const instance = autocannon({
    url: target.url,
    method: target.method ?? 'GET',
    ...(target.body === undefined ? {} : { body: target.body }),
    headers: { ...target.headers },
    connections: command.connections,
    duration: command.durationS,
    ...(command.kind === 'atRate' ? { overallRate: command.ratePerS } : {}),
    verifyBody: (body) => typeof body === 'string' && looksRight(body),
  }, (error, result) => finish(error, result));
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
    if (statusCode >= 200 && statusCode < 300) durations.push(responseTimeMs);
  });
  // Not in @types/autocannon: the body that failed verifyBody.
  (instance as NodeJS.EventEmitter).on('reqMismatch', (body: unknown) => {
    mismatchSample ??= String(body).slice(0, 300);
  });
  const result = await done;
  return {
    tool: 'autocannon',
    durationS: result.duration,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    mismatches: result.mismatches,
    unanswered: 0,
    mismatchSample,
    reqPerS: Math.round(result['2xx'] / result.duration),
    ...latencySummary(durations),
    autocannonP50Ms: result.latency.p50,
    autocannonP99Ms: result.latency.p99,
  };
}

async function runPaced(command: Extract<Command, { kind: 'paced' }>): Promise<LoadResult> {
  const { target } = command;
  const looksRight = bodyCheck(target);
  const url = new URL(target.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: command.maxSockets });
  const total = Math.round(command.ratePerS * command.durationS);
  const intervalMs = 1000 / command.ratePerS;
  const durations: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  let mismatches = 0;
  let mismatchSample: string | null = null;
  let sent = 0;
  let finished = 0;
  let abandoned = false;
  let lastAnswerMs = Number.NaN;
  let graceTimer: NodeJS.Timeout | undefined;
  const startedMs = performance.now();

  await new Promise<void>((resolve) => {
    const settle = () => {
      if (++finished === total) resolve();
    };
    const send = () => {
      const sentMs = performance.now();
      const request = http.request(
        { agent, host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: target.method ?? 'GET', headers: { ...target.headers }, timeout: 10_000 },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            if (abandoned) return;
            lastAnswerMs = performance.now();
            const status = response.statusCode ?? 0;
            const body = Buffer.concat(chunks).toString('utf8');
            if (status < 200 || status >= 300) non2xx++;
            else if (!looksRight(body)) {
              mismatches++;
              mismatchSample ??= body.slice(0, 300);
            } else {
              ok++;
              durations.push(performance.now() - sentMs);
            }
            settle();
          });
        },
      );
      let timedOut = false;
      request.on('timeout', () => {
        timedOut = true;
        timeouts++;
        request.destroy(new Error('timeout'));
      });
      request.on('error', () => {
        if (abandoned) return;
        if (!timedOut) errors++;
        settle();
      });
      request.end(target.body);
    };
    // Every request due by now goes out now; the timer's slack (~1 ms) delays a send, it never skips one.
    const tick = () => {
      const nowMs = performance.now();
      while (sent < total && startedMs + sent * intervalMs <= nowMs) {
        sent++;
        send();
      }
      if (sent < total) setTimeout(tick, Math.max(0, startedMs + sent * intervalMs - performance.now()));
      else {
        graceTimer = setTimeout(resolve, command.graceS * 1000);
      }
    };
    tick();
  });
  clearTimeout(graceTimer);
  const unanswered = total - finished;
  abandoned = true;
  agent.destroy();
  const durationS = ((Number.isNaN(lastAnswerMs) ? performance.now() : lastAnswerMs) - startedMs) / 1000;
  return {
    tool: 'paced',
    durationS,
    ok,
    non2xx,
    errors,
    timeouts,
    mismatches,
    unanswered,
    mismatchSample,
    reqPerS: Math.round(ok / durationS),
    ...latencySummary(durations, unanswered),
    autocannonP50Ms: null,
    autocannonP99Ms: null,
  };
}

if (process.argv.includes(CHILD_FLAG) && process.send) {
  const reply = (message: Reply) => process.send!(message);
  process.on('message', (command: Command) => {
    const work = command.kind === 'paced' ? runPaced(command) : runAutocannon(command);
    work.then(
      (result) => reply({ id: command.id, result }),
      (error: unknown) => reply({ id: command.id, error: (error as Error).stack ?? String(error) }),
    );
  });
  // The parent went away: nothing left to do.
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}
