import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { requireTool, spawnDetached } from './processes.ts';

/**
 * Starts `redis-server` from PATH on 127.0.0.1:`port` with its own data folder
 * (append-only file on, so speed-layer state survives a restart of the stack).
 */
export function startRedisServer(plan: { home: string; port: number }): { pid: number; logFile: string } {
  requireTool('redis-server', ['--version'], 'install Redis (Debian: apt-get install redis-server), or set REDIS_URL to use a Redis you run yourself');
  const dataDir = path.join(plan.home, 'data');
  mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(plan.home, 'redis.log');
  const pid = spawnDetached(
    'redis-server',
    [
      '--port', String(plan.port),
      '--bind', '127.0.0.1',
      '--dir', dataDir,
      '--daemonize', 'no',
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--save', '',
      '--protected-mode', 'yes',
    ],
    { cwd: dataDir, logFile },
  );
  return { pid, logFile };
}
