// Shared-memory regions of one instance: memfds created and held by the launcher. A region's
// writer receives the read-write descriptor; every other process gets a read-only descriptor
// (re-opened O_RDONLY), so it can only map the region read-only: the kernel enforces who writes.

import { native } from "../shared/native";
import type { RegionEntry, RegionKind } from "./manifest";

export interface Region {
  name: string;
  kind: RegionKind;
  fd: number;
  size: number;
  /** The launcher's own read-write mapping (used to initialise headers). */
  buf: ArrayBuffer;
}

export class RegionSet {
  private readonly regions = new Map<string, Region>();
  private readonly readOnly = new Map<string, number>();

  constructor(private readonly instance: string) {}

  create(name: string, kind: RegionKind, size: number): Region {
    if (this.regions.has(name)) throw new Error(`region ${name} created twice`);
    const addon = native();
    const fd = addon.memfdCreate(`tilenet:${this.instance}:${name}`, size);
    const region: Region = { name, kind, fd, size, buf: addon.mapFd(fd, size, true) };
    this.regions.set(name, region);
    return region;
  }

  get(name: string): Region {
    const r = this.regions.get(name);
    if (!r) throw new Error(`no region named ${name}`);
    return r;
  }

  /** A descriptor that can only be mapped read-only. */
  readOnlyFd(name: string): number {
    let fd = this.readOnly.get(name);
    if (fd === undefined) {
      fd = native().openPath(`/proc/self/fd/${this.get(name).fd}`, false);
      this.readOnly.set(name, fd);
    }
    return fd;
  }

  entries(): RegionEntry[] {
    return [...this.regions.values()].map((r) => ({ name: r.name, kind: r.kind, launcherFd: r.fd, size: r.size }));
  }

  closeAll(): void {
    const addon = native();
    for (const fd of this.readOnly.values()) addon.closeFd(fd);
    for (const r of this.regions.values()) addon.closeFd(r.fd);
    this.readOnly.clear();
    this.regions.clear();
  }
}
