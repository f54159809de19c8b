// The Chinese pass: the main screens of the wallet, the till, the console and the gate with a
// browser that prefers Chinese (zh-CN). shot() fails on any phrase of the English table, a raw
// key, or a page language other than zh-CN; here also on English refusals and amounts not
// written the Chinese way. And the language switch, both ways, kept across a reload.
import { test } from "node:test";
import assert from "node:assert/strict";
import { base, useBrowser, phone, tablet, shot, signIn, freshNumber, city, merchantGet, readyConsumer, realErrors } from "./helpers.mjs";

useBrowser();

test("zh: the wallet's screens in Chinese, amounts in 元, refusals in Chinese", async () => {
  const page = await phone("zh-CN");
  await page.goto(base);
  assert.equal(await page.evaluate(() => document.documentElement.lang), "zh-CN");
  assert.equal(await page.title(), "Cashless 钱包");
  await page.getByLabel("手机号").waitFor();
  await shot(page, "zh-01-sign-in");
  // A refusal from the API, in Chinese.
  await page.getByLabel("手机号").fill("12345");
  await page.getByRole("button", { name: "获取验证码", exact: true }).click();
  await page.locator("#phone-error").filter({ hasText: /手机号/ }).waitFor();
  await shot(page, "zh-02-bad-phone");

  await signIn(page, freshNumber());
  await page.getByRole("heading", { name: "付款前的准备" }).waitFor();
  assert.equal((await page.locator("#balance").textContent()).trim(), "0.00 元");
  await page.locator("#level summary").filter({ hasText: "L0 · 未实名" }).click();
  assert.match(await page.locator("#level-meaning").textContent(), /无法付款/);
  await shot(page, "zh-03-new-account");
  await page.getByRole("link", { name: /实名认证/ }).click();
  await page.getByLabel("证件上的姓名").fill("赵敏");
  await page.getByLabel("证件号码").fill("110105194912310021");
  await page.getByRole("button", { name: "提交认证", exact: true }).click();
  await page.locator("#id-number-error").filter({ hasText: /身份证号/ }).waitFor();
  await shot(page, "zh-04-bad-id");

  await readyConsumer(page, "2000.00");
  assert.equal((await page.locator("#balance").textContent()).trim(), "2,000.00 元");
  assert.match(await page.locator("#remaining").textContent(), /今日剩余额度\s*50,000\.00 元/);
  assert.match(await page.locator("#statement li").first().textContent(), /充值 · \d{1,2}月\d{1,2}日.*\+2,000\.00 元/);
  await shot(page, "zh-05-home");

  // Pay a shop's static code, in Chinese, to the receipt.
  const shop = city().merchants.find((m) => m.display_name === "Qinghe Pharmacy");
  const poster = await merchantGet(shop, `/v1/merchant/qr?store_id=${shop.stores[0].id}&format=png&scale=6`);
  await page.getByRole("link", { name: "扫一扫", exact: true }).click();
  await page.getByText("拍摄或选择二维码照片").waitFor();
  await shot(page, "zh-06-scan");
  await page.locator("#picture").setInputFiles({ name: "poster.png", mimeType: "image/png", buffer: poster });
  await page.getByLabel("金额（元）").fill("2500.00");
  await page.getByRole("button", { name: "付款", exact: true }).click();
  // Not enough: said in Chinese before any PIN.
  await page.locator("#not-enough").filter({ hasText: /余额不足/ }).waitFor();
  await shot(page, "zh-07-not-enough");
  await page.getByLabel("金额（元）").fill("1200.00");
  await page.getByRole("button", { name: "付款", exact: true }).click();
  await page.getByLabel("支付密码").fill("258036");
  await shot(page, "zh-08-confirm-pin");
  await page.getByRole("button", { name: "付款", exact: true }).click();
  await page.getByRole("heading", { name: "付款成功" }).waitFor();
  assert.equal((await page.locator("#receipt-amount").textContent()).trim(), "1,200.00 元");
  await shot(page, "zh-09-receipt");
  await page.getByRole("link", { name: "完成", exact: true }).click();

  for (const [link, heading, name] of [["付款码", "付款码", "zh-10-paycode"], ["充值", "充值", "zh-11-top-up"], ["提现", "提现", "zh-12-withdraw"],
    ["乘车码", "乘车码", "zh-13-transit"], ["查看全部", "账单", "zh-14-statement"]]) {
    await page.getByRole("link", { name: link, exact: true }).click();
    await page.getByRole("heading", { name: heading, level: 1 }).waitFor();
    await page.waitForTimeout(300);
    await shot(page, name);
    await page.getByRole("link", { name: "返回首页", exact: true }).click();
    await page.locator("#balance").waitFor();
  }
  // A wrong PIN, said in Chinese with the tries left.
  await page.getByRole("link", { name: "提现", exact: true }).click();
  await page.getByLabel("金额（元）").fill("10.00");
  await page.getByLabel("支付密码").fill("111222");
  await page.getByRole("button", { name: "提现", exact: true }).click();
  await page.locator("#withdraw-pin-error").filter({ hasText: /支付密码错误。锁定前还可尝试 \d+ 次/ }).waitFor();
  await page.goto(`${base}/#/pin/change`);
  await page.getByRole("heading", { name: "修改支付密码" }).waitFor();
  await shot(page, "zh-15-pin-change");
  await page.getByRole("link", { name: /忘记密码/ }).click();
  await page.getByRole("heading", { name: "重置支付密码" }).waitFor();
  await shot(page, "zh-16-pin-reset");
  await page.goto(`${base}/#/payment-card`);
  await page.getByRole("heading", { name: "余额不足时的付款卡" }).waitFor();
  await shot(page, "zh-17-payment-card");
  assert.deepEqual(realErrors(page), []);

  // The switch: to English and back, kept across a reload.
  await page.goto(`${base}/#/home`);
  await page.getByRole("button", { name: "English", exact: true }).click();
  assert.equal(await page.evaluate(() => document.documentElement.lang), "en");
  await page.getByText("Balance you can spend").waitFor();
  assert.match((await page.locator("#balance").textContent()).trim(), / CNY$/);
  await shot(page, "zh-18-switched-to-english");
  await page.reload();
  await page.getByText("Balance you can spend").waitFor();
  await page.getByRole("button", { name: "中文", exact: true }).click();
  await page.getByText("可用余额").waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), "zh-CN");
  await page.context().close();
});

test("zh: the till, the console and the gate in Chinese", async () => {
  const pos = await tablet("zh-CN");
  await pos.goto(`${base}/pos`);
  await pos.getByRole("heading", { name: "店员登录" }).waitFor();
  assert.equal(await pos.title(), "Cashless 收银台");
  await shot(pos, "zh-20-pos-sign-in");
  await pos.getByRole("button", { name: /^Lakeside Cinema · 湖滨影城/ }).click();
  await pos.getByLabel("金额（元）").fill("45.00");
  await shot(pos, "zh-21-pos-till");
  await pos.getByRole("button", { name: "扫码收款", exact: true }).click();
  await pos.locator("#amount-error").filter({ hasText: /请扫描或输入顾客的付款码/ }).waitFor();
  await pos.getByRole("button", { name: "向顾客出示二维码", exact: true }).click();
  await pos.locator("#order-qr svg").waitFor();
  await pos.getByText("等待顾客扫码付款…").waitFor();
  await shot(pos, "zh-22-pos-qr");
  await pos.getByRole("button", { name: "取消订单", exact: true }).click();
  await pos.getByRole("button", { name: "订单", exact: true }).click();
  await pos.locator("#orders tbody tr").first().filter({ hasText: "已关闭" }).waitFor();
  await shot(pos, "zh-23-console-orders");
  await pos.getByRole("button", { name: "营业额", exact: true }).click();
  await pos.locator("#takings dd").first().waitFor();
  assert.match(await pos.locator("#takings").innerText(), /总收入\s+[\d,]+\.\d\d 元/);
  await shot(pos, "zh-24-console-takings");
  await pos.getByRole("button", { name: "通知", exact: true }).click();
  await pos.locator("#no-notify-url").getByText(/尚未设置通知地址/).waitFor();
  await shot(pos, "zh-25-console-notifications");
  await pos.getByRole("button", { name: "海报与设置", exact: true }).click();
  await pos.getByRole("img", { name: /收款码海报/ }).first().waitFor();
  await pos.waitForFunction(() => [...document.images].every((image) => image.complete && image.naturalWidth > 0));
  await shot(pos, "zh-26-console-settings");
  assert.deepEqual(realErrors(pos), []);
  await pos.context().close();

  const gate = await tablet("zh-CN");
  await gate.goto(`${base}/gate`);
  await gate.getByLabel("闸机编号").fill("no-such-gate");
  await gate.getByLabel(/闸机私钥/).fill("12");
  await gate.getByRole("button", { name: "打开闸机", exact: true }).click();
  await gate.locator("#gate-error").filter({ hasText: "闸机私钥是 64 位十六进制数字" }).waitFor();
  await shot(gate, "zh-27-gate");
  await gate.context().close();
});
