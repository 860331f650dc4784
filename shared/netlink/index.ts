// rtnetlink for tilenet: constants, framing, decoding into netmodel records, requests, the
// request client, the event reader and the decoder's fuzz target.
export * from "./client";
export * from "./constants";
export * from "./counters";
export * from "./decode";
export * from "./events";
export * from "./fuzz";
export * from "./io";
export * from "./requests";
export * from "./wire";
