'use strict';
// Renders web/icons/icon.svg to the PNG icons of the manifest with Debian's chromium:
//   node tests/web/tools/make-icons.js
// (run by hand after changing the SVG; the PNGs are committed).
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ICONS = path.resolve(__dirname, '..', '..', '..', 'web', 'icons');

(async () => {
  const svg = fs.readFileSync(path.join(ICONS, 'icon.svg'), 'utf8');
  const browser = await chromium.launch({ executablePath: process.env.PARLEY_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage();
  const shots = [
    ['icon-192.png', 192, 0, 'transparent'],
    ['icon-512.png', 512, 0, 'transparent'],
    ['icon-maskable-512.png', 512, 0.1, '#0b57d0'], // safe zone: the mark within the inner 80 %
  ];
  for (const [name, size, pad, bg] of shots) {
    await page.setViewportSize({ width: size, height: size });
    const inner = Math.round(size * (1 - 2 * pad));
    const img = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
    await page.setContent(`<body style="margin:0;background:${bg};display:grid;place-items:center;height:${size}px">` +
      `<img src="${img}" width="${inner}" height="${inner}"></body>`);
    await page.screenshot({ path: path.join(ICONS, name), omitBackground: bg === 'transparent' });
  }
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
