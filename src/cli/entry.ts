/** The process entry of the `volstore` command (bin/volstore runs the built copy of this file). */
import { main } from './main.js';

// `volstore info ... | head -1`: a closed pipe ends the command quietly, not with a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));
