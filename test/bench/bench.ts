/**
 * `npm run bench`: speed and memory figures, each against a baseline measured in the same run.
 * Prints figures only; nothing here passes or fails on time. Bounded: about half a minute.
 */
import { extprocBench } from './extproc-bench';
import { schedulerBench } from './scheduler-bench';

async function main(): Promise<void> {
  schedulerBench();
  await extprocBench();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
