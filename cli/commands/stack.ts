import { Command } from 'commander';
import { stackDown, stackStatus, stackUp } from '../../infra/stack/index.ts';
import { configFor, say } from '../context.ts';

export function stackCommand(): Command {
  const stack = new Command('stack').description('run the local Kafka and Redis that braid needs (no Docker: Kafka from Maven Central, redis-server from PATH)');

  stack
    .command('up')
    .description(
      'ensure a Kafka broker and a Redis server answer; print KAFKA_BROKERS=… and REDIS_URL=… on stdout.\n' +
        'Uses KAFKA_BROKERS / REDIS_URL (or the config file) when set; otherwise reuses or starts a local\n' +
        'Kafka 3.9 (KRaft) and Redis under stack.dir (default .braid/). Try: eval "$(npx braid stack up)"',
    )
    .action(async (_options, command: Command) => {
      const config = configFor(command);
      const started = Date.now();
      const result = await stackUp(config, say);
      say(`Stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s (kafka: ${result.kafka}, redis: ${result.redis})`);
      process.stdout.write(`KAFKA_BROKERS=${result.kafkaBrokers.join(',')}\nREDIS_URL=${result.redisUrl}\n`);
    });

  stack
    .command('down')
    .description('stop the Kafka and Redis that `stack up` started (recorded pids only; data is kept)')
    .action(async (_options, command: Command) => {
      await stackDown(configFor(command), say);
    });

  stack
    .command('status')
    .description('say what runs where')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }, command: Command) => {
      const statuses = await stackStatus(configFor(command));
      if (options.json) {
        process.stdout.write(`${JSON.stringify(statuses, null, 2)}\n`);
        return;
      }
      for (const status of statuses) {
        const pid = status.pid === undefined ? '' : `pid ${status.pid}`;
        process.stdout.write(`${status.name.padEnd(6)} ${status.state.padEnd(12)} ${status.address.padEnd(26)} ${pid.padEnd(11)} ${status.detail}\n`);
      }
    });
  return stack;
}
