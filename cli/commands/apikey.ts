import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { connectRedis } from '../../shared/clients/index.ts';
import { BraidError, ErrorCode } from '../../shared/errors/index.ts';
import { hashApiKey, newApiKey, ServingKeys } from '../../serving/index.ts';
import { configFor, say } from '../context.ts';

export function apikeyCommand(): Command {
  const apikey = new Command('apikey').description('manage the API keys of the serving layer (only their SHA-256 is stored)');
  apikey
    .command('create')
    .description('make a new API key; prints it once, and stores its hash in Redis or prints the config entry to add')
    .requiredOption('--name <name>', 'who the key is for (shown in logs and rate limits)')
    .requiredOption('--roles <roles>', 'comma-separated roles, e.g. marketing (grant views to roles in serving.auth.roles)')
    .addOption(new Option('--store <where>', 'redis: add it to Redis now; config: print the serving.auth.apiKeys entry').choices(['redis', 'config']).default('config'))
    .action(async (options: { name: string; roles: string; store: string }, command: Command) => {
      const roles = options.roles.split(',').map((role) => role.trim()).filter(Boolean);
      if (roles.length === 0) throw new BraidError(ErrorCode.BAD_ARGUMENT, '--roles needs at least one role');
      const key = newApiKey();
      const entry = { name: options.name, sha256: hashApiKey(key), roles };
      if (options.store === 'redis') {
        const config = configFor(command);
        const redis = await connectRedis(config.redis, { name: 'braid-apikey' });
        try {
          await redis.hset(new ServingKeys(config.redis.keyPrefix).apiKeys(), entry.sha256, JSON.stringify({ name: entry.name, roles }));
        } finally {
          redis.disconnect();
        }
        say(`stored the hash of ${options.name}'s key in Redis`);
      } else {
        say('add this to braid.config.yaml under serving.auth.apiKeys:');
        say(stringify([entry]).trimEnd().replace(/^/gm, '  '));
      }
      say('the key (shown once; send it as X-API-Key):');
      process.stdout.write(`${key}\n`);
    });
  return apikey;
}
