// The kernel-path reference for unprompted sends in `npm run bench -- echo`: what
// test/fixtures/apps/unprompted-sender.js does, on a plain dgram socket (the same "go COUNT
// INTERVAL_MS" request, the same stamped datagrams from a timer). Bounded in seconds.
//   node stamp-ticker-dgram.js <port> <seconds>
import dgram from "node:dgram";

const port = Number(process.argv[2]);
const seconds = Number(process.argv[3]);
if (!(port >= 1 && port <= 65535) || !(seconds >= 1 && seconds <= 3600)) {
  process.stderr.write("usage: stamp-ticker-dgram <port> <seconds>\n");
  process.exit(2);
}
const sock = dgram.createSocket("udp4");
let timer: NodeJS.Timeout | undefined;
sock.on("message", (msg, rinfo) => {
  const m = /^go (\d+) (\d+)$/.exec(msg.toString());
  if (!m) return;
  if (timer !== undefined) clearInterval(timer);
  const count = Math.min(10000, Number(m[1]));
  const intervalMs = Math.max(1, Math.min(1000, Number(m[2])));
  const buf = Buffer.alloc(64);
  let seq = 0;
  timer = setInterval(() => {
    buf.writeBigUInt64LE(process.hrtime.bigint(), 0);
    buf.writeUInt32LE(seq, 8);
    sock.send(buf, rinfo.port, rinfo.address);
    if (++seq >= count) {
      clearInterval(timer);
      timer = undefined;
    }
  }, intervalMs);
});
sock.bind(port, () => process.stdout.write(`${JSON.stringify({ ready: true })}\n`));
setTimeout(() => process.exit(0), seconds * 1000);
