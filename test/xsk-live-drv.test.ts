// Live AF_XDP with the program attached in native (driver) mode on veth; see xsk-live-scenario.ts.
import { describeLiveXsk } from "./support/xsk-live-scenario";

describeLiveXsk("drv", "xd", 3);
