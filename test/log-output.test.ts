// The launcher's log output: JSON lines off a terminal, human lines on one (nested fields
// flattened), tile lines that are not JSON wrapped as records; a write error (EPIPE) ends the
// output without throwing; a reader that does not keep up makes it drop lines and say how many.
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { createLauncherLogger, LogOutput, type LogStream, prettyLine } from "../shared/log";

class FakeStream extends EventEmitter implements LogStream {
  lines: string[] = [];
  writableLength = 0;
  destroyed = false;
  constructor(readonly isTTY = false) {
    super();
  }
  write(chunk: string): boolean {
    this.lines.push(...chunk.split("\n").filter((l) => l.length > 0));
    return true;
  }
}

describe("LogOutput", () => {
  it("writes the launcher's records as JSON lines off a terminal, and wraps plain tile lines", () => {
    const stream = new FakeStream();
    const out = new LogOutput(stream);
    const log = createLauncherLogger("info", out);
    log.info({ child: "net", childPid: 7 }, "hello");
    log.debug("not at this level");
    out.relay("net", "a plain line");
    out.relay("net", '{"level":30,"tile":"net","pid":7,"msg":"json"}');
    expect(stream.lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ tile: "launcher", pid: process.pid, child: "net", childPid: 7, msg: "hello" }),
      expect.objectContaining({ level: 30, tile: "net", msg: "a plain line" }),
      { level: 30, tile: "net", pid: 7, msg: "json" },
    ]);
  });

  it("prints every line human-readably on a terminal, nested fields flattened", () => {
    const stream = new FakeStream(true);
    const out = new LogOutput(stream, true, false);
    createLauncherLogger("info", out).info({ sandbox: { landlock: "on", caps: [1, 2] } }, "sandboxed");
    out.relay("echo", "plain");
    expect(stream.lines[0]).toMatch(
      new RegExp(
        `^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  \\[launcher:${process.pid}\\] sandboxed sandbox\\.landlock=on sandbox\\.caps=1,2$`,
      ),
    );
    expect(stream.lines[1]).toMatch(/ INFO {2}\[echo:\?\] plain$/);
    expect(prettyLine("not json", false)).toBe("not json");
  });

  it("stops writing, without throwing, once the reader has gone (EPIPE)", () => {
    const stream = new FakeStream();
    const out = new LogOutput(stream);
    const epipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
    stream.emit("error", epipe); // would throw were there no listener
    expect(out.readerGone).toBe(true);
    out.relay("net", "after");
    expect(stream.lines).toEqual([]);
  });

  it("drops lines while the reader lags beyond the bound, then says how many", async () => {
    const stream = new FakeStream();
    const out = new LogOutput(stream, false, false, 1000);
    stream.writableLength = 5000;
    for (let i = 0; i < 3; i++) out.relay("net", `lost ${i}`);
    expect(out.droppedLines).toBe(3);
    stream.writableLength = 0;
    out.relay("net", "kept");
    await out.flush();
    expect(stream.lines.map((l) => JSON.parse(l).msg)).toEqual([
      "3 log lines dropped: the reader of stdout did not keep up",
      "kept",
    ]);
  });
});
