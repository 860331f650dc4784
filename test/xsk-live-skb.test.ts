// Live AF_XDP with the program attached in generic (skb) mode; see xsk-live-scenario.ts.
import { describeLiveXsk } from "./support/xsk-live-scenario";

describeLiveXsk("skb", "xs", 2);
