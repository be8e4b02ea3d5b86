import { createHash } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError, ValidationError, loadImage, saveImage } from '../../src/index.js';
import { MONTE_CARLO, describeEngine, docker, ensureTestImages, requireEngine, tempDir } from '../helpers/engine.js';

const TAG = 'docker-sim-manager/bundle-test:1';

async function hasTag(tag: string): Promise<boolean> {
  return docker.getImage(tag).inspect().then(
    () => true,
    () => false,
  );
}

describeEngine('image bundles', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    await requireEngine();
    await ensureTestImages();
  });
  beforeEach(async () => {
    work = await tempDir('dsim-bundle-');
    await docker.getImage(MONTE_CARLO).tag({ repo: 'docker-sim-manager/bundle-test', tag: '1' });
  });
  afterEach(async () => {
    await docker.getImage(TAG).remove().catch(() => undefined);
    await work.cleanup();
  });

  test('save writes the bundle and its sha256; load verifies it and brings the image back', async () => {
    const file = path.join(work.dir, 'sim.tar');
    const saved = await saveImage({ image: TAG, file });
    const bytes = await readFile(file);
    expect(saved.bytes).toBe(bytes.length);
    expect(saved.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(await readFile(`${file}.sha256`, 'utf8')).toBe(`${saved.sha256}  sim.tar\n`);

    await docker.getImage(TAG).remove();
    expect(await hasTag(TAG)).toBe(false);
    const loaded = await loadImage({ file });
    expect(loaded).toContain(TAG);
    expect(await hasTag(TAG)).toBe(true);
  });

  test('a flipped byte or a truncated bundle is refused with IntegrityError and never reaches the engine', async () => {
    const file = path.join(work.dir, 'sim.tar');
    await saveImage({ image: TAG, file });
    await docker.getImage(TAG).remove();
    const handle = await open(file, 'r+');
    const size = (await stat(file)).size;
    const position = Math.floor(size / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, position);
    await handle.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, position);
    await handle.close();

    const error = await loadImage({ file }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).message).toMatch(/does not match its checksum .* It was not loaded\./);
    expect(await hasTag(TAG)).toBe(false);

    await handle.close().catch(() => undefined);
    const truncated = await open(file, 'r+');
    await truncated.truncate(size - 1024);
    await truncated.close();
    await expect(loadImage({ file })).rejects.toThrow(IntegrityError);
  });

  test('an existing bundle is not overwritten unless asked', async () => {
    const file = path.join(work.dir, 'sim.tar');
    await saveImage({ image: TAG, file });
    await expect(saveImage({ image: TAG, file })).rejects.toThrow(ValidationError);
    await expect(saveImage({ image: TAG, file, overwrite: true })).resolves.toMatchObject({ file });
    await expect(loadImage({ file: path.join(work.dir, 'missing.tar') })).rejects.toThrow(/checksum file .* cannot be read/);
  });
});
