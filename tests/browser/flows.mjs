// The web UI in a real browser: Debian's Chromium driven by playwright-core. Run by
// tests/browser.rs, which starts a relay with synthetic organisations and accounts and passes
// them in KR_* environment variables. Exits non-zero with a message on the first failure.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.env.KR_URL;
const accounts = JSON.parse(process.env.KR_ACCOUNTS);
const marker = process.env.KR_MARKER;
const idleSeconds = parseInt(process.env.KR_IDLE_SECONDS, 10);
const shots = process.env.KR_SCREENSHOTS || '';
const work = process.env.KR_WORK_DIR;
const reportPath = process.env.KR_REPORT;
const relayBin = process.env.KR_BIN;
const dataDir = process.env.KR_DATA_DIR;
if (shots) { mkdirSync(shots, { recursive: true }); }

function step(text) { console.log('browser: ' + text); }

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const a11yProblems = [];
const scanned = [];

// RFC 6238 TOTP (SHA-1, 30 s, 6 digits) from the base32 secret shown at enrolment.
function totp(base32, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1000000;
  return String(value).padStart(6, '0');
}

async function shot(page, name) {
  if (shots) { await page.screenshot({ path: join(shots, name), fullPage: true }); }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// The relay's own CA signs the server certificate; the browser is told to accept it, as a
// client would with the CA installed.
async function newPage(locale = 'ja-JP', clientCertificates = []) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, locale, acceptDownloads: true, clientCertificates,
    viewport: { width: 1200, height: 860 },
  });
  const page = await context.newPage();
  page.cspErrors = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) { page.cspErrors.push(message.text()); }
  });
  return page;
}

// Every person presents their own client certificate (the relay's default,
// people_require_certificate), as after importing client.p12 into the browser.
const certsOf = (account) => [{ origin: url, certPath: account.certPath, keyPath: account.keyPath }];

// Accessibility: axe-core (WCAG 2 A and AA rules) on each page, in a context that shares the
// person's session. The script is injected, so that context alone bypasses the CSP.
async function axeScan(page, paths, clientCertificates = []) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, locale: 'ja-JP', clientCertificates });
  await context.addCookies(await page.context().cookies());
  const scanner = await context.newPage();
  for (const path of paths) {
    await scanner.goto(url + path);
    // The scan must see the page itself, not the login page it would fall back to.
    assert.equal(new URL(scanner.url()).pathname, path.split('?')[0], 'scanned ' + path);
    await scanner.addScriptTag({ path: axePath });
    const violations = await scanner.evaluate(async () => {
      const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
      return { passes: result.passes.length, violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, target: String(v.nodes[0].target) })) };
    }).then((r) => { scanned.push(r.passes); return r.violations; });
    for (const v of violations) {
      console.log('browser: a11y ' + path + ' ' + v.impact + ' ' + v.id + ' ×' + v.nodes + ' ' + v.target);
      if (v.impact === 'serious' || v.impact === 'critical') { a11yProblems.push(path + ' ' + v.id); }
    }
  }
  await context.close();
}

// First login: password only, then the TOTP enrolment (QR), recovery codes, new password.
async function firstLogin(page, account, screenshots = false, expectHome = true) {
  await page.goto(url + '/login');
  if (screenshots) { await shot(page, 'login.png'); }
  await page.fill('#login', account.login);
  await page.fill('#password', account.password);
  await page.click('button[type=submit]');
  await page.waitForURL(url + '/setup');
  const secret = (await page.textContent('[data-testid=totp-secret]')).trim();
  assert.match(secret, /^[A-Z2-7]+=*$/, 'the manual TOTP key is shown');
  assert.ok(await page.locator('.qr svg').count() === 1, 'the QR code is an inline SVG');
  if (screenshots) { await shot(page, 'setup-totp.png'); }
  // A wrong code is refused and the same QR code stays.
  await page.fill('#code', '000000');
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=setup-error]');
  assert.equal((await page.textContent('[data-testid=totp-secret]')).trim(), secret);
  await page.fill('#code', totp(secret));
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=recovery-codes]');
  const codes = await page.locator('[data-testid=recovery-codes] li').allInnerTexts();
  assert.equal(codes.length, 10);
  // The guideline's rules: a weak password is refused with reasons.
  await page.fill('#current', account.password);
  await page.fill('#new', 'password1');
  await page.click('section[aria-labelledby=pw-h] button[type=submit]');
  await page.waitForSelector('.notice.error');
  await page.fill('#current', account.password);
  await page.fill('#new', account.newPassword);
  await page.click('section[aria-labelledby=pw-h] button[type=submit]');
  await page.waitForURL(url + '/?welcome=1');
  if (expectHome) { await page.waitForSelector('[data-testid=flash]'); }
  return { secret, codes };
}

let failed = false;
try {
  // --- The sender: first login, send with visible progress, the receipt ---------------
  step('without a certificate the login page says how to install one');
  const nocert = await newPage();
  await nocert.goto(url + '/login');
  await nocert.waitForSelector('[data-testid=certificate-missing]');
  const help = await nocert.textContent('[data-testid=certificate-missing]');
  assert.ok(help.includes('client.p12') && help.includes('証明書の管理'), 'the steps are shown: ' + help);
  await shot(nocert, 'login-no-certificate.png');

  step('sender logs in for the first time');
  const sender = await newPage('ja-JP', certsOf(accounts.sender));
  await firstLogin(sender, accounts.sender, true);
  await shot(sender, 'home.png');
  assert.ok((await sender.textContent('[data-testid=who]')).includes(accounts.sender.name));

  step('sender uploads with a progress bar');
  await sender.click('a[href="/upload"]');
  await sender.waitForURL(url + '/upload');
  await sender.selectOption('#to', accounts.receiver.org);
  const upload = readFileSync(join(work, 'upload.csv'));
  await sender.setInputFiles('#files', { name: '健診結果_2026.csv', mimeType: 'text/csv', buffer: upload });
  await shot(sender, 'upload.png');
  await sender.click('#upload button[type=submit]');
  await sender.waitForSelector('#progress progress');
  await sender.waitForSelector('[data-testid=receipt-link]');
  assert.equal(await sender.locator('#progress progress').evaluate((p) => p.value), 100);
  await sender.waitForURL(/\/submissions\/[0-9a-f-]{36}$/);
  const receiptUrl = sender.url();
  await sender.waitForSelector('[data-testid=delivery-state]');
  assert.equal((await sender.textContent('[data-testid=delivery-state]')).trim(), '未受信');
  assert.ok(await sender.locator('[data-testid=ledger-history] li').count() >= 2, 'received and delivered are in the ledger, proven');
  await shot(sender, 'receipt.png');
  await sender.goto(url + '/submissions');
  await sender.waitForSelector('[data-testid=submissions] tbody tr');
  assert.ok(await sender.locator('svg.chart rect.bar').count() === 14, 'a bar per day');
  await shot(sender, 'submissions.png');

  await sender.goto(url + '/maps');
  await sender.waitForSelector('[data-testid=map-versions]');
  await shot(sender, 'maps.png');

  // --- Keyboard: the first Tab reaches the skip link, which leads to the content --------
  step('keyboard and labels');
  await sender.goto(url + '/upload');
  await sender.keyboard.press('Tab');
  assert.equal(await sender.evaluate(() => document.activeElement.className), 'skip');
  const unlabelled = await sender.evaluate(() => Array.from(document.querySelectorAll('input:not([type=hidden]), select'))
    .filter((el) => !(el.labels && el.labels.length) && !el.closest('label')).map((el) => el.name));
  assert.deepEqual(unlabelled, [], 'every field has a label');

  await axeScan(sender, ['/login', '/', '/upload', '/submissions', new URL(receiptUrl).pathname, '/maps', '/history', '/ledger'], certsOf(accounts.sender));

  // --- The receiver: inbox, download, 受信完了 with a confirmation dialog -------------
  step('receiver downloads and confirms');
  const receiver = await newPage('ja-JP', certsOf(accounts.receiver));
  await firstLogin(receiver, accounts.receiver);
  await receiver.goto(url + '/inbox');
  await receiver.waitForSelector('[data-testid=inbox] tbody tr');
  await shot(receiver, 'inbox.png');
  await receiver.click('[data-testid=inbox] tbody tr a');
  await receiver.waitForURL(/\/deliveries\/[0-9a-f-]{36}$/);
  const deliveryUrl = receiver.url();
  assert.equal((await receiver.textContent('[data-testid=state]')).trim(), '未受信');
  const [download] = await Promise.all([
    receiver.waitForEvent('download'),
    receiver.click('[data-testid=download]'),
  ]);
  const saved = join(work, 'downloaded.csv');
  await download.saveAs(saved);
  assert.ok(readFileSync(saved, 'utf8').includes(marker), 'the downloaded file is the one sent');
  await receiver.waitForFunction(() => !document.querySelector('[data-testid=confirm]').disabled);
  await shot(receiver, 'delivery.png');
  let dialog = '';
  receiver.once('dialog', (d) => { dialog = d.message(); d.accept(); });
  await receiver.click('[data-testid=confirm]');
  await receiver.waitForURL(/confirmed=1$/);
  assert.ok(dialog.includes('受信完了'), 'the confirmation dialog explains 受信完了');
  assert.equal((await receiver.textContent('[data-testid=state]')).trim(), '受信完了');
  assert.equal(await receiver.locator('[data-testid=download]').count(), 0, 'nothing left to download');
  const gone = await receiver.request.get(url + '/api/v1/deliveries/' + deliveryUrl.split('/').pop() + '/content');
  assert.equal(gone.status(), 410, 'the content was destroyed');

  // The two other files: searched, ticked, downloaded as one ZIP, confirmed in one step.
  step('receiver handles several files at once');
  await receiver.goto(url + '/inbox');
  await receiver.selectOption('#format', 'pass-through');
  await receiver.fill('#sender', 'inst-sakura');
  await receiver.click('[data-testid=search] button[type=submit]');
  await receiver.waitForURL(/format=pass-through/);
  assert.equal(await receiver.locator('[data-testid=bulk-download]').isDisabled(), true, 'nothing ticked yet');
  const boxes = receiver.locator('[data-testid=inbox] input[name=id]');
  assert.equal(await boxes.count(), 2, 'the two files not yet confirmed can be ticked');
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await shot(receiver, 'inbox-bulk.png');
  const [zipDownload] = await Promise.all([
    receiver.waitForEvent('download'),
    receiver.click('[data-testid=bulk-download]'),
  ]);
  const zipPath = join(work, 'bulk.zip');
  await zipDownload.saveAs(zipPath);
  const listing = JSON.parse(execFileSync('python3', ['-c',
    'import json,sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); print(json.dumps({n: z.read(n).decode("utf-8") for n in z.namelist()}))',
    zipPath]).toString());
  assert.deepEqual(Object.keys(listing).sort(), ['bulk-a.csv', 'bulk-b.csv'], 'one entry per ticked file, by name');
  assert.ok(listing['bulk-a.csv'].includes('BULK-bulk-a.csv'), 'the ZIP holds the files as sent');
  await receiver.goto(url + '/inbox?format=pass-through&sender=inst-sakura');
  await receiver.locator('[data-testid=inbox] input[name=id]').nth(0).check();
  await receiver.locator('[data-testid=inbox] input[name=id]').nth(1).check();
  let bulkDialog = '';
  receiver.once('dialog', (d) => { bulkDialog = d.message(); d.accept(); });
  await receiver.click('[data-testid=bulk-confirm]');
  await receiver.waitForURL(/done=2&failed=0/);
  assert.ok(bulkDialog.includes('受信完了'), 'the dialog explains what bulk 受信完了 does');
  assert.ok((await receiver.textContent('[data-testid=bulk-done]')).includes('2 件を受信完了にしました'));
  await shot(receiver, 'inbox-bulk-done.png');
  await receiver.goto(url + '/inbox?format=pass-through&sender=inst-sakura');
  assert.equal(await receiver.locator('[data-testid=inbox] input[name=id]').count(), 0, 'nothing of that sender left to confirm');

  await axeScan(receiver, ['/inbox', new URL(deliveryUrl).pathname], certsOf(accounts.receiver));

  // The sender sees 受信完了.
  await sender.goto(receiptUrl);
  assert.equal((await sender.textContent('[data-testid=delivery-state]')).trim(), '受信完了');

  // --- Language switch ------------------------------------------------------------------
  step('language switch');
  await sender.goto(url + '/inbox');
  await sender.goto(url + '/submissions');
  await sender.click('a[lang=en]');
  await sender.waitForSelector('h1');
  assert.equal((await sender.textContent('h1')).trim(), 'Sent files');
  assert.equal(await sender.getAttribute('html', 'lang'), 'en');
  await shot(sender, 'submissions-en.png');
  await sender.click('a[lang=ja]');
  assert.equal((await sender.textContent('h1')).trim(), '送信履歴');


  // --- Another organisation types the first's URLs: the not-found page -----------------
  step('another organisation gets the not-found page');
  const other = await newPage('ja-JP', certsOf(accounts.other));
  await firstLogin(other, accounts.other);
  for (const target of [deliveryUrl, receiptUrl, url + '/deliveries/00000000-0000-7000-8000-000000000000']) {
    const response = await other.goto(target);
    assert.ok([403, 404].includes(response.status()), target + ' answered ' + response.status());
    if (target !== receiptUrl) {
      assert.equal(response.status(), 404);
      assert.equal((await other.textContent('[data-testid=error-heading]')).trim(), 'ページが見つかりません');
    }
  }
  await shot(other, 'not-found.png');

  // --- The conversion report: counts, findings by rule (chart), CSV download ------------
  step('a converting sender reads the conversion report');
  const converter = await newPage('ja-JP', certsOf(accounts.converter));
  await firstLogin(converter, accounts.converter);
  // From the upload page, conversion is the preselected choice and the form can be sent.
  await converter.goto(url + '/upload');
  assert.equal(await converter.locator('#to').inputValue(), ':convert', 'conversion is preselected');
  await converter.setInputFiles('#files', { name: 'kensa_export.csv', mimeType: 'text/csv', buffer: readFileSync(join(work, 'convert.csv')) });
  assert.ok(await converter.locator('#upload').evaluate((form) => form.checkValidity()), 'the form with conversion chosen is valid');
  await converter.click('#upload button[type=submit]');
  await converter.waitForURL(/\/submissions\/[0-9a-f-]{36}$/);
  await converter.waitForSelector('[data-testid=submission]');
  const convertedUrl = converter.url();
  // Once converted: one record has a 保険者番号 nobody receives yet, one row has no 生年月日.
  // The file is not shown as simply 配信済, and both batches are there to download.
  for (let i = 0; i < 60 && await converter.locator('[data-testid=held]').count() === 0; i++) {
    await converter.waitForTimeout(500);
    await converter.reload();
  }
  assert.equal((await converter.textContent('[data-testid=submission-state]')).trim(), '配信済（一部保留）');
  const heldRows = converter.locator('[data-testid=held-row]');
  assert.equal(await heldRows.count(), 2, 'one batch held (12345678), one returned');
  const heldText = await converter.textContent('[data-testid=held]');
  assert.ok(heldText.includes('12345678') && heldText.includes('保留（配信先なし）') && heldText.includes('差し戻し'), heldText);
  const [returnedFile] = await Promise.all([
    converter.waitForEvent('download'),
    heldRows.filter({ hasText: '差し戻し' }).locator('[data-testid=held-download]').click(),
  ]);
  const returnedPath = join(work, 'returned.csv');
  await returnedFile.saveAs(returnedPath);
  const returned = readFileSync(returnedPath, 'utf8');
  assert.ok(returned.includes('変換できなかった理由') && returned.includes('生年月日'), 'the returned rows say why: ' + returned);
  await shot(converter, 'held.png');
  // The operator adds the insurer and a convert route: the held record goes out at once.
  step('a route appears and the held records reach their receiver');
  const relayAdmin = (...args) => execFileSync(relayBin, ['admin', '--data-dir', dataDir, ...args], { encoding: 'utf8' });
  relayAdmin('org', 'create', '--code', 'ins-late', '--kind', 'insurer', '--name', 'おそい健康保険組合', '--insurer-number', '12345678');
  assert.ok(relayAdmin('route', 'create', '--from', accounts.converter.org, '--to', 'ins-late', '--mode', 'convert').includes('保留中だった記録'));
  await converter.goto(convertedUrl);
  const released = heldRows.filter({ hasText: '12345678' });
  assert.equal((await released.locator('[data-testid=held-state]').textContent()).trim(), '配信済');
  assert.ok((await released.textContent()).includes('おそい健康保険組合'), 'released to the new insurer');
  assert.equal((await converter.textContent('[data-testid=submission-state]')).trim(), '配信済（一部差し戻し）');
  assert.ok((await converter.textContent('[data-testid=submission]')).length > 0);
  // The same content again: asked first; declined, nothing is sent.
  await converter.goto(url + '/upload');
  await converter.setInputFiles('#files', { name: 'kensa_export_again.csv', mimeType: 'text/csv', buffer: readFileSync(join(work, 'convert.csv')) });
  let asked = '';
  converter.once('dialog', (dialog) => { asked = dialog.message(); dialog.dismiss(); });
  await converter.click('#upload button[type=submit]');
  await converter.waitForSelector('[data-testid=upload-skipped]');
  assert.ok(asked.includes('送信済み') && asked.includes('kensa_export.csv'), 'asked before sending the same content again: ' + asked);
  assert.equal(await converter.locator('[data-testid=receipt-link]').count(), 0, 'nothing was sent');
  await converter.goto(url + reportPath);
  await converter.waitForSelector('[data-testid=finding-counts]');
  assert.ok(await converter.locator('figure svg.chart rect.bar').count() >= 1, 'findings by rule as a chart');
  assert.ok((await converter.textContent('[data-testid=finding-counts]')).includes('血圧の大小'));
  await shot(converter, 'report.png');
  const [csv] = await Promise.all([
    converter.waitForEvent('download'),
    converter.click('[data-testid=report-csv]'),
  ]);
  const csvPath = join(work, 'report.csv');
  await csv.saveAs(csvPath);
  assert.ok(readFileSync(csvPath, 'utf8').includes('血圧の大小'), 'the CSV lists the findings');
  await axeScan(converter, [reportPath], certsOf(accounts.converter));

  // --- A map drafted in the browser: placements, fixes, a check, a new version ----------
  step('a converting sender drafts, fixes, checks and saves a map in the browser');
  const sample = [
    '保険者番号,生年月日,性別,受診日,身長,体重,最高血圧,最低血圧,尿糖,たばこ',
    '06999901,S45.1.1,男,2026/4/1,165.0,60.0,120,80,陰性,1',
    '06999902,1980/2/3,女,2026/4/1,158.2,51.3,118,76,強陽性,3',
    '06999901,H2.3.4,1,2026/4/2,171.4,66.0,132,88,(+),3',
  ].join('\r\n') + '\r\n';
  const sampleFile = { name: 'kensa_sample.csv', mimeType: 'text/csv', buffer: Buffer.from(sample) };
  await converter.goto(url + '/maps');
  await converter.setInputFiles('#draft-sample', sampleFile);
  await converter.click('[data-testid=draft-form] button[type=submit]');
  await converter.waitForSelector('[data-testid=draft]');
  const placementText = await converter.textContent('[data-testid=placements]');
  assert.ok(placementText.includes('収縮期血圧') && placementText.includes('165.0'), 'placements with example values: ' + placementText);
  // The column the draft could not place, and the answer it does not know, are fixed in the form.
  const unplaced = converter.locator('[data-testid=placement]', { hasText: 'たばこ' });
  await unplaced.locator('[data-testid=fix-item]').fill('喫煙');
  await converter.locator('[data-testid=placement]', { hasText: '強陽性' }).locator('[data-testid=fix-value]').fill('5');
  await converter.fill('#map-id', 'inst-convert-web');
  await converter.fill('#map-version', '1');
  await converter.setInputFiles('#draft-check-sample', sampleFile);
  await converter.click('[data-testid=draft-check]');
  await converter.waitForSelector('[data-testid=check-result]');
  assert.equal((await converter.textContent('[data-testid=check-rejected]')).trim(), '0');
  assert.ok(!(await converter.textContent('[data-testid=check-result]')).includes('コード表にない値'), 'every answer is known now');
  assert.ok((await converter.locator('[data-testid=placement]', { hasText: 'たばこ' }).textContent()).includes('喫煙'), 'the fixed column shows as placed');
  await shot(converter, 'map-draft.png');
  await converter.check('[data-testid=draft] input[name=activate]');
  await converter.click('[data-testid=draft-save]');
  await converter.waitForURL(/\/maps\?done=uploaded/);
  const versionRow = converter.locator('[data-testid=map-versions] tr', { hasText: 'inst-convert-web' });
  assert.equal(await versionRow.locator('[data-testid=active-map]').count(), 1, 'the new version is active');
  const [mapFile] = await Promise.all([
    converter.waitForEvent('download'),
    versionRow.locator('[data-testid=map-download]').click(),
  ]);
  const mapPath = join(work, 'map.csv');
  await mapFile.saveAs(mapPath);
  const savedMap = readFileSync(mapPath, 'utf8');
  assert.ok(savedMap.includes('column,たばこ,喫煙') && savedMap.includes('value,尿糖,,強陽性,5'), 'the saved version holds the fixes: ' + savedMap);
  await axeScan(converter, ['/maps'], certsOf(accounts.converter));

  // --- The organisation's admin: people, certificates, the access log, the ledger -------
  step('the organisation admin pages');
  const admin = await newPage('ja-JP', certsOf(accounts.admin));
  await firstLogin(admin, accounts.admin);
  await admin.goto(url + '/people');
  await admin.waitForSelector('[data-testid=people]');
  assert.ok((await admin.textContent('[data-testid=people]')).includes(accounts.sender.login));
  await shot(admin, 'people.png');
  await admin.goto(url + '/certificates');
  await admin.fill('#cert-name', '健診システム2号機');
  await admin.click('section[aria-labelledby=issue-h] button[type=submit]');
  await admin.waitForSelector('[data-testid=issued]');
  assert.ok((await admin.getAttribute('[data-testid=p12-download]', 'href')).startsWith('data:application/x-pkcs12;base64,'));
  await shot(admin, 'certificates.png');
  await admin.goto(url + '/audit?action=submission_create');
  await admin.waitForSelector('[data-testid=audit] tbody tr');
  assert.ok((await admin.textContent('[data-testid=audit]')).includes(accounts.sender.login));
  await shot(admin, 'audit.png');
  await admin.goto(url + '/ledger');
  await admin.waitForSelector('[data-testid=checkpoint]');
  await shot(admin, 'ledger.png');
  await axeScan(admin, ['/people', '/certificates', '/audit', '/organisation'], certsOf(accounts.admin));

  // --- A receiving organisation's admin: formats and the key deliveries are sealed to ------
  step('a receiver admin chooses formats and registers an age key');
  const radmin = await newPage('ja-JP', certsOf(accounts.receiverAdmin));
  const radminLogin = await firstLogin(radmin, accounts.receiverAdmin);
  await radmin.goto(url + '/organisation');
  await radmin.waitForSelector('[data-testid=formats]');
  const orgText = await radmin.textContent('main');
  for (const says of ['受け取るファイルの形式', '特定健診 XML', '暗号化されたファイルの開き方', 'age -d -i key.txt']) {
    assert.ok(orgText.includes(says), says + ' is explained');
  }
  await radmin.check('input[name=mhlw_xml]');
  await radmin.click('[data-testid=formats] button[type=submit]');
  await radmin.waitForURL(/done=formats/);
  assert.ok((await radmin.textContent('main')).includes('受け取る形式を保存しました'));
  const keyFile = join(work, 'receiver-key.txt');
  execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' });
  const publicKey = execFileSync('age-keygen', ['-y', keyFile]).toString().trim();
  await radmin.fill('[data-testid=add-recipient] input[name=recipient]', publicKey);
  await radmin.fill('[data-testid=add-recipient] input[name=label]', '情報システム課の取込端末');
  await radmin.click('[data-testid=add-recipient] button[type=submit]');
  await radmin.waitForURL(/done=recipient_added/);
  assert.ok((await radmin.textContent('[data-testid=recipients]')).includes(publicKey));
  await shot(radmin, 'organisation-receiving.png');
  // A secret key pasted by mistake is refused, named for what it is.
  await radmin.fill('[data-testid=add-recipient] input[name=recipient]', readFileSync(keyFile, 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-')));
  await radmin.click('[data-testid=add-recipient] button[type=submit]');
  await radmin.waitForSelector('[data-testid=org-error]');
  assert.ok((await radmin.textContent('[data-testid=org-error]')).includes('秘密鍵'));
  // A webhook endpoint for their own systems: an http:// address is refused with the value,
  // an https:// one is added and its signing secret shown once.
  await radmin.fill('[data-testid=add-webhook] input[name=url]', 'http://hooks.midori.example/kenshin');
  await radmin.check('[data-testid=add-webhook] input[value="delivery.arrived"]');
  await radmin.click('[data-testid=add-webhook] button[type=submit]');
  await radmin.waitForSelector('[data-testid=webhook-error]');
  assert.ok((await radmin.textContent('[data-testid=webhook-error]')).includes('http://hooks.midori.example/kenshin'), 'the refused URL is shown');
  await radmin.fill('[data-testid=add-webhook] input[name=url]', 'https://hooks.midori.example/kenshin');
  await radmin.check('[data-testid=add-webhook] input[value="delivery.arrived"]');
  await radmin.check('[data-testid=add-webhook] input[value="delivery.expiring"]');
  await radmin.click('[data-testid=add-webhook] button[type=submit]');
  await radmin.waitForSelector('[data-testid=webhook-secret]');
  assert.match(await radmin.textContent('[data-testid=webhook-secret]'), /whsec_[A-Za-z0-9+/=]{40,}/);
  assert.ok((await radmin.textContent('[data-testid=webhooks]')).includes('ファイルの到着'));
  await shot(radmin, 'organisation-webhook.png');
  await radmin.goto(url + '/organisation');
  assert.doesNotMatch(await radmin.textContent('main'), /whsec_[A-Za-z0-9+/=]{40,}/, 'the secret is shown once');

  // Their own account: reached from their name in the header.
  await radmin.click('[data-testid=who]');
  await radmin.waitForURL(/\/account$/);
  assert.ok((await radmin.textContent('[data-testid=previous-login]')).includes('最初のログイン'));
  assert.equal(await radmin.locator('[data-testid=password] input[name=code]').count(), 1, 'a code is asked for');
  await shot(radmin, 'account.png');

  // They change their own password: the current one and a code of the next step (the first
  // login used this step's), then every other session of theirs ends.
  const changedPassword = 'Kaede-Sora*Ume-4417';
  await radmin.fill('[data-testid=password] input[name=current]', accounts.receiverAdmin.newPassword);
  await radmin.fill('[data-testid=password] input[name=new]', changedPassword);
  await radmin.fill('[data-testid=password] input[name=again]', changedPassword);
  await radmin.fill('[data-testid=password] input[name=code]', totp(radminLogin.secret, Date.now() + 30000));
  await radmin.click('[data-testid=password] button[type=submit]');
  await radmin.waitForURL(/\/account\?changed=/);
  assert.ok((await radmin.textContent('main')).includes('パスワードを変更しました'), 'the change is confirmed');

  // A passkey as the second factor: registered with the current password on a platform
  // authenticator (Chromium's virtual one), then used to log in instead of the code.
  step('a person registers a passkey and logs in with it');
  const webauthn = await radmin.context().newCDPSession(radmin);
  await webauthn.send('WebAuthn.enable');
  await webauthn.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  await radmin.fill('[data-testid=add-passkey] input[name=label]', '情報システム課のPC');
  await radmin.fill('[data-testid=add-passkey] input[name=password]', 'not-the-password');
  await radmin.click('[data-testid=add-passkey] button[type=submit]');
  await radmin.waitForSelector('[data-testid=passkey-error]');
  const wrongPassword = await radmin.textContent('[data-testid=passkey-error]');
  assert.ok(wrongPassword.includes('パスワードが正しくありません'), 'a wrong password registers nothing: ' + wrongPassword);
  assert.ok((await radmin.textContent('[data-testid=passkeys]')).includes('登録したパスキーはありません'));
  await radmin.fill('[data-testid=add-passkey] input[name=label]', '情報システム課のPC');
  await radmin.fill('[data-testid=add-passkey] input[name=password]', changedPassword);
  await radmin.click('[data-testid=add-passkey] button[type=submit]');
  await radmin.waitForURL(/passkey=added/);
  assert.ok((await radmin.textContent('[data-testid=passkeys]')).includes('情報システム課のPC'));
  assert.ok((await radmin.textContent('[data-testid=passkeys]')).includes('未使用'));
  await shot(radmin, 'account-passkey.png');
  await radmin.click('header form[action="/logout"] button');
  await radmin.waitForURL(/\/login/);
  await radmin.fill('#login', accounts.receiverAdmin.login);
  await radmin.click('#passkey-login');
  await radmin.waitForSelector('[data-testid=passkey-error]:not([hidden])');
  assert.ok((await radmin.textContent('[data-testid=passkey-error]')).includes('パスワード'), 'the password is still asked for');
  await shot(radmin, 'login-passkey.png');
  await radmin.fill('#password', changedPassword);
  await radmin.click('#passkey-login');
  await radmin.waitForURL(url + '/');
  await radmin.goto(url + '/account');
  assert.ok(!(await radmin.textContent('[data-testid=passkeys]')).includes('未使用'), 'its last use is shown');
  await axeScan(radmin, ['/organisation', '/account'], certsOf(accounts.receiverAdmin));
  radmin.once('dialog', (d) => d.accept());
  await radmin.click('[data-testid=passkeys] button[type=submit]');
  await radmin.waitForURL(/passkey=removed/);
  assert.ok((await radmin.textContent('[data-testid=passkeys]')).includes('登録したパスキーはありません'));

  // --- The operator: usage, but no way to content --------------------------------------
  step('the operator sees usage and health, never content');
  // Password and TOTP are not enough for the operator: the console needs the person's own
  // client certificate.
  const bare = await newPage();
  const { codes } = await firstLogin(bare, accounts.ops, false, false);
  assert.ok((await bare.textContent('main')).includes('クライアント証明書'), 'the certificate is required');
  assert.ok((await bare.textContent('main')).includes('client.p12'), 'and how to install it');
  await shot(bare, 'certificate-required.png');
  const refusedOps = await bare.goto(url + '/ops');
  assert.equal(refusedOps.status(), 403);
  const ops = await newPage('ja-JP', certsOf(accounts.ops));
  await ops.goto(url + '/login');
  await ops.fill('#login', accounts.ops.login);
  await ops.fill('#password', accounts.ops.newPassword);
  await ops.fill('#code', codes[0].trim());
  await ops.click('button[type=submit]');
  await ops.waitForURL(url + '/');
  await ops.goto(url + '/ops');
  await ops.waitForSelector('[data-testid=usage]');
  assert.ok((await ops.textContent('[data-testid=orgs]')).includes(accounts.receiver.org));
  assert.ok((await ops.textContent('[data-testid=ops-maps]')).includes('inst-convert-web@1'), 'which map each institution uses');
  assert.ok(['稼働中', '一部に問題あり'].includes((await ops.textContent('[data-testid=health-status]')).trim()), 'the health status in Japanese');
  await shot(ops, 'ops.png');
  await axeScan(ops, ['/ops'], certsOf(accounts.ops));

  // The operator registers an insurer with its first admin, gives it a converting route from
  // the institution, and deletes the route again.
  step('the operator creates an organisation, its admin and a convert route, and deletes a route');
  await ops.fill('[data-testid=create-org] input[name=code]', 'ins-web-new');
  await ops.selectOption('[data-testid=create-org] select[name=kind]', 'insurer');
  await ops.fill('[data-testid=create-org] input[name=name]', 'さくら市国民健康保険');
  await ops.fill('[data-testid=create-org] input[name=insurer_numbers]', '06999977');
  await ops.fill('[data-testid=create-org] input[name=admin_login]', 'sakura-city.admin');
  await ops.fill('[data-testid=create-org] input[name=admin_name]', '保険 太郎');
  await ops.click('[data-testid=create-org] button[type=submit]');
  await ops.waitForSelector('[data-testid=org-created]');
  assert.ok((await ops.textContent('[data-testid=org-created]')).includes('さくら市国民健康保険'));
  assert.equal((await ops.textContent('[data-testid=admin-login]')).trim(), 'sakura-city.admin');
  assert.ok((await ops.textContent('[data-testid=admin-password]')).trim().length >= 12, 'a one-time password is shown');
  assert.ok((await ops.textContent('[data-testid=orgs]')).includes('ins-web-new'));
  await shot(ops, 'ops-org-created.png');
  // The same code again: refused, the code named.
  await ops.fill('[data-testid=create-org] input[name=code]', 'ins-web-new');
  await ops.fill('[data-testid=create-org] input[name=name]', '重複');
  await ops.fill('[data-testid=create-org] input[name=insurer_numbers]', '');
  await ops.fill('[data-testid=create-org] input[name=admin_login]', '');
  await ops.click('[data-testid=create-org] button[type=submit]');
  await ops.waitForSelector('[data-testid=directory-error]');
  assert.ok((await ops.textContent('[data-testid=directory-error]')).includes('ins-web-new'));
  await ops.selectOption('[data-testid=create-route] select[name=from]', accounts.sender.org);
  await ops.selectOption('[data-testid=create-route] select[name=to]', 'ins-web-new');
  await ops.selectOption('[data-testid=create-route] select[name=mode]', 'convert');
  await ops.click('[data-testid=create-route] button[type=submit]');
  await ops.waitForURL(/done=route_created/);
  const newRoute = ops.locator('[data-testid=ops-routes] tr', { hasText: 'ins-web-new' });
  assert.ok((await newRoute.textContent()).includes('標準様式に変換'), 'the new route converts');
  await shot(ops, 'ops-routes.png');
  ops.once('dialog', (d) => d.accept());
  await newRoute.locator('form[data-confirm] button').click();
  await ops.waitForURL(/done=route_deleted/);
  assert.equal(await ops.locator('[data-testid=ops-routes] tr', { hasText: 'ins-web-new' }).count(), 0, 'the route is gone');
  for (const target of [deliveryUrl, receiptUrl, deliveryUrl.replace('/deliveries/', '/api/v1/deliveries/') + '/content']) {
    const response = await ops.goto(target);
    assert.ok(!(await ops.content()).includes(marker), 'no content at ' + target);
    assert.ok(response.status() >= 400 || !target.endsWith('/content'), target);
  }

  // --- Session timeout: the notice, then the login page says why ------------------------
  step('session timeout after ' + idleSeconds + ' s idle');
  await ops.goto(url + '/ops');
  await ops.waitForSelector('#session-notice:not([hidden])', { timeout: (idleSeconds + 5) * 1000 });
  await ops.waitForURL(/\/login\?expired=1$/, { timeout: (idleSeconds + 10) * 1000 });
  assert.ok((await ops.textContent('[data-testid=flash]')).includes('ログアウトしました'));
  const afterTimeout = await ops.goto(url + '/ops');
  assert.ok(ops.url().startsWith(url + '/login'), 'the expired session no longer opens pages');
  assert.equal(afterTimeout.status(), 200);

  assert.deepEqual(a11yProblems, [], 'no serious or critical accessibility violations');
  assert.ok(scanned.length >= 15 && scanned.every((passes) => passes > 10), 'axe ran its rules on every page: ' + scanned);
  step('axe-core: ' + scanned.length + ' pages scanned, no serious or critical violation');
  for (const page of [sender, receiver, other, bare, ops, converter, admin]) {
    assert.deepEqual(page.cspErrors, [], 'no Content Security Policy violations');
  }
  step('all flows passed');
} catch (error) {
  failed = true;
  console.error('browser test failed: ' + (error && error.stack ? error.stack : error));
  for (const context of browser.contexts()) {
    for (const page of context.pages()) {
      console.error('--- page ' + page.url() + '\n' + (await page.locator('main').innerText().catch(() => '')));
    }
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
