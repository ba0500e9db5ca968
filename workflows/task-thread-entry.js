// Entry of a workflow task thread (see task-threads.ts). A worker thread does not
// inherit the main thread's module hooks, so it registers tsx's loader itself
// before loading the TypeScript, as bin/braid.js does.
import { register } from 'tsx/esm/api';

register();
await import('./task-thread.ts');
