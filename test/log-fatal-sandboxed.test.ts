// A tile's last words must not break its own sandbox: pino's fatal() flushes its destination,
// and the flush used to end in fsync(2), which no tile's seccomp filter allows (issue 17: the
// netlink tile's fatal error became SIGSYS, hiding the message). Run a fatal log under the Node
// baseline filter (kill by default) and check the line arrives and the process lives on.
import { beforeAll, describe, expect, it } from "vitest";
import { requireBuilt, runNode } from "./support/seccomp-helpers";

beforeAll(() => requireBuilt());

const INSTALL_BASELINE =
  'addon.installSeccomp(lib.compilePolicy(lib.mergePolicies("t", lib.nodeBaselinePolicy(process.pid), { name: "none", allow: [] })));\n';

describe("the logger's fatal path under seccomp", () => {
  it("writes the fatal line and makes no syscall the baseline filter forbids", () => {
    // As in a tile: the logger is made before the sandbox, used after it.
    const script = `const log = lib.createLogger("t", "info");\n${INSTALL_BASELINE}log.fatal({ why: "test" }, "last words"); fs.writeSync(1, "still alive\\n");`;
    const r = runNode(script);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    const [line, after] = r.stdout.trim().split("\n");
    expect(JSON.parse(line ?? "{}")).toMatchObject({ level: 60, tile: "t", why: "test", msg: "last words" });
    expect(after).toBe("still alive");
  });
});
