// The targets `tilenet fuzz <target>` knows. Adding one is one line, e.g.
//   fuzzTargets.register({ name: "netlink", runOne: fuzzDecode, corpusDir: "test/fuzz/corpus/netlink" });
import { createDnsFuzzTarget } from "../../tiles/app/builtin/dns/fuzz";
import { fuzzDecode } from "../netlink/fuzz";
import { fuzzParse } from "../packet/fuzz";
import { FuzzTargetRegistry } from "./registry";
import { createSolicitFuzzTarget } from "./solicit-target";

export const fuzzTargets = new FuzzTargetRegistry();
fuzzTargets.register(createSolicitFuzzTarget());
fuzzTargets.register({ name: "netlink", runOne: fuzzDecode, corpusDir: "test/fuzz/corpus/netlink" });
fuzzTargets.register({ name: "packet", runOne: fuzzParse, corpusDir: "test/fuzz/corpus/packet" });
fuzzTargets.register(createDnsFuzzTarget());
