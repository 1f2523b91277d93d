// The executable's body: the bundle's entry point (build/bundle.ts) and what cli/coffer.js runs through tsx.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
