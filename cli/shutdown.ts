/**
 * Runs `handler` on the first SIGINT or SIGTERM, so a long-running command can
 * flush and exit cleanly; a second signal exits at once. Returns a function
 * that removes the handlers.
 */
export function onShutdownSignal(handler: (signal: NodeJS.Signals) => void): () => void {
  let received = false;
  const listener = (signal: NodeJS.Signals) => {
    if (received) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(130);
    }
    received = true;
    handler(signal);
  };
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
  return () => {
    process.off('SIGINT', listener);
    process.off('SIGTERM', listener);
  };
}
