// The built-in UDP echo app (`module = "builtin:echo"`), what `tilenet run --lab` runs.
import type { AppModule } from "./api";

export const echoApp: AppModule = {
  onPacket(pkt, app) {
    app.reply(pkt, pkt.payload);
  },
};
