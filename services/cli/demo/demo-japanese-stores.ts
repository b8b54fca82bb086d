import iconv from 'iconv-lite';

/**
 * The demo's Japanese stores: their export as Excel writes it in Japan (CP932, Japanese column
 * names, yen written several ways, era dates, contacts typed in full width), and the `kumiki
 * import` settings that read it.
 */
/** One line of the Japanese stores' export, by its Japanese column names (`japaneseStoreMapping`). */
export interface JapaneseStoreRow {
  readonly 取引ID: string;
  readonly レシート番号: string;
  readonly 会員番号: string;
  readonly メールアドレス: string;
  readonly 電話番号: string;
  readonly 伝票番号: string;
  readonly 合計金額: string;
  readonly 購入日時: string;
  readonly 店舗: string;
}

/** `kumiki import` of the Japanese export: `--locale ja-JP` and these `--map` pairs. */
export const japaneseStoreMapping: readonly string[] = [
  'messageId=取引ID',
  'anonymousId=レシート番号',
  'loyalty_id=会員番号',
  'email=メールアドレス',
  'phone=電話番号',
  'order_id=伝票番号',
  'revenue=合計金額',
  'timestamp=購入日時',
  'properties.store=店舗',
];

/** The rates the demo's figures assume (RFM_CURRENCY_RATES of the profile-materializer). */
export const demoCurrencyRates = 'JPY=0.0067';
/** Cents of 100 yen at that rate. */
export const CENTS_PER_100_YEN = 67;

/** The Japanese stores' export as Excel writes it in Japan: CP932, CRLF, quoted where needed. */
export function japaneseStoreCsv(rows: readonly JapaneseStoreRow[]): Buffer {
  const columns: (keyof JapaneseStoreRow)[] = [
    '取引ID',
    'レシート番号',
    '会員番号',
    'メールアドレス',
    '電話番号',
    '伝票番号',
    '合計金額',
    '購入日時',
    '店舗',
  ];
  const quote = (value: string): string => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);
  const lines = [columns.join(','), ...rows.map((row) => columns.map((c) => quote(row[c])).join(','))];
  return iconv.encode(`${lines.join('\r\n')}\r\n`, 'cp932');
}

/** ASCII in its full-width forms, as a Japanese input method types it. */
export function fullWidth(text: string): string {
  return text.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
}

/** A yen amount in one of the ways Japanese back offices write it. */
export function yenText(yen: number, draw: number): string {
  const grouped = yen.toLocaleString('en-US');
  if (draw < 0.3) return `￥${grouped}`;
  if (draw < 0.6) return `${grouped}円`;
  if (draw < 0.8) return `${fullWidth(grouped)}円`;
  return `¥${grouped}`; // CP932 has no U+00A5: it becomes 0x5C, which Japanese Windows shows as ¥
}

/** A moment in Tokyo time (UTC+9, no daylight saving) in one of the ways Japanese exports write dates. */
export function tokyoDateTime(ms: number, draw: number): string {
  const t = new Date(ms + 9 * 3_600_000);
  const [y, m, d, hh, mm, ss] = [
    t.getUTCFullYear(),
    t.getUTCMonth() + 1,
    t.getUTCDate(),
    t.getUTCHours(),
    t.getUTCMinutes(),
    t.getUTCSeconds(),
  ];
  const two = (n: number): string => String(n).padStart(2, '0');
  const reiwa = y - 2018;
  const era = reiwa === 1 ? '元' : String(reiwa);
  if (draw < 0.3) return `令和${era}年${m}月${d}日 ${hh}:${two(mm)}:${two(ss)}`;
  if (draw < 0.5) return `R${reiwa}.${m}.${d} ${hh}:${two(mm)}:${two(ss)}`;
  if (draw < 0.8) return `${y}/${m}/${d} ${hh}:${two(mm)}:${two(ss)}`;
  return fullWidth(`${y}年${m}月${d}日 ${hh}時${mm}分${ss}秒`);
}

/** A Japanese mobile number of the person (unique per index), as written and in E.164. */
export function japaneseMobile(index: number): { written: string; e164: string } {
  const [a, b] = [String(1000 + Math.floor(index / 10_000)), String(index % 10_000).padStart(4, '0')];
  return { written: `+81 90-${a}-${b}`, e164: `+8190${a}${b}` };
}
