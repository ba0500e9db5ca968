// Entry of a speed pipeline thread (see pipeline-host.ts). A worker thread
// does not inherit the main thread's module hooks, so it registers tsx's
// loader itself before loading the TypeScript, as bin/braid.js does.
import { register } from 'tsx/esm/api';

register();
await import('./pipeline-thread.ts');
