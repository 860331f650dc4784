// Runs the echo benchmark on its own (`node dist/bench/children/echo-standalone.js [--json] [options]`)
// until bench/main.ts registers it as `npm run bench -- echo`.
import { echoBench } from "../echo";

const args = process.argv.slice(2);
const json = args.includes("--json");
echoBench(args.filter((a) => a !== "--json")).then(
  (r) => {
    process.stdout.write(`${json ? JSON.stringify(r.figures) : r.lines.join("\n")}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`echo bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
