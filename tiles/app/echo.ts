// The built-in UDP echo app (`module = "builtin:echo"`), what `tilenet run --lab` runs. It replies
// with the payload in place (no view, no allocation per packet).
import type { AppModule } from "./api";

export const echoApp: AppModule = {
  onPacket(pkt, app) {
    app.reply(pkt, pkt.data, pkt.offset, pkt.length);
  },
};
