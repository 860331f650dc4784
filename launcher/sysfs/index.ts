// The launcher's safe sysfs layer: see tree.ts.
export * from "./attributes";
export * from "./names";
export * from "./tree";
