import type { Locale } from '../app/messages-core';

/** RFM labels as people say them in each language; the data and the API keep the English names. */
const japanese: Record<string, string> = {
  Champions: 'チャンピオン',
  'Loyal customers': 'ロイヤル顧客',
  'Potential loyalists': 'ロイヤル候補',
  'New customers': '新規顧客',
  Promising: '有望',
  'Need attention': '要注意',
  'About to sleep': '休眠予備軍',
  'At risk': '離反リスク',
  "Can't lose them": '失えない顧客',
  Hibernating: '休眠',
  Lost: '離反',
};

export function rfmLabelName(label: string, locale: Locale): string {
  return locale === 'ja' ? (japanese[label] ?? label) : label;
}
