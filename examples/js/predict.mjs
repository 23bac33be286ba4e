// Run a dpk model file from Node.js: no Python, only onnxruntime-node.
//
//   node predict.mjs MODEL.onnx FRAMES.bin N [--pretty]
//
// FRAMES.bin holds N frames already at the model's input size, raw uint8 in
// (N, height, width, channels) order, channels in the model's colour order
// (preprocessing.color_order: "gray", "rgb" or "bgr"). Height, width and channels come
// from the spec inside the model file. Prints JSON: the keypoint names and, per frame,
// [x, y, confidence] per keypoint in input pixels (the centre of the top-left pixel at
// 0, 0; a missing point is null).
//
// Where the spec is: an ONNX file is a protobuf ModelProto; its metadata_props (field
// 14, repeated StringStringEntryProto {key = 1, value = 2}) hold "dpk.spec" (the model
// spec as JSON: skeleton, preprocessing, ...), "dpk.version" and "dpk.card".
// onnxruntime-node does not expose them, so readMetadata() below walks the top-level
// protobuf fields (about 40 lines; any protobuf library would do the same).

import { readFileSync } from "node:fs";
import ort from "onnxruntime-node";

function readVarint(buf, pos) {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    const byte = buf[pos++];
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, pos];
    shift += 7n;
  }
}

// Calls visit(field, wireType, start, end) for each field of one protobuf message.
function walk(buf, start, end, visit) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      [, pos] = readVarint(buf, pos);
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else if (wire === 2) {
      let length;
      [length, pos] = readVarint(buf, pos);
      const stop = pos + Number(length);
      visit(field, wire, pos, stop);
      pos = stop;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}: not an ONNX file?`);
    }
  }
}

export function readMetadata(bytes) {
  const metadata = {};
  walk(bytes, 0, bytes.length, (field, wire, start, end) => {
    if (field !== 14) return; // ModelProto.metadata_props
    let key = "";
    let value = "";
    walk(bytes, start, end, (f, w, s, e) => {
      const text = bytes.subarray(s, e).toString("utf8");
      if (f === 1) key = text;
      if (f === 2) value = text;
    });
    metadata[key] = value;
  });
  return metadata;
}

async function main() {
  const [modelPath, framesPath, countText, ...flags] = process.argv.slice(2);
  if (!modelPath || !framesPath || !countText) {
    console.error("usage: node predict.mjs MODEL.onnx FRAMES.bin N [--pretty]");
    process.exit(2);
  }
  const bytes = readFileSync(modelPath);
  const metadata = readMetadata(bytes);
  if (!metadata["dpk.spec"]) {
    console.error(`${modelPath}: no dpk.spec in the metadata; not a dpk model file`);
    process.exit(1);
  }
  const spec = JSON.parse(metadata["dpk.spec"]);
  const { height, width, channels } = spec.preprocessing;
  const n = Number(countText);
  const frames = readFileSync(framesPath);
  const expected = n * height * width * channels;
  if (frames.length !== expected) {
    console.error(
      `${framesPath}: ${frames.length} bytes, expected ${expected} for ${n} frames of ` +
        `${height}x${width}x${channels} (height x width x channels, uint8)`,
    );
    process.exit(1);
  }
  const session = await ort.InferenceSession.create(bytes);
  const input = new ort.Tensor("uint8", new Uint8Array(frames), [n, height, width, channels]);
  const { keypoints } = await session.run({ image: input }, ["keypoints"]);
  const k = keypoints.dims[1];
  const data = keypoints.data; // float32, (n, k, 3)
  const out = [];
  for (let i = 0; i < n; i++) {
    const frame = [];
    for (let j = 0; j < k; j++) {
      const o = (i * k + j) * 3;
      const point = [data[o], data[o + 1], data[o + 2]];
      frame.push(Number.isNaN(point[0]) ? null : point);
    }
    out.push(frame);
  }
  const result = { names: spec.skeleton.names, dpk_version: metadata["dpk.version"], keypoints: out };
  console.log(JSON.stringify(result, null, flags.includes("--pretty") ? 2 : 0));
}

main().catch((error) => {
  console.error(`error: ${error.message}`);
  process.exit(1);
});
