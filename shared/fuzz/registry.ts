// Fuzz targets by name. The CLI's registry (launcher/fuzz-targets.ts) is what `tilenet fuzz <target>` uses.
import type { FuzzTarget } from "./types";

const TARGET_NAME = /^[a-z][a-z0-9-]*$/;

export class FuzzTargetRegistry {
  private readonly targets = new Map<string, FuzzTarget>();

  register(target: FuzzTarget): this {
    if (!TARGET_NAME.test(target.name))
      throw new Error(`fuzz target name ${JSON.stringify(target.name)} is not [a-z][a-z0-9-]*`);
    if (this.targets.has(target.name)) throw new Error(`fuzz target ${target.name} is already registered`);
    if (typeof target.runOne !== "function") throw new Error(`fuzz target ${target.name} has no runOne(bytes)`);
    this.targets.set(target.name, target);
    return this;
  }

  get(name: string): FuzzTarget {
    const t = this.targets.get(name);
    if (!t)
      throw new Error(`unknown fuzz target ${JSON.stringify(name)} (known: ${this.names().join(", ") || "none"})`);
    return t;
  }

  has(name: string): boolean {
    return this.targets.has(name);
  }

  names(): string[] {
    return [...this.targets.keys()].sort();
  }
}
