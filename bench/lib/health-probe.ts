/**
 * A liveness probe in a child process of its own: `GET <url>` on a fixed
 * schedule (open loop: one request every `intervalMs` whether or not the
 * earlier ones were answered, over keep-alive sockets), from `start` until
 * `stop`, which returns each answer's duration. What a load balancer's health
 * check sees of a server while it works.
 *
 * @example
 * const probe = await HealthProbe.start(`${url}/healthz`, 20);
 * … load the server …
 * const { durationsMs, unanswered } = await probe.stop();
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const CHILD_FLAG = '--braid-health-probe';
const MAX_SOCKETS = 32;

export interface ProbeResult {
  /** Send → last byte of every 2xx answer, ms. */
  readonly durationsMs: number[];
  /** Requests still unanswered at `stop`, with how long each had waited (ms): a lower bound of their latency. */
  readonly unansweredWaitedMs: number[];
  /** Connection errors and non-2xx answers. */
  readonly errors: number;
}

type Command = { readonly kind: 'start'; readonly url: string; readonly intervalMs: number } | { readonly kind: 'stop' };

export class HealthProbe {
  private constructor(private readonly child: ChildProcess) {}

  static async start(url: string, intervalMs: number): Promise<HealthProbe> {
    const child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG], {
      execArgv: ['--import', import.meta.resolve('tsx')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`health probe exited during start-up (code ${code})`)));
      child.send({ kind: 'start', url, intervalMs } satisfies Command);
    });
    return new HealthProbe(child);
  }

  /** Stops probing and returns what it saw; the child exits. */
  async stop(): Promise<ProbeResult> {
    const result = await new Promise<ProbeResult>((resolve, reject) => {
      this.child.once('message', (message: ProbeResult) => resolve(message));
      this.child.once('exit', (code) => reject(new Error(`health probe exited (code ${code})`)));
      this.child.send({ kind: 'stop' } satisfies Command);
    });
    this.child.disconnect();
    return result;
  }
}

// ---- the child ---------------------------------------------------------------------------------

if (process.argv.includes(CHILD_FLAG) && process.send) {
  const durationsMs: number[] = [];
  /** Requests in flight: id → when sent. */
  const pending = new Map<number, number>();
  let nextId = 0;
  let errors = 0;
  let timer: NodeJS.Timeout | undefined;
  let agent: http.Agent | undefined;
  process.on('message', (command: Command) => {
    if (command.kind === 'start') {
      const url = new URL(command.url);
      agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
      const startedMs = performance.now();
      let sent = 0;
      const send = () => {
        const id = nextId++;
        const sentMs = performance.now();
        pending.set(id, sentMs);
        const request = http.request({ agent, host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: 'GET' }, (response) => {
          response.resume();
          response.on('end', () => {
            if (!pending.delete(id)) return;
            if ((response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 300) durationsMs.push(performance.now() - sentMs);
            else errors++;
          });
        });
        request.on('error', () => {
          if (pending.delete(id)) errors++;
        });
        request.end();
      };
      // Every request due by now goes out now: a late timer delays a send, it never skips one.
      const tick = () => {
        const nowMs = performance.now();
        while (startedMs + sent * command.intervalMs <= nowMs) {
          sent++;
          send();
        }
        timer = setTimeout(tick, Math.max(0, startedMs + sent * command.intervalMs - performance.now()));
      };
      tick();
      process.send!({ started: true });
      return;
    }
    clearTimeout(timer);
    const nowMs = performance.now();
    const unansweredWaitedMs = [...pending.values()].map((sentMs) => nowMs - sentMs);
    pending.clear();
    agent?.destroy();
    process.send!({ durationsMs, unansweredWaitedMs, errors } satisfies ProbeResult);
  });
  process.on('disconnect', () => process.exit(0));
}
