// The example zone that ships with the package (examples/dns/), for the DNS tests.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const EXAMPLE_ZONE_PATH = join(__dirname, "..", "..", "examples", "dns", "example.test.zone");
export const EXAMPLE_ORIGIN = "example.test.";

export function exampleZoneBytes(): Uint8Array {
  return readFileSync(EXAMPLE_ZONE_PATH);
}
