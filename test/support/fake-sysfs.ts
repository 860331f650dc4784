// A lookalike of /sys and /proc in a temp directory, for the sysfs layer's tests: the same
// layout (class/net/<if> a relative symlink into devices/, attribute files), plus the traps a
// hostile tree could hold (symlinks out of the root, a '..' hop, a symlinked attribute).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface FakeTree {
  root: string;
  /** A directory outside the root, holding what a trap would reach. */
  outside: string;
  file(relative: string, text: string): void;
  link(relative: string, target: string): void;
  remove(): void;
}

export function makeFakeTree(): FakeTree {
  const base = mkdtempSync(join(tmpdir(), "tilenet-fakesys-"));
  const root = join(base, "sys");
  const outside = join(base, "outside");
  mkdirSync(root);
  mkdirSync(outside);
  const tree: FakeTree = {
    root,
    outside,
    file(relative, text) {
      mkdirSync(dirname(join(root, relative)), { recursive: true });
      writeFileSync(join(root, relative), text);
    },
    link(relative, target) {
      mkdirSync(dirname(join(root, relative)), { recursive: true });
      symlinkSync(target, join(root, relative));
    },
    remove: () => rmSync(base, { recursive: true, force: true }),
  };
  return tree;
}

/** A veth-like interface as sysfs shows it: class/net/<name> -> ../../devices/virtual/net/<name>. */
export function addFakeInterface(tree: FakeTree, name: string, mtu: number): void {
  tree.file(`devices/virtual/net/${name}/mtu`, `${mtu}\n`);
  tree.file(`devices/virtual/net/${name}/ifindex`, "7\n");
  tree.file(`devices/virtual/net/${name}/napi_defer_hard_irqs`, "0\n");
  tree.link(`class/net/${name}`, `../../devices/virtual/net/${name}`);
}
