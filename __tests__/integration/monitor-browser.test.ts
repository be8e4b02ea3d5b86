import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dsim } from '../helpers/cli.js';
import { SHELL_IMAGE, describeEngine, useEngineSuite } from '../helpers/engine.js';
import { useBrowser } from '../helpers/browser.js';

const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '.test-artifacts');

/** Whether something accepts connections on 127.0.0.1:port. */
function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describeEngine('dsim run --monitor in a real browser (headless Chromium)', () => {
  const data = useEngineSuite();
  const chromium = useBrowser();

  test('the page updates while jobs run, shows a log tail on click, refuses a wrong token; the port closes with the process', async () => {
    const browser = chromium.current();
    if (!browser) {
      console.warn('monitor browser test skipped: no Chromium on this machine');
      return;
    }
    const sweepFile = path.join(data.dir, 'sweep.yaml');
    await writeFile(
      sweepFile,
      [`image: ${SHELL_IMAGE}`, 'pullPolicy: never', 'maxWorkers: 2', 'dataDirectory: ./out', 'name: "s{index}"', 'command: ["sleep {pause}; echo line-{index}; echo done > /mnt/data/done.txt"]', 'parameters:', '  list: [{ pause: 0.3 }, { pause: 1 }, { pause: 1.5 }, { pause: 1.5 }, { pause: 2 }, { pause: 2 }, { pause: 2.5 }, { pause: 2.5 }]', ''].join('\n'),
    );
    let url: string | undefined;
    let announced: (value: string) => void = () => undefined;
    const urlSeen = new Promise<string>((resolve) => {
      announced = resolve;
    });
    const run = dsim(['run', sweepFile, '--monitor', '127.0.0.1:0', '--no-report'], {
      cwd: data.dir,
      onStderr: (stderr) => {
        const match = /monitor: (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(stderr);
        if (match?.[1] && url === undefined) {
          url = match[1];
          announced(url);
        }
      },
    });
    const address = await Promise.race([urlSeen, run.then((r) => Promise.reject(new Error(`dsim ended before printing the monitor URL: ${r.stderr}`)))]);
    const { port } = new URL(address);

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(address);
    // Live: the page shows jobs running, then more of them done, while the run goes on.
    await page.waitForFunction("Number(document.querySelector('#count-running b')?.textContent) > 0", undefined, { timeout: 30_000 });
    await page.waitForFunction("Number(document.querySelector('#count-succeeded b')?.textContent) >= 2", undefined, { timeout: 30_000 });
    const midRun = await page.textContent('#state');
    expect(midRun).toMatch(/^running/);
    // A click on a finished job shows the tail of its log.
    await page.click('#recent tr.job');
    await page.waitForFunction("/line-\\d/.test(document.querySelector('#log')?.textContent ?? '')", undefined, { timeout: 10_000 });
    // A wrong token is refused, by every endpoint.
    for (const pathname of ['/', '/events', '/metrics', '/logs?job=s1']) {
      const response = await fetch(`http://127.0.0.1:${port}${pathname}${pathname.includes('?') ? '&' : '?'}token=not-the-token`);
      expect(response.status).toBe(401);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${new URL(address).searchParams.get('token')}` } })).text();
    expect(metrics).toMatch(/^dsim_jobs\{status="succeeded"\} \d+$/m);
    await page.waitForFunction("(document.querySelector('#state')?.textContent ?? '').startsWith('finished')", undefined, { timeout: 60_000 });
    expect(await page.textContent('#count-succeeded b')).toBe('8');
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'monitor.png'), fullPage: true });
    expect(errors).toEqual([]);

    const result = await run;
    expect(result.code).toBe(0);
    expect(result.stderr.match(/monitor: /g)).toHaveLength(1); // the URL, with its token, is printed once
    expect(await isListening(Number(port))).toBe(false);
    await page.close();
  }, 120_000);
});
