// The Node reference of `npm run bench -- dns`: the built-in DNS app's responder (the same code,
// tiles/app/builtin/dns/) on a plain dgram socket, what a Node user writes without tilenet. Run in
// the tile namespace beside the tiles; bounded in seconds.
//   node dns-dgram-server.js <address> <port> <zone file> <origin> <seconds>
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import { Responder } from "../../tiles/app/builtin/dns/responder";
import { parseZone } from "../../tiles/app/builtin/dns/zone";

const [address = "", portText = "", zonePath = "", origin = "", secondsText = ""] = process.argv.slice(2);
const port = Number(portText);
const seconds = Number(secondsText);
if (!address || !(port >= 1 && port <= 65535) || !zonePath || !origin || !(seconds >= 1 && seconds <= 3600)) {
  process.stderr.write("usage: dns-dgram-server <address> <port> <zone file> <origin> <seconds>\n");
  process.exit(2);
}
const responder = new Responder(parseZone(readFileSync(zonePath), origin));
const sock = dgram.createSocket({ type: "udp4", recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
sock.on("message", (msg, rinfo) => {
  const response = responder.answer(msg, 0, msg.length);
  // dgram.send keeps a reference until the datagram is sent: hand it a copy of the shared buffer.
  if (response) sock.send(Buffer.from(response), rinfo.port, rinfo.address);
});
sock.bind(port, address, () => {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
});
setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ done: true, counters: responder.counters })}\n`);
  process.exit(0);
}, seconds * 1000);
