import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { Link, useLocation } from 'wouter';
import { defineMessages, useFormat, useMessages } from '../app/i18n';
import { definePage } from '../app/page';
import { useApi } from '../app/session';
import { RuleEditor } from '../rule-builder/RuleEditor';
import {
  FormProblem,
  fromRule,
  newConditionNode,
  newGroup,
  NotExpressible,
  toRule,
  type Json,
  type RuleNode,
} from '../rule-builder/rule-model';
import { ErrorMessage } from '../ui/feedback';
import type { SegmentSummary } from './segments.page';

interface Preview {
  members: number;
  sample: string[];
  overlap: { segmentId: string; both: number; other: number } | null;
  evaluatedAt: string;
}

const messages = defineMessages({
  en: {
    title: 'New segment',
    heading: 'New segment',
    name: 'Name',
    purpose: 'Required consent purpose (optional)',
    purposeHint: 'Members must have granted it; leave empty for none.',
    definition: 'Definition',
    mode_form: 'Rule (form)',
    mode_json: 'Rule (JSON)',
    mode_sql: 'SQL',
    json: 'Rule as JSON',
    sql: 'SELECT returning profile_id',
    sqlHint: "One read-only SELECT against the public tables; {now:DateTime64(3, 'UTC')} is the evaluation time.",
    notJson: 'This is not valid JSON: {error}',
    notExpressible: 'The form cannot show this rule ({path}: {reason}). Keep editing it as JSON.',
    preview: 'Live preview',
    previewHint: 'Counted now on current data, as the first evaluation after saving would count it. Nothing is saved.',
    incomplete: 'Complete the definition to see its members.',
    members: 'Members now',
    sample: 'Sample members',
    noMembers: 'No profile matches.',
    overlapWith: 'Overlap with',
    noOverlap: 'no other segment',
    overlap: 'In both: {both} — only this one: {only} — only “{other}”: {onlyOther}',
    counting: 'Counting…',
    save: 'Save segment',
    saving: 'Saving…',
    cancel: 'Cancel',
    nameRequired: 'Give the segment a name.',
  },
  ja: {
    title: '新しいセグメント',
    heading: '新しいセグメント',
    name: '名前',
    purpose: '必要な同意の目的（任意）',
    purposeHint: 'メンバーはこの目的に同意している必要があります。不要なら空欄にします。',
    definition: '定義',
    mode_form: 'ルール（フォーム）',
    mode_json: 'ルール（JSON）',
    mode_sql: 'SQL',
    json: 'JSON 形式のルール',
    sql: 'profile_id を返す SELECT 文',
    sqlHint: "公開テーブルに対する読み取り専用の SELECT 文を 1 つ。{now:DateTime64(3, 'UTC')} が評価時刻です。",
    notJson: '有効な JSON ではありません: {error}',
    notExpressible: 'このルールはフォームで表示できません（{path}: {reason}）。JSON のまま編集してください。',
    preview: 'ライブプレビュー',
    previewHint: '現在のデータで今すぐ集計します（保存後の最初の評価と同じ方法）。保存はされません。',
    incomplete: '定義を完成させるとメンバーが表示されます。',
    members: '現在のメンバー数',
    sample: 'メンバーの例',
    noMembers: '該当するプロフィールはありません。',
    overlapWith: '重複を比較するセグメント',
    noOverlap: '比較しない',
    overlap: '両方: {both} — このセグメントのみ: {only} — 「{other}」のみ: {onlyOther}',
    counting: '集計中…',
    save: 'セグメントを保存',
    saving: '保存中…',
    cancel: 'キャンセル',
    nameRequired: 'セグメントに名前を付けてください。',
  },
});

type Mode = 'form' | 'json' | 'sql';

function useDebounced<T>(value: T, ms: number): T {
  const [current, setCurrent] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setCurrent(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return current;
}

function SegmentNewPage() {
  const t = useMessages(messages);
  const api = useApi();
  const queries = useQueryClient();
  const [, navigate] = useLocation();
  const [name, setName] = useState('');
  const [purpose, setPurpose] = useState('');
  const [mode, setMode] = useState<Mode>('form');
  const [root, setRoot] = useState<RuleNode>(() => newGroup('and', [newConditionNode('performed')]));
  const [jsonText, setJsonText] = useState('');
  const [jsonProblem, setJsonProblem] = useState<string | null>(null);
  const [sql, setSql] = useState("SELECT profile_id FROM rfm WHERE label = 'Champions'");
  const [overlapWith, setOverlapWith] = useState('');
  const [nameMissing, setNameMissing] = useState(false);
  const segments = useQuery({
    queryKey: ['segments'],
    queryFn: () => api.get<{ segments: SegmentSummary[] }>('/v1/console/segments'),
  });

  // The definition as the API takes it, or why there is none yet.
  const definition = useMemo((): { body: { rule: Json } | { sql: string } } | { problem: FormProblem | string } => {
    if (mode === 'sql') return sql.trim() ? { body: { sql } } : { problem: 'sql' };
    if (mode === 'json') {
      try {
        return { body: { rule: JSON.parse(jsonText) as Json } };
      } catch (error) {
        return { problem: t('notJson', { error: (error as Error).message }) };
      }
    }
    try {
      return { body: { rule: toRule(root) } };
    } catch (error) {
      if (error instanceof FormProblem) return { problem: error };
      throw error;
    }
  }, [mode, sql, jsonText, root, t]);

  const switchMode = (next: Mode) => {
    if (next === mode) return;
    if (next === 'json' && mode === 'form' && 'body' in definition)
      setJsonText(JSON.stringify((definition.body as { rule: Json }).rule, null, 2));
    if (next === 'json' && mode === 'form' && !('body' in definition)) setJsonText('');
    if (next === 'form' && mode === 'json') {
      try {
        const parsed = JSON.parse(jsonText) as Json;
        const node = fromRule(parsed);
        setRoot(node.kind === 'group' ? node : newGroup('and', [node]));
        setJsonProblem(null);
      } catch (error) {
        setJsonProblem(
          error instanceof NotExpressible
            ? t('notExpressible', { path: error.path, reason: error.reason })
            : t('notJson', { error: (error as Error).message }),
        );
        return;
      }
    }
    setMode(next);
  };

  const body = 'body' in definition ? definition.body : null;
  const previewBody = useDebounced(
    body
      ? {
          ...body,
          ...(purpose.trim() ? { purpose: purpose.trim() } : {}),
          ...(overlapWith ? { overlapWith } : {}),
          sample: 10,
        }
      : null,
    400,
  );
  const preview = useQuery({
    queryKey: ['preview', previewBody],
    enabled: previewBody !== null,
    queryFn: () => api.post<Preview>('/v1/segments/preview', previewBody),
    placeholderData: keepPreviousData,
    staleTime: 0,
    retry: false,
  });

  const save = useMutation({
    mutationFn: () =>
      api.post<{ id: string }>('/v1/segments', {
        name: name.trim(),
        ...body,
        ...(purpose.trim() ? { purpose: purpose.trim() } : {}),
      }),
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: ['segments'] });
      navigate('/segments');
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (name.trim() === '') {
      setNameMissing(true);
      return;
    }
    setNameMissing(false);
    if (body) save.mutate();
  };

  const segmentChoices = (segments.data?.segments ?? []).map((s) => ({ id: s.id, name: s.name }));
  return (
    <section aria-labelledby="new-segment-heading">
      <h1 id="new-segment-heading">{t('heading')}</h1>
      <form className="builder" onSubmit={submit} noValidate>
        <div className="builder-main">
          <div className="field">
            <label htmlFor="segment-name">{t('name')}</label>
            <input
              id="segment-name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              aria-invalid={nameMissing}
              aria-describedby={nameMissing ? 'segment-name-missing' : undefined}
            />
            {nameMissing ? (
              <p id="segment-name-missing" className="field-error" role="alert">
                {t('nameRequired')}
              </p>
            ) : null}
          </div>
          <div className="field">
            <label htmlFor="segment-purpose">{t('purpose')}</label>
            <input
              id="segment-purpose"
              value={purpose}
              onChange={(e) => setPurpose(e.target.value)}
              aria-describedby="segment-purpose-hint"
            />
            <p id="segment-purpose-hint" className="muted">
              {t('purposeHint')}
            </p>
          </div>
          <fieldset className="toggle">
            <legend>{t('definition')}</legend>
            {(['form', 'json', 'sql'] as const).map((m) => (
              <label key={m}>
                <input
                  type="radio"
                  name="segment-mode"
                  checked={mode === m}
                  onChange={() => switchMode(m)}
                  data-testid={`mode-${m}`}
                />{' '}
                {t(`mode_${m}`)}
              </label>
            ))}
          </fieldset>
          {jsonProblem ? (
            <p className="field-error" role="alert">
              {jsonProblem}
            </p>
          ) : null}
          {mode === 'form' ? (
            <RuleEditor
              node={root}
              onChange={setRoot}
              segments={segmentChoices}
              problem={'problem' in definition && definition.problem instanceof FormProblem ? definition.problem : null}
            />
          ) : mode === 'json' ? (
            <div className="field">
              <label htmlFor="segment-json">{t('json')}</label>
              <textarea
                id="segment-json"
                className="code"
                rows={16}
                value={jsonText}
                onChange={(e) => setJsonText(e.target.value)}
                spellCheck={false}
              />
              {'problem' in definition && typeof definition.problem === 'string' ? (
                <p className="field-error">{definition.problem}</p>
              ) : null}
            </div>
          ) : (
            <div className="field">
              <label htmlFor="segment-sql">{t('sql')}</label>
              <textarea
                id="segment-sql"
                className="code"
                rows={12}
                value={sql}
                onChange={(e) => setSql(e.target.value)}
                spellCheck={false}
                aria-describedby="segment-sql-hint"
              />
              <p id="segment-sql-hint" className="muted">
                {t('sqlHint')}
              </p>
            </div>
          )}
          {save.error ? <ErrorMessage error={save.error} /> : null}
          <div className="actions">
            <button type="submit" disabled={!body || save.isPending} data-testid="save-segment">
              {save.isPending ? t('saving') : t('save')}
            </button>
            <Link href="/segments">{t('cancel')}</Link>
          </div>
        </div>
        <aside className="builder-preview card" aria-labelledby="preview-heading">
          <h2 id="preview-heading">{t('preview')}</h2>
          <p className="muted">{t('previewHint')}</p>
          <div className="field">
            <label htmlFor="overlap-with">{t('overlapWith')}</label>
            <select id="overlap-with" value={overlapWith} onChange={(e) => setOverlapWith(e.target.value)}>
              <option value="">{t('noOverlap')}</option>
              {segmentChoices.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            </select>
          </div>
          <PreviewView
            preview={preview}
            ready={body !== null}
            otherName={segmentChoices.find((s) => s.id === overlapWith)?.name ?? ''}
          />
        </aside>
      </form>
    </section>
  );
}

function PreviewView(props: {
  readonly preview: { data: Preview | undefined; error: unknown; isFetching: boolean; refetch: () => unknown };
  readonly ready: boolean;
  readonly otherName: string;
}) {
  const t = useMessages(messages);
  const f = useFormat();
  const { preview } = props;
  if (!props.ready) return <p role="status">{t('incomplete')}</p>;
  return (
    <div aria-live="polite">
      {preview.error ? <ErrorMessage error={preview.error} /> : null}
      {preview.data && !preview.error ? (
        <>
          <p className="big">
            {t('members')}:{' '}
            <output data-testid="preview-count" data-fetching={preview.isFetching ? 'true' : 'false'}>
              {f.number(preview.data.members)}
            </output>
          </p>
          {preview.data.overlap ? (
            <p data-testid="preview-overlap">
              {t('overlap', {
                both: f.number(preview.data.overlap.both),
                only: f.number(preview.data.members - preview.data.overlap.both),
                other: props.otherName,
                onlyOther: f.number(preview.data.overlap.other - preview.data.overlap.both),
              })}
            </p>
          ) : null}
          <h3>{t('sample')}</h3>
          {preview.data.sample.length === 0 ? (
            <p className="muted">{t('noMembers')}</p>
          ) : (
            <ul className="plain" data-testid="preview-sample">
              {preview.data.sample.map((id) => (
                <li key={id}>
                  <Link href={`/profiles/${encodeURIComponent(id)}`}>
                    <code>{id}</code>
                  </Link>
                </li>
              ))}
            </ul>
          )}
        </>
      ) : null}
      {preview.isFetching ? <p className="muted">{t('counting')}</p> : null}
    </div>
  );
}

export default definePage({ path: '/segments/new', scope: 'segment:write', messages, component: SegmentNewPage });
