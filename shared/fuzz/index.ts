// The fuzz harness's public surface. The targets themselves live beside what they test; the CLI's
// registry of them is launcher/fuzz-targets.ts.
export { formatFuzzReport, fuzzMain, mutateInput, parseFuzzArgs, runFuzz } from "./engine";
export { FuzzTargetRegistry } from "./registry";
export { FuzzRng } from "./rng";
export type { FuzzFailure, FuzzReport, FuzzTarget, RunFuzzOptions, SequenceFailure, SequenceFuzz } from "./types";
