// The targets `tilenet fuzz <target>` knows. Adding one is one line, e.g.
//   fuzzTargets.register({ name: "netlink", runOne: fuzzDecode, corpusDir: "test/fuzz/corpus/netlink" });

import { FuzzTargetRegistry } from "../shared/fuzz/registry";
import { fuzzDecode } from "../shared/netlink/fuzz";
import { fuzzParse } from "../shared/packet/fuzz";
import { createDnsFuzzTarget } from "../tiles/app/builtin/dns/fuzz";
import { createSolicitFuzzTarget } from "../tiles/netlink/fuzz/solicit-target";

export const fuzzTargets = new FuzzTargetRegistry();
fuzzTargets.register(createSolicitFuzzTarget());
fuzzTargets.register({ name: "netlink", runOne: fuzzDecode, corpusDir: "test/fuzz/corpus/netlink" });
fuzzTargets.register({ name: "packet", runOne: fuzzParse, corpusDir: "test/fuzz/corpus/packet" });
fuzzTargets.register(createDnsFuzzTarget());
