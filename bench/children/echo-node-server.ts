// The Node reference of `npm run bench -- echo`: a plain dgram echo server (what a Node user
// writes without tilenet), run in the tile namespace beside the tiles. Bounded in seconds.
//   node echo-node-server.js <port> <seconds>
import dgram from "node:dgram";

const port = Number(process.argv[2]);
const seconds = Number(process.argv[3]);
if (!(port >= 1 && port <= 65535) || !(seconds >= 1 && seconds <= 3600)) {
  process.stderr.write("usage: echo-node-server <port> <seconds>\n");
  process.exit(2);
}
let echoed = 0;
const sock = dgram.createSocket({ type: "udp4", recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
sock.on("message", (msg, rinfo) => {
  sock.send(msg, rinfo.port, rinfo.address);
  echoed++;
});
sock.bind(port, () => {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
});
setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ done: true, echoed })}\n`);
  process.exit(0);
}, seconds * 1000);
