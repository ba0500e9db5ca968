/**
 * A server under test in a child process of its own, as `braid serve` runs:
 * its event loop, garbage collector and memory are its own, and a read that
 * takes more memory than the machine can spare kills the child, not the
 * benchmark. A watchdog in the parent reads the child's resident memory every
 * 50 ms and kills it (SIGKILL) past `memoryCapBytes`, or when the machine's
 * available memory falls below `minAvailableBytes`; `killed` then says why.
 *
 * @example
 * const server = await ServerProcess.start({ kind: 'braid', overrides }, { label: 'braid', memoryCapBytes: 6 * 2 ** 30 });
 * await fetch(`${server.url}/healthz`);
 * await server.close();
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BaselineOptions } from './dashboard-baseline.ts';

const CHILD_FLAG = '--braid-bench-server';
const WATCH_MS = 50;
const START_TIMEOUT_MS = 60_000;

export type ServerSpec =
  /** Braid's `startServer` with these config overrides (views: the demo views). */
  | { readonly kind: 'braid'; readonly overrides: Readonly<Record<string, unknown>> }
  /** The hand-written dashboard handler of dashboard-baseline.ts. */
  | { readonly kind: 'baseline'; readonly options: BaselineOptions };

export interface ServerProcessOptions {
  readonly label: string;
  readonly memoryCapBytes: number;
  /** Kill the child when the machine's MemAvailable drops below this. Default 3 GiB. */
  readonly minAvailableBytes?: number;
  /** Extra Node flags for the child, e.g. `--cpu-prof`. */
  readonly execArgv?: readonly string[];
}

type Started = { readonly url: string } | { readonly error: string };

function residentBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function availableBytes(): number {
  try {
    const match = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
    return match ? Number(match[1]) * 1024 : Infinity;
  } catch {
    return Infinity;
  }
}

export class ServerProcess {
  /** Why the watchdog killed the child, or why it exited on its own; null while it runs. */
  killed: string | null = null;
  /** Largest resident memory seen since the last {@link resetPeak}. */
  peakRssBytes = 0;
  readonly exited: Promise<void>;
  private readonly watch: NodeJS.Timeout;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly options: ServerProcessOptions,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.killed ??= `${options.label} exited (code ${code}, signal ${signal})`;
        clearInterval(this.watch);
        resolve();
      }),
    );
    const minAvailable = options.minAvailableBytes ?? 3 * 2 ** 30;
    this.watch = setInterval(() => {
      const rss = residentBytes(child.pid!);
      this.peakRssBytes = Math.max(this.peakRssBytes, rss);
      const available = availableBytes();
      if (rss > options.memoryCapBytes || available < minAvailable) {
        this.killed =
          rss > options.memoryCapBytes
            ? `${options.label} killed: resident memory ${(rss / 2 ** 30).toFixed(1)} GiB passed the ${(options.memoryCapBytes / 2 ** 30).toFixed(1)} GiB cap`
            : `${options.label} killed: the machine had ${(available / 2 ** 30).toFixed(1)} GiB available (floor ${(minAvailable / 2 ** 30).toFixed(1)} GiB) with ${(rss / 2 ** 30).toFixed(1)} GiB in the server`;
        child.kill('SIGKILL');
      }
    }, WATCH_MS);
    this.watch.unref();
  }

  static async start(spec: ServerSpec, options: ServerProcessOptions): Promise<ServerProcess> {
    const child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG], {
      execArgv: ['--import', import.meta.resolve('tsx'), ...(options.execArgv ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const started = await new Promise<Started>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${options.label} did not start in ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      child.once('message', (message: Started) => {
        clearTimeout(timer);
        resolve(message);
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${options.label} exited during start-up (code ${code})`)));
      child.send(spec);
    });
    if ('error' in started) {
      child.kill('SIGKILL');
      throw new Error(`${options.label} failed to start: ${started.error}`);
    }
    return new ServerProcess(child, started.url, options);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  rssBytes(): number {
    return this.alive ? residentBytes(this.child.pid!) : 0;
  }

  resetPeak(): void {
    this.peakRssBytes = this.rssBytes();
  }

  /** Asks the child to close its server and exit (it writes a `--cpu-prof` profile then); kills it after 10 s. */
  async close(): Promise<void> {
    if (!this.alive) return;
    this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

// ---- the child ---------------------------------------------------------------------------------

async function startChild(spec: ServerSpec): Promise<{ url: string; close(): Promise<void> }> {
  if (spec.kind === 'braid') {
    const [{ startServer }, { loadConfig }, { createLogger }, { demoViews, viewRegistryOf }] = await Promise.all([
      import('../../serving/index.ts'),
      import('../../shared/config/index.ts'),
      import('../../shared/logging/index.ts'),
      import('../../shared/views/index.ts'),
    ]);
    const config = loadConfig({ overrides: spec.overrides as Record<string, string | number | boolean> });
    return startServer({ config, views: viewRegistryOf([...demoViews]), logger: createLogger({ level: 'warn', name: 'bench-braid' }) });
  }
  const { startBaseline } = await import('./dashboard-baseline.ts');
  return startBaseline(spec.options);
}

if (process.argv.includes(CHILD_FLAG) && process.send) {
  process.once('message', (spec: ServerSpec) => {
    startChild(spec).then(
      (server) => {
        process.send!({ url: server.url } satisfies Started);
        // The parent went away or asked to stop: close, then exit (a --cpu-prof profile is written on exit).
        process.once('disconnect', () => {
          server.close().finally(() => process.exit(0));
        });
      },
      (error: unknown) => process.send!({ error: (error as Error).stack ?? String(error) } satisfies Started),
    );
  });
}
