// The fuzz harness's public surface (the CLI, npm run fuzz and npm run bench use these).
export { formatFuzzReport, fuzzMain, mutateInput, parseFuzzArgs, runFuzz } from "./engine";
export { solicitFuzzFigures } from "./figures";
export { FuzzTargetRegistry } from "./registry";
export { FuzzRng } from "./rng";
export { createSolicitFuzzTarget } from "./solicit-target";
export { fuzzTargets } from "./targets";
export type { FuzzFailure, FuzzReport, FuzzTarget, RunFuzzOptions, SequenceFailure, SequenceFuzz } from "./types";
