// The geometry of one AF_XDP socket: UMEM frames and the depths of its four rings. Declared once:
// the addon's socket options, setUpXdp's options and handles, and the net tile's config all
// extend it, so a field added here reaches every one of them.

export interface XskGeometry {
  /** UMEM frame size in bytes (a power of two, 2048..4096 in aligned chunk mode). */
  frameSize: number;
  frameCount: number;
  fillDepth: number;
  completionDepth: number;
  rxDepth: number;
  txDepth: number;
}

export const XSK_GEOMETRY_FIELDS = [
  "frameSize",
  "frameCount",
  "fillDepth",
  "completionDepth",
  "rxDepth",
  "txDepth",
] as const;

/** Just the geometry of something that has it (to pass it on without the rest). */
export function xskGeometryOf(g: XskGeometry): XskGeometry {
  return {
    frameSize: g.frameSize,
    frameCount: g.frameCount,
    fillDepth: g.fillDepth,
    completionDepth: g.completionDepth,
    rxDepth: g.rxDepth,
    txDepth: g.txDepth,
  };
}

/** Bytes of UMEM the geometry needs. */
export function umemBytes(g: XskGeometry): number {
  return g.frameSize * g.frameCount;
}
