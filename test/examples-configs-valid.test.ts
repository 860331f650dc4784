// Every configuration shipped in examples/ is one the launcher accepts (the README points
// operators at them: a stale key there would be their first error).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { loadConfigFile } from "../launcher/config";

const EXAMPLES = join(__dirname, "..", "examples");
const tomls = readdirSync(EXAMPLES, { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".toml"))
  .sort();

it("finds the deployment examples", () => {
  expect(tomls).toEqual(expect.arrayContaining(["deploy/single-nic.toml", "deploy/container-no-xdp.toml"]));
});

it.each(tomls)("examples/%s validates", (file) => {
  expect(() => loadConfigFile(join(EXAMPLES, file))).not.toThrow();
});
