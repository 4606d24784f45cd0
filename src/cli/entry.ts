/** The process entry of the `volstore` command (bin/volstore runs the built copy of this file). */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
